/**
 * How many Nova reads an evacuation costs, on the simulated cloud: every read is a request to nova-api, and a
 * host failure multiplies them by its instances (30 instances polled every 250 ms are 120 requests a second
 * before any other caller). A check of an instance still on the fenced host needs no migration records, nor
 * does a poll of a rebuild in progress; the records are read only where they can change the verdict: before
 * an evacuation is issued (Nova clears the task state at the end of a rebuild before it moves the instance,
 * so "on its source, no task" may be an evacuation about to finish), and by polls that find the instance idle
 * on its source. The failure paths that need them (an evacuation Nova could not place) still see them. A child
 * checked right after its fan-out reads nothing: the fan-out read its instance a moment ago.
 */
import test, { type ExecutionContext } from 'ava';
import pino from 'pino';
import { isoNow, seenInstance, systemClock, type Instance } from '../../../src/domain';
import type { CallOptions, CloudDriver } from '../../../src/drivers/cloud/port';
import { createSimCloud } from '../../../src/drivers/cloud/sim/sim-cloud';
import { createWorld } from '../../../src/drivers/cloud/sim/inventory';
import type { StepContext } from '../../../src/plugins/api';
import { checkEvacuable } from '../../../src/steps/check-evacuable';
import { evacuateInstance } from '../../../src/steps/evacuate-instance';
import { SEEN_FRESH_MS } from '../../../src/steps/evacuation-state';
import { CLOUD_CONTRACT_INVENTORY } from '../../contracts/cloud-driver';
import { ManualClock } from '../../helpers/manual-clock';
import { SIM_ACTIONS } from '../../../src/drivers/cloud/sim/actions';

const SOURCE = 'compute-a';

async function setup(seed: string) {
  const world = createWorld(CLOUD_CONTRACT_INVENTORY, { seed, timeScale: 0.01 });
  const { cloud: sim } = createSimCloud({ world });
  const calls = new Map<string, number>();
  /** Where each getInstance answer placed the instance, in order. */
  const readHosts: string[] = [];
  const cloud = new Proxy(sim, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.set(String(name), (calls.get(String(name)) ?? 0) + 1);
        const answer = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (name === 'getInstance') void (answer as Promise<Instance>).then((i) => readHosts.push(`${i.host} ${i.status} ${i.taskState ?? 'idle'}`), () => undefined);
        return answer;
      };
    },
  }) as CloudDriver;
  world.failHost(SOURCE, 'power');
  await sim.setServiceForcedDown(SOURCE, true);
  calls.clear();
  const audits: string[] = [];
  const context = (instance: string, extra: { params?: Record<string, unknown>; attempt?: number } = {}): StepContext => ({
    drivers: { cloud } as never,
    engine: { fenceEvidence: async () => ({ host: SOURCE }), audit: async (message: string) => { audits.push(message); } } as never,
    recovery: { id: `rec-${instance}`, params: { pollIntervalMs: 5, activeTimeoutSeconds: 30, ...extra.params }, subject: { host: SOURCE, instance } } as never,
    signal: new AbortController().signal,
    clock: systemClock,
    log: pino({ level: 'silent' }),
    attempt: extra.attempt ?? 1,
    lastAttempt: false,
  });
  /** The fan-out's reading of `instance`, taken `ageMs` ago. */
  const seen = async (instance: string, ageMs: number) => seenInstance(await sim.getInstance(instance), isoNow(Date.now() - ageMs));
  return { world, calls, readHosts, context, seen, audits, teardown: () => world.dispose() };
}

test('checking an instance still on the fenced host reads the server (and its image), not its migration records', async (t) => {
  const { calls, context, teardown } = await setup('reads-check');
  t.teardown(teardown);
  const verdict = await checkEvacuable.run({ host: SOURCE, instance: 'vm-local' }, context('vm-local'));
  t.is(verdict.action, 'evacuate');
  t.is(calls.get('getInstance'), 1);
  t.is(calls.get('imageExists'), 1, 'a local-disk instance is rebuilt from its image: it must exist');
  t.is(calls.get('listMigrations'), undefined);
});

