import test from 'ava';
import { assign, setup } from 'xstate';
import type { AnyStateMachine } from 'xstate';
import { DEFAULT_WORKFLOWS } from '../../../src/config/config';
import type { AuditRecord } from '../../../src/domain';
import { nonRetryable } from '../../../src/domain';
import type { RecoveryInput, RecoveryOutput } from '../../../src/plugins/api';
import { definePlugin, defineStep, defineWorkflow, stepActor } from '../../../src/plugins/api';
import { useRedis } from '../../helpers/redis';
import { until } from '../../helpers/wait';
import { startEngine } from '../../helpers/engine';
import type { EngineHarness } from '../../helpers/engine';

const redis = useRedis(test);

/** Per recovery: how often each probe step ran; and the hosts on which `act` is broken. */
const ran = new Map<string, number>();
const broken = new Set<string>();
const bump = (key: string) => ran.set(key, (ran.get(key) ?? 0) + 1);

const prepare = defineStep({ name: 'probePrepare', description: 'the step before the one that fails', timeoutMs: 1000, run: async (_: unknown, { recovery }) => { bump(`prepare:${recovery.recoveryId}`); return {}; } });
const act = defineStep({
  name: 'probeAct', description: 'fails (not retryable) while broken', timeoutMs: 1000,
  run: async (_: unknown, { recovery }) => {
    bump(`act:${recovery.recoveryId}`);
    if (broken.has(recovery.subject.host)) throw nonRetryable('RSR_CLOUD_REJECTED', 'the cloud said no');
    return {};
  },
});

/** preparing ──▶ acting ──▶ done; acting fails ⇒ escalated. */
const twoStepMachine = setup({
  types: { context: {} as { input: RecoveryInput; reason?: string; outcome?: RecoveryOutput['outcome'] }, input: {} as RecoveryInput, output: {} as RecoveryOutput },
  actors: { probePrepare: stepActor<unknown, unknown>('probePrepare'), probeAct: stepActor<unknown, unknown>('probeAct') },
}).createMachine({
  id: 'two-step',
  initial: 'preparing',
  context: ({ input }) => ({ input }),
  states: {
    preparing: { invoke: { src: 'probePrepare', onDone: 'acting' } },
    acting: {
      invoke: {
        src: 'probeAct',
        onDone: 'done',
        onError: { target: 'gaveUp', actions: assign({ reason: ({ event }) => (event.error as Error).message }) },
      },
    },
    done: { type: 'final', entry: assign({ outcome: 'recovered' as const }) },
    gaveUp: { type: 'final', entry: assign({ outcome: 'escalated' as const }) },
  },
  output: ({ context }) => ({ outcome: context.outcome ?? 'failed', ...(context.reason ? { reason: context.reason } : {}) }),
}) as unknown as AnyStateMachine;

const probes = definePlugin({
  name: 'retry-probes',
  steps: [prepare, act],
  workflows: [defineWorkflow({ name: 'two-step', description: 'prepare, then act', handles: ['host-degraded'], machine: twoStepMachine })],
});
const workflows = { ...DEFAULT_WORKFLOWS, 'host-degraded': 'two-step' };

async function records(h: EngineHarness, id: string): Promise<AuditRecord[]> {
  return (await h.app.engine.audit(id)).map((r) => r.record);
}

/** The records written after the retry's own audit line. */
async function afterRetry(h: EngineHarness, id: string): Promise<AuditRecord[]> {
  const rows = await records(h, id);
  const at = rows.findIndex((r) => r.message.startsWith('retried by '));
  return at < 0 ? [] : rows.slice(at + 1);
}

