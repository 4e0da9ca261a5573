/**
 * What every CloudDriver must do, as a reusable suite: run it against the in-process sim, a served sim or a
 * real Nova lab by supplying a harness. The harness builds CLOUD_CONTRACT_INVENTORY (or a lab that matches
 * it) freshly for every test and offers a backdoor to break things. A real cloud names things its own way
 * (server UUIDs, its own hosts) and its fake hypervisors report their own capacity: the harness says so
 * (`names`, `hostCapacity`, `without`), and every assertion goes through them.
 */
import type { ExecutionContext, TestFn } from 'ava';
import type { Instance } from '../../src/domain';
import type { CloudDriver } from '../../src/drivers/cloud/port';
import { eventually } from './eventually';

/** Migration statuses of a move still under way. */
const MOVING: ReadonlySet<string> = new Set(['accepted', 'pre-migrating', 'running']);

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
  /**
   * Leaves no host with room for `instance` but its own (already failed) one. Absent: the inventory already has
   * none for `vm-huge` (the simulators). A real lab whose fake hypervisors are huge disables the other hosts.
   */
  leaveNoRoomFor?(instance: string): void | Promise<void>;
}

/** The inventory's names → the cloud's own (identity where absent). */
export interface CloudNames {
  host(name: string): string;
  instance(name: string): string;
  image(name: string): string;
}