test('an evacuation that lands reads the server once per poll, its records before acting and only where the instance looks idle on its source, and ends on the read that saw it land', async (t) => {
  const { calls, readHosts, context, audits, world, teardown } = await setup('reads-evacuate');
  t.teardown(teardown);
  const result = await evacuateInstance.run({ host: SOURCE, instance: 'vm-shared' }, context('vm-shared'));
  t.not(result.targetHost, SOURCE);
  t.is(world.count('evacuate', 'vm-shared', 'accepted'), 1);
  t.true(audits.some((m) => m.startsWith('evacuate vm-shared from compute-a')));
  t.true((calls.get('getInstance') ?? 0) >= 2, 'read before acting and at least once after');
  t.is(readHosts[0], `${SOURCE} ACTIVE idle`, 'read before acting');
  // The polls that found it rebuilding read nothing else; those that found it idle on its source (the end of
  // the rebuild, before Nova moves it) read its records, which say the evacuation is still in flight.
  const idleOnSource = readHosts.slice(1).filter((h) => h === `${SOURCE} ACTIVE idle`).length;
  t.is(calls.get('listMigrations'), 1 + idleOnSource);
  t.true(readHosts.slice(1).some((h) => h.endsWith('rebuild_spawning') || h.endsWith('rebuilding')), readHosts.join(', '));
  // One read saw it running elsewhere, the last: a read after it would only delay the recovery's end.
  t.deepEqual(readHosts.filter((h) => h === `${result.targetHost} ACTIVE idle`), [`${result.targetHost} ACTIVE idle`]);
  t.is(readHosts.at(-1), `${result.targetHost} ACTIVE idle`);
});

test('a child checked right after its fan-out stands on the fan-out\'s reading of its instance: no server read', async (t) => {
  const { calls, context, seen, teardown } = await setup('reads-seen');
  t.teardown(teardown);
  const verdict = await checkEvacuable.run({ host: SOURCE, instance: 'vm-local' }, context('vm-local', { params: { seen: await seen('vm-local', 1_000) } }));
  t.like(verdict, { action: 'evacuate', name: 'local', wasActive: true });
  t.is(calls.get('getInstance'), undefined);
  t.is(calls.get('imageExists'), 1, 'the image is still checked');
});

test('a fan-out reading too old, from the future, or met by a retry is not stood on: the check reads the server', async (t) => {
  const { calls, context, seen, teardown } = await setup('reads-seen-stale');
  t.teardown(teardown);
  const runs = [
    context('vm-local', { params: { seen: await seen('vm-local', SEEN_FRESH_MS + 1_000) } }),
    context('vm-local', { params: { seen: await seen('vm-local', -5_000) } }),
    context('vm-local', { params: { seen: await seen('vm-local', 0) }, attempt: 2 }),
    context('vm-local', { params: { seen: { what: 'not a reading' } } }),
  ];
  calls.clear();
  for (const run of runs) await checkEvacuable.run({ host: SOURCE, instance: 'vm-local' }, run);
  t.is(calls.get('getInstance'), runs.length);
});

test('an instance moved by someone else since the fan-out read it: the check trusts the reading, the evacuation reads before acting and does not evacuate it again', async (t) => {
  const { context, seen, world, audits, teardown } = await setup('reads-seen-moved');
  t.teardown(teardown);
  const reading = await seen('vm-shared', 0);
  await evacuateInstance.run({ host: SOURCE, instance: 'vm-shared' }, context('vm-shared'));
  audits.length = 0;
  const child = context('vm-shared', { params: { seen: reading } });
  const verdict = await checkEvacuable.run({ host: SOURCE, instance: 'vm-shared' }, child);
  t.is(verdict.action, 'evacuate', 'the reading still has it on the fenced host');
  const result = await evacuateInstance.run({ host: SOURCE, instance: 'vm-shared' }, child);
  t.not(result.targetHost, SOURCE);
  t.false(result.issued);
  t.is(world.count('evacuate', 'vm-shared', 'accepted'), 1);
  t.deepEqual(audits, []);
});