test('retry resumes at the failed state, not from the start: the step before it does not run again (audit shows it)', async (t) => {
  const h = await startEngine(redis, { plugins: [probes], config: { workflows } });
  t.teardown(() => h.close());
  broken.add('compute-3');
  const { incident: target } = await h.app.engine.report({ kind: 'host-degraded', host: 'compute-3' });
  t.is((await h.waitClosed(target.id)).outcome, 'escalated');
  t.is(ran.get(`prepare:${target.recoveryId}`), 1);
  t.is(ran.get(`act:${target.recoveryId}`), 1);

  broken.delete('compute-3'); // the operator fixed the cause
  const result = await h.app.engine.retry(target.recoveryId, 'alice');
  t.like(result, { recoveryId: target.recoveryId, from: 'acting', status: 'queued', incidentReopened: true });
  const closed = await h.waitClosed(target.id);
  t.is(closed.status, 'resolved');
  t.is(closed.outcome, 'recovered');
  t.is(ran.get(`prepare:${target.recoveryId}`), 1, 'the step before the failed one did not run again');
  t.is(ran.get(`act:${target.recoveryId}`), 2, 'the failed step ran again');

  const after = await afterRetry(h, target.recoveryId);
  const transitions = after.filter((r) => r.type === 'transition');
  t.is(transitions[0]?.from, 'acting', 'the first transition after the retry starts from the failed step\'s state');
  t.false(transitions.some((r) => r.from === '(start)' || r.to === 'preparing'), transitions.map((r) => r.message).join('\n'));
  t.deepEqual(transitions.map((r) => r.message), ['acting → done']);
  const trail = await h.trail(target.recoveryId);
  t.true(trail.includes('retried by alice from acting'), trail.join('\n'));
  t.true(trail.includes('attempt 1 resumed at acting'), trail.join('\n'));
  t.true((await h.trail(target.id)).some((m) => m.startsWith('incident reopened by alice: retry of')));
});

test('retry of an evacuation child that failed on a faulted VM: fix the fault, retry the child; it evacuates without re-checking and the host recovery takes it back', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'power');
  const fault = h.world.injectFault({ kind: 'evacuate-fails', instance: 'vm-a', times: 1_000 });
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'partial');
  const child = (await h.app.engine.children(incident.recoveryId)).find((c) => c.subject.instance === 'vm-a')!;
  t.is(child.outcome, 'failed');
  t.is(child.state, 'failed');
  const fences = h.world.count('bmc.off');
  const checks = (await records(h, child.id)).filter((r) => r.to === 'checking').length;

  h.world.clearFault(fault);
  const result = await h.app.engine.retry(child.id, 'alice');
  t.like(result, { from: 'evacuating', status: 'queued', reopened: [incident.recoveryId], incidentReopened: true });
  const reclosed = await h.waitClosed(incident.id);
  t.is(reclosed.status, 'resolved');
  t.is(reclosed.outcome, 'recovered');
  t.is(h.world.instanceState('vm-a').status, 'ACTIVE');
  t.not(String(h.world.instanceState('vm-a').host), 'compute-1');
  t.is(h.world.count('bmc.off'), fences, 'the host is not fenced again');

  const childAfter = (await afterRetry(h, child.id)).filter((r) => r.type === 'transition');
  t.deepEqual(childAfter.map((r) => `${r.from}→${r.to}`), ['evacuating→recovered'], 'resumed at evacuating, not checking');
  t.is((await records(h, child.id)).filter((r) => r.to === 'checking').length, checks, 'no second check');
  const parentTrail = await h.trail(incident.recoveryId);
  t.true(parentTrail.includes(`reopened by alice to take back retried ${child.id}: waiting at awaitingChildren`), parentTrail.join('\n'));
  t.true(parentTrail.includes('woken by children.done at awaitingChildren'));
  const parentAfter = (await records(h, incident.recoveryId)).slice(parentTrail.lastIndexOf(`reopened by alice to take back retried ${child.id}: waiting at awaitingChildren`));
  t.false(parentAfter.some((r) => r.to === 'fencing' || r.to === 'listing'), 'the parent resumed at its wait, not from the start');
  t.is((await h.app.engine.childResults(incident.recoveryId)).filter((r) => r.outcome === 'recovered').length, 3);
});

