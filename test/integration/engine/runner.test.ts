import test from 'ava';
import { assign, setup } from 'xstate';
import type { AnyStateMachine } from 'xstate';
import { DEFAULT_WORKFLOWS } from '../../../src/config/config';
import { TOKENS } from '../../../src/container';
import type { Keys } from '../../../src/engine/keys';
import { nonRetryable } from '../../../src/domain';
import type { RecoveryInput, RecoveryOutput } from '../../../src/plugins/api';
import { definePlugin, defineStep, defineWorkflow, stepActor } from '../../../src/plugins/api';
import { useRedis } from '../../helpers/redis';
import { startEngine } from '../../helpers/engine';
import type { EngineHarness } from '../../helpers/engine';

const redis = useRedis(test);

const calls = new Map<string, number>();
const bump = (key: string) => calls.set(key, (calls.get(key) ?? 0) + 1);

/** A step that never answers and ignores its abort signal: what a hung cloud call looks like. */
const hang = defineStep({ name: 'hangForever', description: 'hangs', timeoutMs: 150, run: (_: unknown, { recovery }) => { bump(`hang:${recovery.recoveryId}`); return new Promise(() => undefined); } });
const refuse = defineStep({
  name: 'refuseAtOnce', description: 'fails, not retryable', timeoutMs: 1000,
  run: async (_: unknown, { recovery }) => {
    bump(`refuse:${recovery.recoveryId}`);
    throw nonRetryable('RSR_CLOUD_REJECTED', 'the cloud said no', { details: { password: 'hunter2', bmcUser: 'admin' } });
  },
});

function probeMachine(id: string, step: string, withOnError: boolean): AnyStateMachine {
  return setup({
    types: { context: {} as { input: RecoveryInput; reason?: string; outcome?: RecoveryOutput['outcome'] }, input: {} as RecoveryInput, output: {} as RecoveryOutput },
    actors: { [step]: stepActor<unknown, unknown>(step) },
  }).createMachine({
    id,
    initial: 'acting',
    context: ({ input }: { input: RecoveryInput }) => ({ input }),
    states: {
      acting: {
        invoke: {
          src: step,
          onDone: 'done',
          ...(withOnError ? { onError: { target: 'gaveUp', actions: assign({ reason: ({ event }) => (event.error as Error).message }) } } : {}),
        },
      },
      done: { type: 'final', entry: assign({ outcome: 'recovered' as const }) },
      // The loader refuses unreachable states, so a machine without onError has no gaveUp.
      ...(withOnError ? { gaveUp: { type: 'final', entry: assign({ outcome: 'escalated' as const }) } } : {}),
    },
    output: ({ context }: { context: { outcome?: string; reason?: string } }) => ({ outcome: context.outcome ?? 'failed', ...(context.reason ? { reason: context.reason } : {}) }),
  } as never) as unknown as AnyStateMachine;
}

/**
 * Reads its own recovery's stored trail and snapshot the moment it runs: what a worker killed right after
 * this step acted would leave behind. The harness is the one of the test running it.
 */
let looking: EngineHarness | undefined;
const seenByStep: { transitions: string[]; snapshot: string | undefined }[] = [];
const look = defineStep({
  name: 'lookAtOwnTrail', description: 'reads its own trail', timeoutMs: 5000,
  run: async (_: unknown, { recovery }) => {
    const h = looking as EngineHarness;
    const keys = h.app.container.get<Keys>(TOKENS.keys);
    const [trail, snapshot] = await Promise.all([
      h.app.engine.audit(recovery.recoveryId),
      h.app.redis.hget(keys.recovery(recovery.recoveryId), 'snapshot'),
    ]);
    seenByStep.push({
      transitions: trail.map((r) => r.record).filter((r) => r.type === 'transition').map((r) => `${r.from}→${r.to}`),
      snapshot: snapshot ? (JSON.parse(snapshot) as { value: string }).value : undefined,
    });
  },
});

const lookTwice = setup({
  types: { context: {} as { input: RecoveryInput; outcome?: RecoveryOutput['outcome'] }, input: {} as RecoveryInput, output: {} as RecoveryOutput },
  actors: { lookAtOwnTrail: stepActor<unknown, unknown>('lookAtOwnTrail') },
}).createMachine({
  id: 'look-probe',
  initial: 'first',
  context: ({ input }: { input: RecoveryInput }) => ({ input }),
  states: {
    first: { invoke: { src: 'lookAtOwnTrail', onDone: 'second' } },
    second: { invoke: { src: 'lookAtOwnTrail', onDone: 'done' } },
    done: { type: 'final', entry: assign({ outcome: 'recovered' as const }) },
  },
  output: ({ context }: { context: { outcome?: string } }) => ({ outcome: context.outcome ?? 'failed' }),
} as never) as unknown as AnyStateMachine;

const probes = definePlugin({
  name: 'runner-probes',
  steps: [hang, refuse, look],
  workflows: [
    defineWorkflow({ name: 'hang-probe', description: 'a hung step', handles: ['host-down'], machine: probeMachine('hang-probe', 'hangForever', true) }),
    defineWorkflow({ name: 'refuse-probe', description: 'a refused step', handles: ['service-down'], machine: probeMachine('refuse-probe', 'refuseAtOnce', true) }),
    defineWorkflow({ name: 'unhandled-probe', description: 'no onError', handles: ['host-degraded'], machine: probeMachine('unhandled-probe', 'refuseAtOnce', false) }),
    defineWorkflow({ name: 'look-probe', description: 'a step reading its trail', handles: ['instance-down'], machine: lookTwice }),
  ],
});
const workflows = { ...DEFAULT_WORKFLOWS, 'host-down': 'hang-probe', 'service-down': 'refuse-probe', 'host-degraded': 'unhandled-probe', 'instance-down': 'look-probe' };