test('an evacuation Nova could not place (no room anywhere) is still seen failing through its migration record', async (t) => {
  const { calls, context, world, teardown } = await setup('reads-no-room');
  t.teardown(teardown);
  const error = await t.throwsAsync(evacuateInstance.run({ host: SOURCE, instance: 'vm-huge' }, context('vm-huge')));
  t.regex(error!.message, /evacuation of vm-huge failed \(migration .* error\)|left it in ERROR/);
  t.is(world.count('evacuate', 'vm-huge', 'accepted'), 1);
  t.true((calls.get('listMigrations') ?? 0) >= 1, 'the verdict came from the records');
});

test('a resumed check finds an instance already running elsewhere without evacuating it again', async (t) => {
  const { context, world, teardown } = await setup('reads-resume');
  t.teardown(teardown);
  await evacuateInstance.run({ host: SOURCE, instance: 'vm-bfv' }, context('vm-bfv'));
  const verdict = await checkEvacuable.run({ host: SOURCE, instance: 'vm-bfv' }, context('vm-bfv'));
  t.is(verdict.action, 'none');
  await evacuateInstance.run({ host: SOURCE, instance: 'vm-bfv' }, context('vm-bfv'));
  t.is(world.count('evacuate', 'vm-bfv', 'accepted'), 1);
});

/**
 * A sim on a manual clock whose evacuation of vm-shared (accepted by a run of the step whose worker then died)
 * is at the very end of its rebuild: idle, ACTIVE, still on its source, as Nova shows it before
 * finish_evacuation. `resume` runs the step again there, with `cloud` standing for the driver.
 */
async function atTheEndOfARebuild(t: ExecutionContext, seed: string) {
  const clock = new ManualClock();
  const world = createWorld(CLOUD_CONTRACT_INVENTORY, {
    seed,
    clock,
    timeScale: 1,
    latency: { jitter: 0, acceptMs: Object.fromEntries(SIM_ACTIONS.map((a) => [a, 0])), completeMs: { evacuate: 40_000 } },
  });
  t.teardown(() => world.dispose());
  const { cloud: sim } = createSimCloud({ world });
  world.failHost(SOURCE, 'power');
  await sim.setServiceForcedDown(SOURCE, true);
  await sim.evacuate('vm-shared');
  await clock.advance(35_500);
  t.like(await sim.getInstance('vm-shared'), { host: SOURCE, status: 'ACTIVE', taskState: null });
  const resume = (cloud: CloudDriver) => evacuateInstance.run({ host: SOURCE, instance: 'vm-shared' }, {
    drivers: { cloud } as never,
    engine: { fenceEvidence: async () => ({ host: SOURCE }), audit: async () => undefined } as never,
    recovery: { id: 'rec-vm-shared', params: { pollIntervalMs: 250, activeTimeoutSeconds: 60 }, subject: { host: SOURCE, instance: 'vm-shared' } } as never,
    signal: new AbortController().signal,
    clock,
    log: pino({ level: 'silent' }),
    attempt: 2,
    lastAttempt: false,
  });
  return { clock, world, sim, resume };
}

test('an evacuation step resumed at the very end of a rebuild (no task state, still on its source as Nova shows it then) follows the evacuation in flight and does not evacuate again', async (t) => {
  const { clock, world, sim, resume } = await atTheEndOfARebuild(t, 'reads-finish');
  const resumed = resume(sim);
  await clock.advance(5_000);
  const result = await resumed;
  t.false(result.issued);
  t.not(result.targetHost, SOURCE);
  t.is(world.count('evacuate', 'vm-shared'), 1, 'no second evacuate, not even one refused');
});

test('an evacuation that finishes between the read of the instance and the read of its records is seen landed, not issued again', async (t) => {
  const { clock, world, sim, resume } = await atTheEndOfARebuild(t, 'reads-finish-between');
  // The instance is read in the window (idle, still on its source); its records after Nova finished.
  const cloud = Object.create(sim, {
    listMigrations: {
      value: async (id: string, options?: CallOptions) => {
        await clock.advance(5_000);
        return sim.listMigrations(id, options);
      },
    },
  }) as CloudDriver;
  const result = await resume(cloud);
  t.false(result.issued);
  t.not(result.targetHost, SOURCE);
  t.is(world.count('evacuate', 'vm-shared'), 1);
});