test('retry of a restart-in-place that escalated re-runs the restart once the cause is fixed', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.crashInstance('vm-d');
  h.world.failHost('compute-2', 'service');
  const { incident } = await h.app.engine.report({ kind: 'instance-down', host: 'compute-2', instance: 'vm-d' });
  t.is((await h.waitClosed(incident.id)).outcome, 'escalated');
  h.world.recoverHost('compute-2');
  h.world.crashInstance('vm-d');
  const result = await h.app.engine.retry(incident.recoveryId, 'bob');
  t.is(result.from, 'restarting');
  t.is((await h.waitClosed(incident.id)).outcome, 'recovered');
  t.is(h.world.instanceState('vm-d').status, 'ACTIVE');
  const after = (await afterRetry(h, incident.recoveryId)).filter((r) => r.type === 'transition');
  t.deepEqual(after.map((r) => `${r.from}→${r.to}`), ['restarting→recovered']);
});

test('retry is refused for a recovery that recovered, one still running, and one whose subject another open incident now holds', async (t) => {
  const h = await startEngine(redis, { config: { incidents: { dedupeWindowSeconds: 1 }, workflows: { ...DEFAULT_WORKFLOWS, 'host-down': 'notify-only' } } });
  t.teardown(() => h.close());
  const ok = await h.app.engine.report({ kind: 'instance-down', host: 'compute-2', instance: 'vm-d' });
  t.is((await h.waitClosed(ok.incident.id)).outcome, 'recovered');
  await t.throwsAsync(h.app.engine.retry(ok.incident.recoveryId, 'alice'), { code: 'RSR_RECOVERY_NOT_RETRYABLE', message: /ended recovered: nothing to retry/ });

  const parked = await h.app.engine.report({ kind: 'host-down', host: 'compute-3' });
  await until(async () => (await h.app.engine.recovery(parked.incident.recoveryId)).status === 'waiting');
  await t.throwsAsync(h.app.engine.retry(parked.incident.recoveryId, 'alice'), { code: 'RSR_RECOVERY_NOT_RETRYABLE', message: /is waiting: only a finished recovery can be retried/ });
  await t.throwsAsync(h.app.engine.retry('rec-nope', 'alice'), { code: 'RSR_RECOVERY_NOT_FOUND' });

  // Denied (skipped) cannot be retried either; cancelled can — but not while a newer incident holds the host.
  await h.app.engine.cancel(parked.incident.recoveryId, 'alice');
  t.is((await h.waitClosed(parked.incident.id)).status, 'cancelled');
  await new Promise((resolve) => setTimeout(resolve, 1_200)); // past the dedupe window
  const newer = await h.app.engine.report({ kind: 'host-down', host: 'compute-3' });
  t.true(newer.created);
  await t.throwsAsync(h.app.engine.retry(parked.incident.recoveryId, 'alice'), { code: 'RSR_SUBJECT_BUSY' });
  t.is((await h.app.engine.recovery(parked.incident.recoveryId)).status, 'done', 'nothing was changed');
  t.is((await h.app.engine.incident(parked.incident.id)).status, 'cancelled');
});

test('retry of a cancelled notify-only waits for a decision again, and a decision then resolves it', async (t) => {
  const h = await startEngine(redis, { config: { workflows: { ...DEFAULT_WORKFLOWS, 'host-down': 'notify-only' } } });
  t.teardown(() => h.close());
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-4' });
  await until(async () => (await h.app.engine.recovery(incident.recoveryId)).status === 'waiting');
  await h.app.engine.cancel(incident.recoveryId, 'alice');
  t.is((await h.waitClosed(incident.id)).outcome, 'cancelled');
  const result = await h.app.engine.retry(incident.recoveryId, 'alice');
  t.like(result, { from: 'awaitingDecision', status: 'waiting', incidentReopened: true });
  t.is((await h.app.engine.incident(incident.id)).status, 'open');
  t.is((await h.app.engine.recovery(incident.recoveryId)).status, 'waiting');
  // A second cancel now works again (a fresh wake), and so does a decision: the decision wins here.
  await h.app.engine.decide(incident.recoveryId, 'resolve', 'bob', 'checked by hand');
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered');
  t.is(closed.status, 'resolved');
  t.deepEqual((await h.app.engine.listIncidents({ status: 'resolved', host: 'compute-4' })).items.map((i) => i.id), [incident.id]);
});

