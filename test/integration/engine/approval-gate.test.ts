/**
 * The approval gate (workflows/shared/approval-states.ts) as fence-then-evacuate uses it: `approval.aboveVms`
 * asks before fanning out evacuations of a big host; `approval.onNoFenceEvidence: ask` lets an operator attest
 * the power-off of a host every fence level failed on (Pacemaker's `stonith_admin --confirm`).
 */
import test from 'ava';
import { DEFAULT_CONFIG } from '../../../src/config/config';
import type { Config } from '../../../src/config/config';
import { TOKENS } from '../../../src/container';
import type { Keys } from '../../../src/engine/keys';
import { RecordingNotifier, startEngine } from '../../helpers/engine';
import type { EngineHarness } from '../../helpers/engine';
import { useRedis } from '../../helpers/redis';
import { until } from '../../helpers/wait';

const redis = useRedis(test);

const withApproval = (approval: Record<string, unknown>): Partial<Config> => ({ paramsByKind: { ...DEFAULT_CONFIG.paramsByKind, 'host-down': { approval } } });

const parkedIn = async (h: EngineHarness, recoveryId: string, state: string) =>
  until(async () => {
    const recovery = await h.app.engine.recovery(recoveryId);
    return recovery.status === 'waiting' && recovery.state === state;
  });

test('approval.aboveVms: a host with more VMs than that waits for an operator after fencing; approve evacuates them', async (t) => {
  const notifier = new RecordingNotifier();
  const h = await startEngine(redis, { config: withApproval({ aboveVms: 2 }), notifier });
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'power'); // three VMs
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  await parkedIn(h, incident.recoveryId, 'awaitingFanOutApproval');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(h.world.count('evacuate'), 0, 'nothing evacuated before the approval');
  t.true(h.world.hostState('compute-1').service.forcedDown, 'fenced and isolated already: only the fan-out waits');
  const asked = notifier.sent.find((n) => n.topic === 'approval.requested');
  t.regex(asked?.summary ?? '', new RegExp(`approval needed: compute-1 is fenced and has 3 instances to evacuate \\(more than approval.aboveVms = 2\\) \\(recovery ${incident.recoveryId}`));

  await h.app.engine.decide(incident.recoveryId, 'approve', 'alice', 'capacity checked');
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered', closed.reason);
  for (const id of ['vm-a', 'vm-b', 'vm-c']) t.is(h.world.count('evacuate', id, 'accepted'), 1, id);
  const recovery = await h.app.engine.recovery(incident.recoveryId);
  t.deepEqual((recovery.result as { approvals?: unknown }).approvals, { fanOut: { decision: 'approve', by: 'alice', comment: 'capacity checked' } });
  const trail = await h.trail(incident.recoveryId);
  t.true(trail.some((m) => /^approval needed \(fanOut\): compute-1 is fenced and has 3 instances/.test(m)), trail.join('\n'));
  t.true(trail.indexOf('awaitingFanOutApproval → fanningOut') > trail.indexOf('woken by operator.decision at awaitingFanOutApproval'));
});

test('approval.aboveVms: a host at or under the limit is not held; a deny escalates with zero evacuations', async (t) => {
  const h = await startEngine(redis, { config: withApproval({ aboveVms: 2 }) });
  t.teardown(() => h.close());
  h.world.failHost('compute-2', 'power'); // one VM
  const small = await h.app.engine.report({ kind: 'host-down', host: 'compute-2' });
  t.is((await h.waitClosed(small.incident.id)).outcome, 'recovered');
  t.false((await h.trail(small.incident.recoveryId)).some((m) => /approval needed/.test(m)));

  h.world.failHost('compute-1', 'power');
  const big = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  await parkedIn(h, big.incident.recoveryId, 'awaitingFanOutApproval');
  await h.app.engine.decide(big.incident.recoveryId, 'deny', 'bob', 'not now');
  const closed = await h.waitClosed(big.incident.id);
  t.is(closed.outcome, 'escalated');
  t.regex(closed.reason ?? '', /evacuation not approved, no instance evacuated: deny by bob \(not now\)/);
  for (const id of ['vm-a', 'vm-b', 'vm-c']) t.is(h.world.count('evacuate', id), 0, id);
});

/** Every fence level fails: the BMC and the PDU outlet of compute-1 are unreachable. */
function unfenceable(h: EngineHarness): void {
  h.world.failHost('compute-1', 'power');
  h.world.injectFault({ kind: 'bmc-unreachable', host: 'compute-1' });
  h.world.injectFault({ kind: 'bmc-unreachable', host: 'compute-1', device: 'pdu' });
}

test('onNoFenceEvidence ask: an operator attests the power-off; the attestation is the fence evidence, then the VMs are evacuated', async (t) => {
  const h = await startEngine(redis, { config: withApproval({ onNoFenceEvidence: 'ask' }) });
  t.teardown(() => h.close());
  unfenceable(h);
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  await parkedIn(h, incident.recoveryId, 'awaitingFenceConfirmation');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(h.world.count('evacuate'), 0);
  t.false(h.world.hostState('compute-1').service.forcedDown, 'not isolated before the attestation');

  await h.app.engine.decide(incident.recoveryId, 'approve', 'alice', 'pulled both power cords');
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered', closed.reason);
  t.is(closed.reason, undefined, 'the fence failure no longer stands as the reason');
  for (const id of ['vm-a', 'vm-b', 'vm-c']) t.is(h.world.count('evacuate', id, 'accepted'), 1, id);
  const evidence = JSON.parse((await h.app.redis.get(h.app.container.get<Keys>(TOKENS.keys).fence(incident.id, 'compute-1'))) ?? '{}') as { by?: string; at?: number };
  t.is(evidence.by, 'operator:alice');
  t.true(typeof evidence.at === 'number');
  const trail = await h.trail(incident.id);
  const attested = trail.findIndex((m) => /power-off of compute-1 attested by operator alice \(pulled both power cords\)/.test(m));
  const firstEvacuation = trail.findIndex((m) => /checking → evacuating/.test(m));
  t.true(attested > 0 && firstEvacuation > attested, trail.join('\n'));
  t.true(trail.some((m) => /^approval needed \(fence\): every fencing level failed for compute-1/.test(m)));
});

test('onNoFenceEvidence ask: a deny escalates with zero evacuate calls; the default (escalate) does not even ask', async (t) => {
  const h = await startEngine(redis, { config: withApproval({ onNoFenceEvidence: 'ask' }) });
  t.teardown(() => h.close());
  unfenceable(h);
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  await parkedIn(h, incident.recoveryId, 'awaitingFenceConfirmation');
  await h.app.engine.decide(incident.recoveryId, 'deny', 'bob');
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'escalated');
  t.regex(closed.reason ?? '', /fencing failed and no operator attested the power-off, no instance evacuated: deny by bob/);
  t.is(h.world.count('evacuate'), 0);
  t.false(h.world.hostState('compute-1').service.forcedDown);

  const plain = await startEngine(redis);
  t.teardown(() => plain.close());
  unfenceable(plain);
  const other = await plain.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const escalated = await plain.waitClosed(other.incident.id);
  t.is(escalated.outcome, 'escalated');
  t.false((await plain.trail(other.incident.recoveryId)).some((m) => /approval needed/.test(m)));
});
