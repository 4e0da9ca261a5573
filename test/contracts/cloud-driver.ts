/**
 * What every CloudDriver must do, as a reusable suite: run it against the in-process sim, a served sim or a
 * real Nova lab by supplying a harness. The harness builds CLOUD_CONTRACT_INVENTORY (or a lab that matches
 * it) freshly for every test and offers a backdoor to break things.
 */
import type { ExecutionContext, TestFn } from 'ava';
import type { Instance } from '../../src/domain';
import type { CloudDriver } from '../../src/drivers/cloud/port';
import { eventually } from './eventually';

export type HostFailure = 'power' | 'network' | 'service' | 'degraded';

/** What a test needs beyond the driver: break the world and read the truth Nova cannot see. */
export interface CloudWorldBackdoor {
  failHost(host: string, mode: HostFailure): void | Promise<void>;
  recoverHost(host: string): void | Promise<void>;
  /** Real power of the host, not Nova's opinion. */
  hostPower(host: string): 'on' | 'off' | Promise<'on' | 'off'>;
  /** Activates a fault (the sim's FaultSpec shape); returns its id. */
  injectFault(spec: { readonly kind: string } & Record<string, unknown>): string | Promise<string>;
  /** Calls the cloud received, by driver method name, optionally for one instance/host and one outcome. */
  count(action: string, subject?: string, outcome?: 'accepted' | 'refused'): number | Promise<number>;
}

export interface CloudHarness {
  readonly driver: CloudDriver;
  readonly world: CloudWorldBackdoor;
  /**
   * The cloud leaves an evacuated instance stopped on its destination whatever its state before (Nova at
   * microversion ≥ 2.95). Default false: it comes back as it was (ACTIVE stays ACTIVE).
   */
  readonly evacuationEndsStopped?: boolean;
  teardown(): Promise<void>;
}

/** The inventory every harness provides (sim spec shape: flavors referenced by name). */
export const CLOUD_CONTRACT_INVENTORY = {
  flavors: {
    small: { vcpus: 1, ramMb: 2048 },
    medium: { vcpus: 2, ramMb: 4096, extraSpecs: { evacuable: 'true' } },
    huge: { vcpus: 24, ramMb: 49152 },
  },
  images: ['img-base'],
  hosts: [
    { name: 'compute-a', zone: 'az-1', vcpus: 32, ramMb: 65536, aggregates: ['agg-1'] },
    { name: 'compute-b', zone: 'az-1', vcpus: 16, ramMb: 32768, aggregates: ['agg-1'] },
    { name: 'compute-c', zone: 'az-2', vcpus: 16, ramMb: 32768, aggregates: ['agg-2'] },
  ],
  instances: [
    { id: 'vm-shared', name: 'shared', host: 'compute-a', project: 'p1', flavor: 'medium', image: 'img-base', sharedStorage: true, metadata: { HA_Enabled: 'True' } },
    { id: 'vm-local', name: 'local', host: 'compute-a', project: 'p1', flavor: 'medium', image: 'img-base', sharedStorage: false },
    { id: 'vm-bfv', name: 'bfv', host: 'compute-a', project: 'p2', flavor: 'small', image: '', sharedStorage: true },
    { id: 'vm-huge', name: 'huge', host: 'compute-a', project: 'p2', flavor: 'huge', image: 'img-base', sharedStorage: true },
    { id: 'vm-b1', name: 'b1', host: 'compute-b', project: 'p1', flavor: 'small', image: 'img-base', sharedStorage: true },
  ],
};

const SOURCE = 'compute-a';