test('retry of a host recovery that ended partial runs its failed children again and waits for them, not from the start', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'power');
  const fault = h.world.injectFault({ kind: 'image-gone', image: 'img-cirros' });
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  t.is((await h.waitClosed(incident.id)).outcome, 'partial');
  const failed = (await h.app.engine.children(incident.recoveryId)).find((c) => c.outcome === 'failed')!;
  t.is(String(failed.subject.instance), 'vm-b');
  const fences = h.world.count('bmc.off');
  const lists = h.world.count('listInstances');

  h.world.clearFault(fault);
  const result = await h.app.engine.retry(incident.recoveryId, 'carol');
  t.like(result, { from: 'awaitingChildren', status: 'waiting', children: [failed.id], reopened: [], incidentReopened: true });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered', closed.reason);
  t.is(h.world.instanceState('vm-b').status, 'ACTIVE');
  t.is(h.world.count('bmc.off'), fences, 'not fenced again');
  t.is(h.world.count('listInstances'), lists, 'not listed again');
  t.is(h.world.count('evacuate', 'vm-a', 'accepted'), 1, 'the recovered children are left alone');
  const childTrail = await h.trail(failed.id);
  t.true(childTrail.includes(`retried by carol with ${incident.recoveryId} from checking`), childTrail.join('\n'));
  const parentAfter = (await afterRetry(h, incident.recoveryId)).filter((r) => r.type === 'transition');
  t.is(parentAfter[0]?.from, 'awaitingChildren');
});

test('retry of a host recovery whose children found no target at fan-out (RSR_NO_CAPACITY, nothing evacuated) runs them again without the stale placement verdicts: once capacity is back they are recovered', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  // No room anywhere: every other host is disabled, so placement has no target for any VM of compute-1.
  for (const host of ['compute-2', 'compute-3', 'compute-4']) await h.world.nova.setServiceEnabled(host, false, 'maintenance');
  h.world.failHost('compute-1', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.not(closed.outcome, 'recovered');
  t.true((await h.trail(incident.recoveryId)).some((m) => /^placement: 0 of 3 VMs have a target; 3 will not fit/.test(m)), (await h.trail(incident.recoveryId)).join('\n'));
  const children = await h.app.engine.children(incident.recoveryId);
  t.is(children.length, 3);
  for (const child of children) {
    t.not(child.outcome, 'recovered', child.id);
    t.is(typeof child.params.noTarget, 'string', `${child.id} was told at fan-out that nothing fits`);
    t.like(child.params.seen, { host: 'compute-1', status: 'ACTIVE', taskState: null }, `${child.id} was handed the fan-out's reading of its instance`);
    t.true((await h.trail(child.id)).some((m) => /RSR_NO_CAPACITY|not evacuating vm-/.test(m)), (await h.trail(child.id)).join('\n'));
  }
  t.is(h.world.count('evacuate'), 0, 'placement refused before acting: Nova was never asked');
  const fences = h.world.count('bmc.off');

  // Capacity is back: one host returns to service.
  await h.world.nova.setServiceEnabled('compute-2', true);
  const result = await h.app.engine.retry(incident.recoveryId, 'dave');
  t.is(result.children.length, 3);
  const reclosed = await h.waitClosed(incident.id);
  t.is(reclosed.outcome, 'recovered', reclosed.reason);
  for (const id of ['vm-a', 'vm-b', 'vm-c']) {
    t.like(h.world.instanceState(id), { host: 'compute-2', status: 'ACTIVE' }, id);
    t.is(h.world.count('evacuate', id, 'accepted'), 1, `${id} evacuated once`);
  }
  for (const child of await h.app.engine.children(incident.recoveryId)) {
    t.is(child.outcome, 'recovered', child.id);
    t.false('noTarget' in child.params, `${child.id}: the fan-out's "nothing fits" is not replayed`);
    t.false('target' in child.params, `${child.id}: nor a target chosen then`);
    t.false('seen' in child.params, `${child.id}: nor the instance as it was then`);
    t.false((await afterRetry(h, child.id)).some((r) => /not evacuating/.test(r.message)), child.id);
  }
  t.is(h.world.count('bmc.off'), fences, 'not fenced again');
});