export interface CloudHarness {
  readonly driver: CloudDriver;
  readonly world: CloudWorldBackdoor;
  /**
   * The cloud leaves an evacuated instance stopped on its destination whatever its state before (Nova at
   * microversion ≥ 2.95). Default false: it comes back as it was (ACTIVE stays ACTIVE).
   */
  readonly evacuationEndsStopped?: boolean;
  readonly names?: Partial<CloudNames>;
  /** Hosts whose capacity is not the inventory's (a fake hypervisor reports its own), by inventory name. */
  readonly hostCapacity?: Readonly<Record<string, { readonly vcpus: number; readonly ramMb: number }>>;
  /** Inventory instances this cloud cannot have (no block storage: no boot-from-volume `vm-bfv`). */
  readonly without?: readonly string[];
  /** How long to wait for the cloud to settle and how often to look (default 5 s, every 5 ms: a simulator). */
  readonly patience?: { readonly timeoutMs: number; readonly intervalMs: number };
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
    // reservedRamMb: Nova's reserved_host_memory_mb, 512 by default (a real Nova needs no declaration of it).
    { name: 'compute-a', zone: 'az-1', vcpus: 32, ramMb: 65536, reservedRamMb: 512, aggregates: ['agg-1'] },
    { name: 'compute-b', zone: 'az-1', vcpus: 16, ramMb: 32768, reservedRamMb: 512, aggregates: ['agg-1'] },
    { name: 'compute-c', zone: 'az-2', vcpus: 16, ramMb: 32768, reservedRamMb: 512, aggregates: ['agg-2'] },
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

const identity = (name: string) => name;
const namesOf = (h: CloudHarness): CloudNames => ({ host: identity, instance: identity, image: identity, ...h.names });

/** Behaviours a cloud's hypervisors cannot show, by the fault that needs them. */
export type CloudFaultKind = 'image-gone';

/**
 * `cannot`: faults this cloud cannot produce, with why (a fake hypervisor never reads an image). The tests that
 * need one are registered as skipped with that reason in their title, never left out silently.
 */
export function cloudDriverContract(
  test: TestFn, name: string, makeHarness: () => Promise<CloudHarness>, cannot: Readonly<Partial<Record<CloudFaultKind, string>>> = {},
): void {
  const run = (title: string, body: (t: ExecutionContext, h: CloudHarness, n: CloudNames) => Promise<void>, needs: readonly CloudFaultKind[] = []) => {
    const missing = needs.filter((kind) => cannot[kind] !== undefined);
    if (missing.length > 0) {
      test.skip(`${name} cloud contract: ${title} (not here: ${missing.map((kind) => `${kind}: ${cannot[kind]}`).join('; ')})`, () => undefined);
      return;
    }
    test(`${name} cloud contract: ${title}`, async (t) => {
      const harness = await makeHarness();
      try {
        await body(t, harness, namesOf(harness));
      } finally {
        await harness.teardown();
      }
    });
  };

  /** The host's service goes down for good (power lost) and is forced down, as fencing would leave it. */
  const failAndForceDown = async ({ driver, world }: CloudHarness, n: CloudNames) => {
    await world.failHost(n.host(SOURCE), 'power');
    await driver.setServiceForcedDown(n.host(SOURCE), true);
  };

  /**
   * No task state and no migration in flight: the end of an evacuation clears the task state before the
   * instance names its new host (Nova's finish_evacuation), so the task state alone is not enough.
   */
  const settled = async (h: CloudHarness, id: string) => {
    const both = await eventually(
      // The record first (see the finish_evacuation test below).
      async () => {
        const [latest] = await h.driver.listMigrations(id);
        return { latest, instance: await h.driver.getInstance(id) };
      },
      ({ instance, latest }) => instance.taskState === null && !(latest && MOVING.has(latest.status)),
      { ...h.patience, what: `${id} to settle` },
    );
    return both.instance;
  };

  const inventory = (h: CloudHarness) => {
    const left = (i: { id: string }) => !(h.without ?? []).includes(i.id);
    const flavor = (f: string) => CLOUD_CONTRACT_INVENTORY.flavors[f as keyof typeof CLOUD_CONTRACT_INVENTORY.flavors];
    const on = (host: string) => CLOUD_CONTRACT_INVENTORY.instances.filter((i) => i.host === host && left(i));
    const capacity = (host: string) => {
      const declared = CLOUD_CONTRACT_INVENTORY.hosts.find((x) => x.name === host)!;
      return { vcpus: declared.vcpus, ramMb: declared.ramMb, ...h.hostCapacity?.[host] };
    };
    /** Nova's memory_mb_used: the instances' RAM and the host's reserved_host_memory_mb. */
    const reserved = (host: string) => CLOUD_CONTRACT_INVENTORY.hosts.find((x) => x.name === host)!.reservedRamMb;
    const used = (host: string) => ({
      usedVcpus: on(host).reduce((sum, i) => sum + flavor(i.flavor).vcpus, 0),
      usedRamMb: reserved(host) + on(host).reduce((sum, i) => sum + flavor(i.flavor).ramMb, 0),
    });
    return { on, capacity, used, reserved, has: (id: string) => !(h.without ?? []).includes(id) };
  };

  run('listHosts returns every host with its capacity and usage', async (t, h, n) => {
    const inv = inventory(h);
    const hosts = await h.driver.listHosts();
    t.deepEqual(hosts.map((x) => x.name).sort(), CLOUD_CONTRACT_INVENTORY.hosts.map((x) => n.host(x.name)).sort());
    for (const declared of CLOUD_CONTRACT_INVENTORY.hosts) {
      t.like(hosts.find((x) => x.name === n.host(declared.name)), { zone: declared.zone, ...inv.capacity(declared.name), ...inv.used(declared.name) }, declared.name);
    }
    t.deepEqual(hosts.find((x) => x.name === n.host('compute-c'))?.usedVcpus, 0);
  });

  run('listInstances returns the instances of a host; getInstance the same record', async (t, h, n) => {
    const { driver } = h;
    const listed = await driver.listInstances(n.host(SOURCE));
    t.deepEqual(listed.map((i) => i.id).sort(), inventory(h).on(SOURCE).map((i) => n.instance(i.id)).sort());
    const one = await driver.getInstance(n.instance('vm-shared'));
    t.deepEqual(one, listed.find((i) => i.id === n.instance('vm-shared')));
    t.like(one, { host: n.host(SOURCE), status: 'ACTIVE', taskState: null, powerState: 'RUNNING', image: n.image('img-base'), sharedStorage: true, metadata: { HA_Enabled: 'True' } });
    t.like(one.flavor, { vcpus: 2, ramMb: 4096, extraSpecs: { evacuable: 'true' } });
    if (inventory(h).has('vm-bfv')) t.is((await driver.getInstance(n.instance('vm-bfv'))).image, '');
  });

  run('answers are copies: changing one does not change the cloud', async (t, { driver }, n) => {
    const one = await driver.getInstance(n.instance('vm-shared'));
    (one as { status: string }).status = 'ERROR';
    one.metadata.HA_Enabled = 'False';
    one.flavor.extraSpecs.evacuable = 'false';
    const again = await driver.getInstance(n.instance('vm-shared'));
    t.is(again.status, 'ACTIVE');
    t.is(again.metadata.HA_Enabled, 'True');
    t.is(again.flavor.extraSpecs.evacuable, 'true');
  });

  run('setServiceEnabled disables with a reason and enables again', async (t, { driver }, n) => {
    const source = n.host(SOURCE);
    const disabled = await driver.setServiceEnabled(source, false, 'resurrect: fenced');
    t.like(disabled, { host: source, status: 'disabled', disabledReason: 'resurrect: fenced', state: 'up' });
    t.like(await driver.getService(source), { status: 'disabled', disabledReason: 'resurrect: fenced' });
    const enabled = await driver.setServiceEnabled(source, true);
    t.is(enabled.status, 'enabled');
    t.is(enabled.disabledReason, undefined);
  });

  run('forced_down makes the service down at once, and up again when cleared', async (t, { driver }, n) => {
    const source = n.host(SOURCE);
    t.is((await driver.getService(source)).state, 'up');
    t.like(await driver.setServiceForcedDown(source, true), { state: 'down', forcedDown: true });
    t.like(await driver.getService(source), { state: 'down', forcedDown: true });
    t.like(await driver.setServiceForcedDown(source, false), { state: 'up', forcedDown: false });
  });

  run('a dead nova-compute shows as down while its guests stay ACTIVE', async (t, { driver, world, patience }, n) => {
    await world.failHost(n.host(SOURCE), 'service');
    // Nova notices by the missing heartbeats: up to service_down_time (20 s in the lab, 60 s by default).
    const service = await eventually(() => driver.getService(n.host(SOURCE)), (s) => s.state === 'down', { ...patience, timeoutMs: Math.max(patience?.timeoutMs ?? 0, 60_000), what: 'service down' });
    t.false(service.forcedDown);
    t.is((await driver.getInstance(n.instance('vm-shared'))).status, 'ACTIVE');
  });

  run('evacuate is refused while the source service is up ("still in use", 400)', async (t, { driver, world }, n) => {
    const id = n.instance('vm-shared');
    const error = await t.throwsAsync(driver.evacuate(id));
    t.like(error, { code: 'RSR_CLOUD_CONFLICT', retryable: true, message: `Compute service of ${n.host(SOURCE)} is still in use.` });
    t.is((error as unknown as { details: Record<string, unknown> }).details.httpStatus, 400);
    t.like(await driver.getInstance(id), { host: n.host(SOURCE), status: 'ACTIVE', taskState: null });
    t.deepEqual(await driver.listMigrations(id), []);
    t.is(await world.count('evacuate', id, 'refused'), 1);
    t.is(await world.count('evacuate', id, 'accepted'), 0);
  });

  /** What an evacuated ACTIVE instance becomes: ACTIVE again, or stopped where the cloud says so (Nova ≥ 2.95). */
  const landed = (h: CloudHarness): Pick<Instance, 'status' | 'powerState'> =>
    h.evacuationEndsStopped ? { status: 'SHUTOFF', powerState: 'SHUTDOWN' } : { status: 'ACTIVE', powerState: 'RUNNING' };

  run('evacuate after power loss and forced_down rebuilds the instance elsewhere, ACTIVE (or stopped where the cloud says so)', async (t, h, n) => {
    const { driver, world } = h;
    const id = n.instance('vm-shared');
    const expected = landed(h);
    await failAndForceDown(h, n);
    const accepted = await driver.evacuate(id);
    t.regex(accepted.requestId, /\S/);
    const moved = await settled(h, id);
    t.is(moved.status, expected.status);
    t.not(moved.host, n.host(SOURCE));
    t.true([n.host('compute-b'), n.host('compute-c')].includes(moved.host));
    t.is(moved.powerState, expected.powerState);
    const [migration, ...older] = await driver.listMigrations(id);
    t.is(older.length, 0);
    t.like(migration, { instance: id, type: 'evacuation', source: n.host(SOURCE), dest: moved.host, status: 'done' });
    t.is(await world.count('evacuate', id), 1);
    t.false((await driver.listInstances(n.host(SOURCE))).some((i) => i.id === id));
    t.true((await driver.listInstances(moved.host)).some((i) => i.id === id));
  });

  run('an evacuation looks finished only when it is: while the instance names its source with no task state, its evacuation record is still in flight (Nova clears the task state before finish_evacuation moves it)', async (t, h, n) => {
    const { driver } = h;
    const id = n.instance('vm-shared');
    await failAndForceDown(h, n);
    await driver.evacuate(id);
    const seen: string[] = [];
    const moved = await eventually(async () => {
      // The record first: Nova moves the instance before it marks the record done, so an instance read after
      // its record cannot be newer than it by more than that.
      const [latest] = await driver.listMigrations(id);
      const instance = await driver.getInstance(id);
      if (instance.host === n.host(SOURCE) && instance.taskState === null) {
        seen.push(`${instance.status} with its evacuation ${latest?.status ?? 'missing'}`);
        t.true(latest !== undefined && latest.type === 'evacuation' && MOVING.has(latest.status), `on its source, idle, with evacuation ${JSON.stringify(latest)}`);
      }
      return instance;
    }, (i) => i.host !== n.host(SOURCE) && i.taskState === null, { ...h.patience, intervalMs: Math.min(h.patience?.intervalMs ?? 5, 20), what: `${id} on its new host` });
    t.like((await driver.listMigrations(id))[0], { type: 'evacuation', dest: moved.host, status: 'done' });
    t.log(seen.length === 0 ? 'the window was not caught' : `caught ${seen.length}×: ${seen[0]}`);
  });

  run('evacuate adds the instance to its destination\'s usage; the dead source keeps it until its compute restarts and cleans up (as Nova 26)', async (t, h, n) => {
    const { driver, world } = h;
    const inv = inventory(h);
    const usage = async (host: string) => (await driver.listHosts()).find((x) => x.name === n.host(host));
    await failAndForceDown(h, n);
    await driver.evacuate(n.instance('vm-local'), n.host('compute-c'));
    const moved = await settled(h, n.instance('vm-local'));
    t.is(moved.host as string, n.host('compute-c'));
    t.like(await usage('compute-c'), { usedVcpus: 2, usedRamMb: inv.reserved('compute-c') + 4096 });
    // Nobody updates a dead host's resource tracker: Nova keeps the evacuated instance's usage (and placement
    // allocation) on the source until its nova-compute starts again and cleans up.
    t.like(await usage(SOURCE), { usedVcpus: inv.used(SOURCE).usedVcpus });
    await world.recoverHost(n.host(SOURCE));
    const freed = await eventually(() => usage(SOURCE), (x) => x?.usedVcpus === inv.used(SOURCE).usedVcpus - 2, { ...h.patience, what: 'the source cleaned up' });
    t.is(freed?.usedRamMb, inv.used(SOURCE).usedRamMb - 4096);
  });

  run('evacuate is accepted while a task is pending (a stop cast to a dead host hangs in powering-off): the instance is rebuilt elsewhere, as Nova 26 checks no task state', async (t, h, n) => {
    const { driver, world } = h;
    const id = n.instance('vm-shared');
    const expected = landed(h);
    await failAndForceDown(h, n);
    await driver.stopInstance(id);
    // The stop is cast to a compute that never answers: it stays pending.
    const stuck = await eventually(() => driver.getInstance(id), (i) => i.taskState === 'powering-off', { ...h.patience, what: 'powering-off' });
    t.like(stuck, { host: n.host(SOURCE), status: 'ACTIVE' });
    await driver.evacuate(id);
    t.is(await world.count('evacuate', id, 'accepted'), 1);
    const moved = await eventually(() => driver.getInstance(id), (i) => i.host !== n.host(SOURCE) && i.status === expected.status && i.taskState === null, { ...h.patience, what: `${id} rebuilt elsewhere` });
    t.true([n.host('compute-b'), n.host('compute-c')].includes(moved.host));
    t.like((await driver.listMigrations(id))[0], { type: 'evacuation', source: n.host(SOURCE), dest: moved.host, status: 'done' });
  });

  run('a cloud that answers 503 to an evacuate ⇒ retryable RSR_DRIVER_UNAVAILABLE, nothing done, and the next try works', async (t, h, n) => {
    const { driver, world } = h;
    const id = n.instance('vm-shared');
    await failAndForceDown(h, n);
    await world.injectFault({ kind: 'api-error', action: 'evacuate', times: 1 });
    const error = await t.throwsAsync(driver.evacuate(id));
    t.like(error, { code: 'RSR_DRIVER_UNAVAILABLE', retryable: true });
    t.is(await world.count('evacuate', id, 'accepted'), 0, 'a refused evacuate is not repeated behind our back');
    t.like(await driver.getInstance(id), { host: n.host(SOURCE), taskState: null });
    await driver.evacuate(id);
    t.is(await world.count('evacuate', id, 'accepted'), 1);
  });

  run('evacuate with no host that has room is accepted, then fails in the conductor: the instance in ERROR on its source host, the migration in error (as Nova 26)', async (t, h, n) => {
    const id = n.instance('vm-huge');
    await failAndForceDown(h, n);
    await h.world.leaveNoRoomFor?.(id);
    const accepted = await h.driver.evacuate(id);
    t.regex(accepted.requestId, /\S/);
    t.is(await h.world.count('evacuate', id, 'accepted'), 1);
    const failed = await settled(h, id);
    t.like(failed, { host: n.host(SOURCE), status: 'ERROR', taskState: null });
    const [migration, ...older] = await h.driver.listMigrations(id);
    t.is(older.length, 0);
    t.like(migration, { type: 'evacuation', source: n.host(SOURCE), status: 'error' });
  });

  run('a local-disk instance whose image is gone ends in ERROR; a shared one is rebuilt', async (t, h, n) => {
    const { driver, world } = h;
    await world.injectFault({ kind: 'image-gone', image: n.image('img-base') });
    t.false(await driver.imageExists(n.image('img-base')));
    await failAndForceDown(h, n);
    await driver.evacuate(n.instance('vm-local'));
    await driver.evacuate(n.instance('vm-shared'));
    t.is((await settled(h, n.instance('vm-local'))).status, 'ERROR');
    t.like((await driver.listMigrations(n.instance('vm-local')))[0], { type: 'evacuation', status: 'error' });
    t.is((await settled(h, n.instance('vm-shared'))).status, landed(h).status);
  }, ['image-gone']);

  run('stop and start bring an instance to SHUTOFF and back to ACTIVE', async (t, h, n) => {
    const { driver } = h;
    const id = n.instance('vm-b1');
    await driver.stopInstance(id);
    t.like(await settled(h, id), { status: 'SHUTOFF', powerState: 'SHUTDOWN' });
    await t.throwsAsync(driver.stopInstance(id), { code: 'RSR_CLOUD_CONFLICT' });
    await driver.startInstance(id);
    t.like(await settled(h, id), { status: 'ACTIVE', powerState: 'RUNNING' });
  });

  run('imageExists tells existing images from unknown ones', async (t, { driver }, n) => {
    t.true(await driver.imageExists(n.image('img-base')));
    t.false(await driver.imageExists(n.image('img-never-was')));
  });

  run('unknown instances and hosts answer RSR_CLOUD_NOT_FOUND (not retryable)', async (t, { driver }, n) => {
    const notFound = { code: 'RSR_CLOUD_NOT_FOUND' };
    const nope = n.instance('vm-nope');
    for (const call of [
      () => driver.getInstance(nope),
      () => driver.evacuate(nope),
      () => driver.liveMigrate(nope),
      () => driver.startInstance(nope),
      () => driver.stopInstance(nope),
      () => driver.rebootInstance(nope, 'HARD'),
      () => driver.listMigrations(nope),
      () => driver.getService('compute-nope'),
      () => driver.listInstances('compute-nope'),
      () => driver.setServiceEnabled('compute-nope', false, 'x'),
      () => driver.setServiceForcedDown('compute-nope', true),
    ]) {
      const error = await t.throwsAsync(call(), notFound);
      t.false((error as unknown as { retryable: boolean }).retryable);
    }
  });

  run('an aborted signal rejects with its reason and never reaches the cloud', async (t, { driver, world }, n) => {
    const controller = new AbortController();
    const reason = new Error('step timed out');
    controller.abort(reason);
    const options = { signal: controller.signal };
    t.is(await t.throwsAsync(driver.getInstance(n.instance('vm-shared'), options)), reason);
    t.is(await t.throwsAsync(driver.evacuate(n.instance('vm-shared'), undefined, options)), reason);
    t.is(await t.throwsAsync(driver.setServiceForcedDown(n.host(SOURCE), true, options)), reason);
    t.is(await world.count('evacuate'), 0);
    t.is(await world.count('setServiceForcedDown'), 0);
    t.false((await driver.getService(n.host(SOURCE))).forcedDown);
  });
}
