/**
 * How many Nova reads an evacuation costs, on the simulated cloud: every read is a request to nova-api, and a
 * host failure multiplies them by its instances (30 instances polled every 250 ms are 120 requests a second
 * before any other caller). An instance still on the fenced host with no task needs no migration records;
 * a rebuild in progress needs none either; the records are read only where they can change the verdict. The
 * failure paths that need them (an evacuation Nova could not place) still see them.
 */
import test from 'ava';
import pino from 'pino';
import { systemClock } from '../../../src/domain';
import type { CloudDriver } from '../../../src/drivers/cloud/port';
import { createSimCloud } from '../../../src/drivers/cloud/sim/sim-cloud';
import { createWorld } from '../../../src/drivers/cloud/sim/inventory';
import type { StepContext } from '../../../src/plugins/api';
import { checkEvacuable } from '../../../src/steps/check-evacuable';
import { evacuateInstance } from '../../../src/steps/evacuate-instance';
import { CLOUD_CONTRACT_INVENTORY } from '../../contracts/cloud-driver';

const SOURCE = 'compute-a';

async function setup(seed: string) {
  const world = createWorld(CLOUD_CONTRACT_INVENTORY, { seed, timeScale: 0.01 });
  const { cloud: sim } = createSimCloud({ world });
  const calls = new Map<string, number>();
  const cloud = new Proxy(sim, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.set(String(name), (calls.get(String(name)) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as CloudDriver;
  world.failHost(SOURCE, 'power');
  await sim.setServiceForcedDown(SOURCE, true);
  calls.clear();
  const audits: string[] = [];
  const context = (instance: string): StepContext => ({
    drivers: { cloud } as never,
    engine: { fenceEvidence: async () => ({ host: SOURCE }), audit: async (message: string) => { audits.push(message); } } as never,
    recovery: { id: `rec-${instance}`, params: { pollIntervalMs: 5, activeTimeoutSeconds: 30 }, subject: { host: SOURCE, instance } } as never,
    signal: new AbortController().signal,
    clock: systemClock,
    log: pino({ level: 'silent' }),
    attempt: 1,
    lastAttempt: false,
  });
  return { world, calls, context, audits, teardown: () => world.dispose() };
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

test('an evacuation that lands reads the server once per poll and never needs the migration records', async (t) => {
  const { calls, context, audits, world, teardown } = await setup('reads-evacuate');
  t.teardown(teardown);
  const result = await evacuateInstance.run({ host: SOURCE, instance: 'vm-shared' }, context('vm-shared'));
  t.not(result.targetHost, SOURCE);
  t.is(world.count('evacuate', 'vm-shared', 'accepted'), 1);
  t.true(audits.some((m) => m.startsWith('evacuate vm-shared from compute-a')));
  t.is(calls.get('listMigrations'), undefined);
  t.true((calls.get('getInstance') ?? 0) >= 2, 'read before acting and at least once after');
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