test('a hung step times out on every attempt, is retried with backoff, then handed to the machine: the recovery never hangs', async (t) => {
  const h = await startEngine(redis, { plugins: [probes], config: { workflows } });
  t.teardown(() => h.close());
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'escalated');
  t.regex(closed.reason ?? '', /step hangForever did not finish within 150 ms/);
  t.is(calls.get(`hang:${incident.recoveryId}`), 4, 'one run per attempt of the retry budget (4)');
  const records = (await h.app.engine.audit(incident.recoveryId)).map((r) => r.record);
  t.is(records.filter((r) => r.type === 'attempt' && /will retry/.test(r.message)).length, 3);
  t.deepEqual(records.filter((r) => r.type === 'attempt' && r.details?.error).map((r) => (r.details?.error as { code: string }).code), ['RSR_STEP_TIMEOUT', 'RSR_STEP_TIMEOUT', 'RSR_STEP_TIMEOUT']);
});

test('a non-retryable step error goes to the machine at once, and its secrets never reach the audit trail', async (t) => {
  const h = await startEngine(redis, { plugins: [probes], config: { workflows } });
  t.teardown(() => h.close());
  const { incident } = await h.app.engine.report({ kind: 'service-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'escalated');
  t.is(calls.get(`refuse:${incident.recoveryId}`), 1, 'not retried');
  const records = (await h.app.engine.audit(incident.recoveryId)).map((r) => r.record);
  const failure = records.find((r) => r.event?.startsWith('xstate.error.actor'));
  t.is((failure?.details?.error as { code?: string } | undefined)?.code, 'RSR_CLOUD_REJECTED');
  t.is(((failure?.details?.error as { details?: Record<string, unknown> }).details ?? {}).password, '[redacted]');
  const raw = await h.app.redis.xrange(h.app.container.get<Keys>(TOKENS.keys).globalAudit(), '-', '+');
  t.false(JSON.stringify(raw).includes('hunter2'), 'the secret is nowhere in the global audit stream');
});

test('a machine with no onError for a failure ends its recovery failed, with the reason, instead of hanging', async (t) => {
  const h = await startEngine(redis, { plugins: [probes], config: { workflows } });
  t.teardown(() => h.close());
  const { incident } = await h.app.engine.report({ kind: 'host-degraded', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'failed');
  t.regex(closed.reason ?? '', /the cloud said no/);
  const recovery = await h.app.engine.recovery(incident.recoveryId);
  t.is(recovery.status, 'done');
});

test('every transition persists the snapshot with its audit record: the stored snapshot is the last audited state', async (t) => {
  const h = await startEngine(redis, { plugins: [probes], config: { workflows } });
  t.teardown(() => h.close());
  const { incident } = await h.app.engine.report({ kind: 'service-down', host: 'compute-1' });
  await h.waitClosed(incident.id);
  const records = (await h.app.engine.audit(incident.recoveryId)).map((r) => r.record).filter((r) => r.type === 'transition');
  t.deepEqual(records.map((r) => `${r.from}→${r.to}`), ['(start)→acting', 'acting→gaveUp']);
  t.true(records.every((r) => r.worker === 'test-worker' && typeof r.durationMs === 'number' && r.attempt === 1 && r.workflow === 'refuse-probe'));
  const keys = h.app.container.get<Keys>(TOKENS.keys);
  const snapshot = JSON.parse((await h.app.redis.hget(keys.recovery(incident.recoveryId), 'snapshot')) ?? '{}') as { value: string; status: string };
  t.is(snapshot.value, 'gaveUp');
  t.is(snapshot.status, 'done');
});

test('a step acts only once the transition into its state is stored: a crash right after it acted leaves that state in the trail and the snapshot', async (t) => {
  const h = await startEngine(redis, { plugins: [probes], config: { workflows } });
  t.teardown(() => h.close());
  looking = h;
  seenByStep.length = 0;
  const { incident } = await h.app.engine.report({ kind: 'instance-down', host: 'compute-1', instance: 'vm-look' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered');
  t.deepEqual(seenByStep, [
    { transitions: ['(start)→first'], snapshot: 'first' },
    { transitions: ['(start)→first', 'first→second'], snapshot: 'second' },
  ]);
});

test('a job no worker can run (its workflow is not registered here) ends its recovery and incident failed instead of stranding them', async (t) => {
  const prefix = redis.newPrefix();
  // The reporting side knows the workflow; the only worker does not (a plugin missing on that node).
  const reporter = await startEngine(redis, { prefix, plugins: [probes], config: { workflows }, worker: false });
  t.teardown(() => reporter.close());
  const worker = await startEngine(redis, { prefix, world: reporter.world });
  t.teardown(() => worker.close());
  const { incident } = await reporter.app.engine.report({ kind: 'service-down', host: 'compute-1' });
  const closed = await worker.waitClosed(incident.id);
  t.is(closed.outcome, 'failed');
  t.regex(closed.reason ?? '', /given up: no workflow registered under "refuse-probe"/);
  t.is((await worker.app.engine.recovery(incident.recoveryId)).status, 'done');
});

test('every audit record names the process that wrote it', async (t) => {
  const h = await startEngine(redis, { workerName: 'named-worker' });
  t.teardown(() => h.close());
  h.world.failHost('compute-2', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-2' });
  await h.waitClosed(incident.id);
  const records = (await h.app.engine.audit(incident.id)).map((r) => r.record);
  t.true(records.length > 10);
  t.deepEqual(records.filter((r) => r.worker !== 'named-worker').map((r) => r.message), []);
});
