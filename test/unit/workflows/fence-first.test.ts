/**
 * Invariant I1 proved on the machines themselves, for every path rather than the paths a scenario happens to
 * take: cut the edges that mean "power-off confirmed" and no state that starts evacuations may remain
 * reachable. Those edges are verifying's done event (a device fenced and the power-off was read back) and,
 * in fence-then-evacuate with `approval.onNoFenceEvidence: ask`, the done event of attestingFence, which
 * records an operator's attestation and is itself reachable only through an operator's decision. The steps
 * re-check the fence evidence as a second line.
 */
import test from 'ava';
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { fenceThenEvacuateMachine } from '../../../workflows/fence-then-evacuate/machine';
import { liveMigrateFirstMachine } from '../../../workflows/live-migrate-first/machine';

interface Edge { readonly from: string; readonly to: string; readonly event: string }

function nodes(root: AnyStateNode): AnyStateNode[] {
  return [root, ...Object.values(root.states).flatMap((child) => nodes(child as AnyStateNode))];
}

function edges(machine: AnyStateMachine): Edge[] {
  const out: Edge[] = [];
  for (const node of nodes(machine.root)) {
    const from = node.path.join('.');
    for (const [event, transitions] of node.transitions) {
      for (const transition of transitions) for (const target of transition.target ?? []) out.push({ from, to: target.path.join('.'), event });
    }
    for (const transition of node.always ?? []) for (const target of transition.target ?? []) out.push({ from, to: target.path.join('.'), event: '(always)' });
  }
  return out;
}

function reachable(machine: AnyStateMachine, cut: (edge: Edge) => boolean): Set<string> {
  const all = edges(machine).filter((edge) => !cut(edge));
  const seen = new Set<string>([String(machine.root.config.initial)]);
  for (let grew = true; grew;) {
    grew = false;
    for (const edge of all) if (seen.has(edge.from) && !seen.has(edge.to)) { seen.add(edge.to); grew = true; }
  }
  return seen;
}

const confirmedFence = (edge: Edge) => (edge.from === 'verifying' || edge.from === 'attestingFence') && edge.event.startsWith('xstate.done.actor');
const operatorDecision = (edge: Edge) => edge.event === 'operator.decision';

test('fence-then-evacuate: without a confirmed fence no path reaches isolation, listing or the evacuation fan-out', (t) => {
  const all = reachable(fenceThenEvacuateMachine, () => false);
  const withoutFence = reachable(fenceThenEvacuateMachine, confirmedFence);
  for (const state of ['isolating', 'listing', 'fanningOut', 'awaitingChildren']) {
    t.true(all.has(state), `${state} is reachable at all`);
    t.false(withoutFence.has(state), `${state} is reachable without a confirmed fence`);
  }
  t.true(withoutFence.has('escalated'), 'a failed or unconfirmed fence ends escalated');
});

test('live-migrate-first: its evacuation fallback is only reachable through a confirmed fence', (t) => {
  const all = reachable(liveMigrateFirstMachine, () => false);
  const withoutFence = reachable(liveMigrateFirstMachine, confirmedFence);
  for (const state of ['isolating', 'listingRemaining', 'evacuating', 'awaitingEvacuations']) {
    t.true(all.has(state), `${state} is reachable at all`);
    t.false(withoutFence.has(state), `${state} is reachable without a confirmed fence`);
  }
  t.true(withoutFence.has('migrating'), 'live migration needs no fence');
});

test('the cut edges exist: verifying (and the operator attestation) each have exactly one done transition, to isolation', (t) => {
  for (const machine of [fenceThenEvacuateMachine, liveMigrateFirstMachine]) {
    const done = edges(machine).filter((e) => e.from === 'verifying' && confirmedFence(e));
    t.deepEqual(done.map((e) => e.to), ['isolating'], machine.id);
  }
  const attested = edges(fenceThenEvacuateMachine).filter((e) => e.from === 'attestingFence' && confirmedFence(e));
  t.deepEqual(attested.map((e) => e.to), ['isolating']);
});

test('fence-then-evacuate: the operator-attested path needs an operator decision; without one, a failed fence reaches no evacuation', (t) => {
  const withoutDevices = reachable(fenceThenEvacuateMachine, (e) => e.from === 'verifying' && confirmedFence(e));
  t.true(withoutDevices.has('attestingFence'), 'the attestation path exists');
  const intoAttestation = edges(fenceThenEvacuateMachine).filter((e) => e.to === 'attestingFence');
  t.deepEqual(intoAttestation.map((e) => `${e.from} ${e.event}`), ['awaitingFenceConfirmation operator.decision']);
  const noOperator = reachable(fenceThenEvacuateMachine, (e) => (e.from === 'verifying' && confirmedFence(e)) || operatorDecision(e));
  for (const state of ['attestingFence', 'isolating', 'listing', 'fanningOut', 'awaitingChildren']) {
    t.false(noOperator.has(state), `${state} is reachable without a device fence or an operator's decision`);
  }
  t.true(noOperator.has('awaitingFenceConfirmation'), 'a failed fence may wait for an operator');
});