export function cloudDriverContract(test: TestFn, name: string, makeHarness: () => Promise<CloudHarness>): void {
  const run = (title: string, body: (t: ExecutionContext, h: CloudHarness) => Promise<void>) =>
    test(`${name} cloud contract: ${title}`, async (t) => {
      const harness = await makeHarness();
      try {
        await body(t, harness);
      } finally {
        await harness.teardown();
      }
    });

  /** The host's service goes down for good (power lost) and is forced down, as fencing would leave it. */
  const failAndForceDown = async ({ driver, world }: CloudHarness) => {
    await world.failHost(SOURCE, 'power');
    await driver.setServiceForcedDown(SOURCE, true);
  };

  const settled = (driver: CloudDriver, id: string) =>
    eventually(() => driver.getInstance(id), (i) => i.taskState === null, { what: `${id} to settle` });

  run('listHosts returns every host with its capacity and usage', async (t, { driver }) => {
    const hosts = await driver.listHosts();
    t.deepEqual(hosts.map((h) => h.name).sort(), ['compute-a', 'compute-b', 'compute-c']);
    const a = hosts.find((h) => h.name === SOURCE);
    t.like(a, { zone: 'az-1', vcpus: 32, ramMb: 65536, usedVcpus: 2 + 2 + 1 + 24, usedRamMb: 4096 + 4096 + 2048 + 49152 });
    t.deepEqual(hosts.find((h) => h.name === 'compute-c')?.usedVcpus, 0);
  });

  run('listInstances returns the instances of a host; getInstance the same record', async (t, { driver }) => {
    const listed = await driver.listInstances(SOURCE);
    t.deepEqual(listed.map((i) => i.id).sort(), ['vm-bfv', 'vm-huge', 'vm-local', 'vm-shared']);
    const one = await driver.getInstance('vm-shared');
    t.deepEqual(one, listed.find((i) => i.id === 'vm-shared'));
    t.like(one, { host: SOURCE, status: 'ACTIVE', taskState: null, powerState: 'RUNNING', image: 'img-base', sharedStorage: true, metadata: { HA_Enabled: 'True' } });
    t.like(one.flavor, { vcpus: 2, ramMb: 4096, extraSpecs: { evacuable: 'true' } });
    t.is((await driver.getInstance('vm-bfv')).image, '');
  });

  run('answers are copies: changing one does not change the cloud', async (t, { driver }) => {
    const one = await driver.getInstance('vm-shared');
    (one as { status: string }).status = 'ERROR';
    one.metadata.HA_Enabled = 'False';
    one.flavor.extraSpecs.evacuable = 'false';
    const again = await driver.getInstance('vm-shared');
    t.is(again.status, 'ACTIVE');
    t.is(again.metadata.HA_Enabled, 'True');
    t.is(again.flavor.extraSpecs.evacuable, 'true');
  });

  run('setServiceEnabled disables with a reason and enables again', async (t, { driver }) => {
    const disabled = await driver.setServiceEnabled(SOURCE, false, 'resurrect: fenced');
    t.like(disabled, { host: SOURCE, status: 'disabled', disabledReason: 'resurrect: fenced', state: 'up' });
    t.like(await driver.getService(SOURCE), { status: 'disabled', disabledReason: 'resurrect: fenced' });
    const enabled = await driver.setServiceEnabled(SOURCE, true);
    t.is(enabled.status, 'enabled');
    t.is(enabled.disabledReason, undefined);
  });

  run('forced_down makes the service down at once, and up again when cleared', async (t, { driver }) => {
    t.is((await driver.getService(SOURCE)).state, 'up');
    t.like(await driver.setServiceForcedDown(SOURCE, true), { state: 'down', forcedDown: true });
    t.like(await driver.getService(SOURCE), { state: 'down', forcedDown: true });
    t.like(await driver.setServiceForcedDown(SOURCE, false), { state: 'up', forcedDown: false });
  });

  run('a dead nova-compute shows as down while its guests stay ACTIVE', async (t, { driver, world }) => {
    await world.failHost(SOURCE, 'service');
    const service = await eventually(() => driver.getService(SOURCE), (s) => s.state === 'down', { what: 'service down' });
    t.false(service.forcedDown);
    t.is((await driver.getInstance('vm-shared')).status, 'ACTIVE');
  });

  run('evacuate is refused while the source service is up ("still in use", 400)', async (t, { driver, world }) => {
    const error = await t.throwsAsync(driver.evacuate('vm-shared'));
    t.like(error, { code: 'RSR_CLOUD_CONFLICT', retryable: true, message: `Compute service of ${SOURCE} is still in use.` });
    t.is((error as unknown as { details: Record<string, unknown> }).details.httpStatus, 400);
    t.like(await driver.getInstance('vm-shared'), { host: SOURCE, status: 'ACTIVE', taskState: null });
    t.deepEqual(await driver.listMigrations('vm-shared'), []);
    t.is(await world.count('evacuate', 'vm-shared', 'refused'), 1);
    t.is(await world.count('evacuate', 'vm-shared', 'accepted'), 0);
  });

  /** What an evacuated ACTIVE instance becomes: ACTIVE again, or stopped where the cloud says so (Nova ≥ 2.95). */
  const landed = (h: CloudHarness): Pick<Instance, 'status' | 'powerState'> =>
    h.evacuationEndsStopped ? { status: 'SHUTOFF', powerState: 'SHUTDOWN' } : { status: 'ACTIVE', powerState: 'RUNNING' };

  run('evacuate after power loss and forced_down rebuilds the instance elsewhere, ACTIVE (or stopped where the cloud says so)', async (t, h) => {
    const { driver, world } = h;
    const expected = landed(h);
    await failAndForceDown(h);
    const accepted = await driver.evacuate('vm-shared');
    t.regex(accepted.requestId, /\S/);
    const moved = await eventually(() => driver.getInstance('vm-shared'), (i) => i.status === expected.status && i.taskState === null, { what: expected.status });
    t.not(moved.host, SOURCE);
    t.true(['compute-b', 'compute-c'].includes(moved.host));
    t.is(moved.powerState, expected.powerState);
    const [migration, ...older] = await driver.listMigrations('vm-shared');
    t.is(older.length, 0);
    t.like(migration, { instance: 'vm-shared', type: 'evacuation', source: SOURCE, dest: moved.host, status: 'done' });
    t.is(await world.count('evacuate', 'vm-shared'), 1);
    t.false((await driver.listInstances(SOURCE)).some((i) => i.id === 'vm-shared'));
    t.true((await driver.listInstances(moved.host)).some((i) => i.id === 'vm-shared'));
  });

  run('evacuate moves capacity from the source to the destination', async (t, h) => {
    const { driver } = h;
    await failAndForceDown(h);
    await driver.evacuate('vm-local', 'compute-c');
    const moved = await settled(driver, 'vm-local');
    t.is(moved.host as string, 'compute-c');
    const hosts = await driver.listHosts();
    t.like(hosts.find((x) => x.name === 'compute-c'), { usedVcpus: 2, usedRamMb: 4096 });
    t.like(hosts.find((x) => x.name === SOURCE), { usedVcpus: 2 + 1 + 24 });
  });

  run('evacuate is refused with 409 while a task is pending (stop cast to a dead host hangs)', async (t, h) => {
    const { driver } = h;
    await failAndForceDown(h);
    await driver.stopInstance('vm-shared');
    await new Promise((resolve) => setTimeout(resolve, 20));
    t.is((await driver.getInstance('vm-shared')).taskState, 'powering-off');
    const error = await t.throwsAsync(driver.evacuate('vm-shared'));
    t.like(error, { code: 'RSR_CLOUD_CONFLICT', retryable: true });
    t.is((error as unknown as { details: Record<string, unknown> }).details.httpStatus, 409);
  });

  run('a cloud that answers 503 to an evacuate ⇒ retryable RSR_DRIVER_UNAVAILABLE, nothing done, and the next try works', async (t, h) => {
    const { driver, world } = h;
    await failAndForceDown(h);
    await world.injectFault({ kind: 'api-error', action: 'evacuate', times: 1 });
    const error = await t.throwsAsync(driver.evacuate('vm-shared'));
    t.like(error, { code: 'RSR_DRIVER_UNAVAILABLE', retryable: true });
    t.is(await world.count('evacuate', 'vm-shared', 'accepted'), 0, 'a refused evacuate is not repeated behind our back');
    t.like(await driver.getInstance('vm-shared'), { host: SOURCE, taskState: null });
    await driver.evacuate('vm-shared');
    t.is(await world.count('evacuate', 'vm-shared', 'accepted'), 1);
  });

  run('evacuate with no host that has room answers RSR_NO_CAPACITY', async (t, h) => {
    await failAndForceDown(h);
    const error = await t.throwsAsync(h.driver.evacuate('vm-huge'));
    t.like(error, { code: 'RSR_NO_CAPACITY', retryable: true });
    t.like(await h.driver.getInstance('vm-huge'), { host: SOURCE, taskState: null });
  });

  run('a local-disk instance whose image is gone ends in ERROR; a shared one is rebuilt', async (t, h) => {
    const { driver, world } = h;
    await world.injectFault({ kind: 'image-gone', image: 'img-base' });
    t.false(await driver.imageExists('img-base'));
    await failAndForceDown(h);
    await driver.evacuate('vm-local');
    await driver.evacuate('vm-shared');
    t.is((await settled(driver, 'vm-local')).status, 'ERROR');
    t.like((await driver.listMigrations('vm-local'))[0], { type: 'evacuation', status: 'error' });
    t.is((await settled(driver, 'vm-shared')).status, landed(h).status);
  });

  run('stop and start bring an instance to SHUTOFF and back to ACTIVE', async (t, { driver }) => {
    await driver.stopInstance('vm-b1');
    t.like(await settled(driver, 'vm-b1'), { status: 'SHUTOFF', powerState: 'SHUTDOWN' });
    await t.throwsAsync(driver.stopInstance('vm-b1'), { code: 'RSR_CLOUD_CONFLICT' });
    await driver.startInstance('vm-b1');
    t.like(await settled(driver, 'vm-b1'), { status: 'ACTIVE', powerState: 'RUNNING' });
  });

  run('imageExists tells existing images from unknown ones', async (t, { driver }) => {
    t.true(await driver.imageExists('img-base'));
    t.false(await driver.imageExists('img-never-was'));
  });

  run('unknown instances and hosts answer RSR_CLOUD_NOT_FOUND (not retryable)', async (t, { driver }) => {
    const notFound = { code: 'RSR_CLOUD_NOT_FOUND' };
    for (const call of [
      () => driver.getInstance('vm-nope'),
      () => driver.evacuate('vm-nope'),
      () => driver.liveMigrate('vm-nope'),
      () => driver.startInstance('vm-nope'),
      () => driver.stopInstance('vm-nope'),
      () => driver.rebootInstance('vm-nope', 'HARD'),
      () => driver.listMigrations('vm-nope'),
      () => driver.getService('compute-nope'),
      () => driver.listInstances('compute-nope'),
      () => driver.setServiceEnabled('compute-nope', false, 'x'),
      () => driver.setServiceForcedDown('compute-nope', true),
    ]) {
      const error = await t.throwsAsync(call(), notFound);
      t.false((error as unknown as { retryable: boolean }).retryable);
    }
  });

  run('an aborted signal rejects with its reason and never reaches the cloud', async (t, { driver, world }) => {
    const controller = new AbortController();
    const reason = new Error('step timed out');
    controller.abort(reason);
    const options = { signal: controller.signal };
    t.is(await t.throwsAsync(driver.getInstance('vm-shared', options)), reason);
    t.is(await t.throwsAsync(driver.evacuate('vm-shared', undefined, options)), reason);
    t.is(await t.throwsAsync(driver.setServiceForcedDown(SOURCE, true, options)), reason);
    t.is(await world.count('evacuate'), 0);
    t.is(await world.count('setServiceForcedDown'), 0);
    t.false((await driver.getService(SOURCE)).forcedDown);
  });
}
