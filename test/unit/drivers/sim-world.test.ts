import test from 'ava';
import type { ResurrectError } from '../../../src/domain';
import { SIM_ACTIONS } from '../../../src/drivers/cloud/sim/actions';
import { createDemoWorld } from '../../../src/drivers/cloud/sim/demo-inventory';
import { createWorld, type WorldSpecInput } from '../../../src/drivers/cloud/sim/inventory';
import { SimCloudDriver } from '../../../src/drivers/cloud/sim/sim-cloud-driver';
import type { SimWorldOptions, WorldEvent } from '../../../src/drivers/cloud/sim/world';
import { ManualClock } from '../../helpers/manual-clock';

const SMALL: WorldSpecInput = {
  flavors: { small: { vcpus: 1, ramMb: 2048 }, medium: { vcpus: 2, ramMb: 4096 } },
  images: ['img-a'],
  hosts: [
    { name: 'h1', vcpus: 16, ramMb: 32768 },
    { name: 'h2', vcpus: 16, ramMb: 32768 },
    { name: 'h3', vcpus: 16, ramMb: 16384 },
    { name: 'spare', vcpus: 16, ramMb: 65536, reserved: true },
  ],
  instances: [
    { id: 'vm-1', host: 'h1', flavor: 'medium', image: 'img-a', sharedStorage: true },
    { id: 'vm-2', host: 'h1', flavor: 'medium', image: 'img-a', sharedStorage: false },
    { id: 'vm-3', host: 'h2', flavor: 'small', image: '', sharedStorage: true },
  ],
};

function small(options: SimWorldOptions = {}) {
  const world = createWorld(SMALL, { seed: 1, timeScale: 0, ...options });
  return { world, driver: new SimCloudDriver(world) };
}

/** Host down for good and forced down: what the engine does before evacuating. */
async function downAndForced(world: ReturnType<typeof small>['world'], driver: SimCloudDriver, host = 'h1') {
  world.failHost(host, 'power');
  await driver.setServiceForcedDown(host, true);
}

// ---- inventory and determinism -------------------------------------------------------------------

test('sim world: the same seed builds the same demo inventory; another seed another one', (t) => {
  const a = createDemoWorld({ seed: 11, timeScale: 0, clock: new ManualClock() });
  const b = createDemoWorld({ seed: 11, timeScale: 0, clock: new ManualClock() });
  const c = createDemoWorld({ seed: 12, timeScale: 0, clock: new ManualClock() });
  t.deepEqual(a.snapshot(), b.snapshot());
  t.notDeepEqual(a.snapshot().instances, c.snapshot().instances);
});

test('sim world: demo inventory has 8 hosts in 2 zones, a reserved empty spare per zone and 60 mixed instances', (t) => {
  const world = createDemoWorld({ seed: 1, timeScale: 0 });
  const { hosts, instances } = world.snapshot();
  t.deepEqual(hosts.map((h) => h.name), ['compute-1', 'compute-2', 'compute-3', 'compute-4', 'compute-5', 'compute-6', 'compute-7', 'compute-8']);
  t.deepEqual([...new Set(hosts.map((h) => h.zone))].sort(), ['az-1', 'az-2']);
  t.deepEqual([...new Set(hosts.flatMap((h) => h.capacity.aggregates))].sort(), ['agg-general', 'agg-gold']);
  const spares = hosts.filter((h) => h.reserved);
  t.deepEqual(spares.map((h) => h.zone).sort(), ['az-1', 'az-2']);
  t.true(spares.every((h) => h.capacity.usedVcpus === 0));
  t.is(instances.length, 60);
  t.true(instances.every((i) => ['True', 'False'].includes(i.metadata.HA_Enabled ?? '') && ['gold', 'silver', 'bronze', 'dev'].includes(i.metadata.tier ?? '')));
  t.true(instances.some((i) => i.image === '') && instances.some((i) => i.image !== ''));
  t.true(instances.some((i) => i.sharedStorage) && instances.some((i) => !i.sharedStorage));
  t.true(instances.some((i) => i.flavor.extraSpecs.evacuable === 'true') && instances.some((i) => i.flavor.extraSpecs.evacuable === undefined));
  t.true(new Set(instances.map((i) => i.project)).size >= 3);
  t.true(instances.every((i) => world.imageIds().includes(i.image) || i.image === ''));
});

test("sim world: demo inventory — every working host's instances can be evacuated elsewhere", async (t) => {
  for (const host of ['compute-1', 'compute-2', 'compute-3', 'compute-5', 'compute-6', 'compute-7']) {
    const world = createDemoWorld({ seed: 1, timeScale: 0 });
    const driver = new SimCloudDriver(world);
    const vms = await driver.listInstances(host);
    t.true(vms.length > 0);
    world.failHost(host, 'power');
    await driver.setServiceForcedDown(host, true);
    for (const vm of vms) await driver.evacuate(vm.id);
    await world.idle();
    const after = await Promise.all(vms.map((vm) => driver.getInstance(vm.id)));
    t.true(after.every((i) => i.host !== host && (i.status === 'ACTIVE' || i.status === 'SHUTOFF')), host);
    t.true(world.snapshot().hosts.every((h) => h.capacity.usedVcpus <= h.capacity.vcpus && h.capacity.usedRamMb <= h.capacity.ramMb));
    world.dispose();
  }
});

test('sim world: createWorld reports every bad reference with its path', (t) => {
  const error = t.throws(() =>
    createWorld({ hosts: [{ name: 'h1', vcpus: 1, ramMb: 1 }], instances: [{ id: 'vm-1', host: 'h9', flavor: 'nope' }] }),
  ) as ResurrectError & { paths: { path: string }[] };
  t.is(error.code, 'RSR_INPUT_INVALID');
  t.deepEqual(error.paths.map((p) => p.path).sort(), ['instances[0].flavor', 'instances[0].host']);
  t.throws(() => createWorld({ hosts: [{ name: 'h1', vcpus: -1, ramMb: 1 }] }), { message: /hosts\[0\]\.vcpus/ });
});

// ---- host failure modes --------------------------------------------------------------------------

test("sim world: 'network' failure — service down, guests keep running (the zombie), Nova still shows ACTIVE", async (t) => {
  const { world, driver } = small();
  world.failHost('h1', 'network');
  t.is((await driver.getService('h1')).state, 'down');
  t.like(world.hostState('h1'), { power: 'on', running: true, network: false, serviceAlive: true, failure: 'network' });
  t.like(world.instanceState('vm-1'), { status: 'ACTIVE', powerState: 'RUNNING', guestRunning: true });
  t.deepEqual(world.hostState('h1').guests, ['vm-1', 'vm-2']);
});

test("sim world: evacuating from an unfenced zombie host is a split brain, cleaned up when the host returns", async (t) => {
  const { world, driver } = small();
  const events: WorldEvent[] = [];
  world.on('change', (e) => events.push(e));
  world.failHost('h1', 'network');
  await driver.setServiceForcedDown('h1', true);
  await driver.evacuate('vm-1');
  await world.idle();
  const moved = world.instanceState('vm-1');
  t.not(moved.host, 'h1');
  t.deepEqual(moved.ghostsOn, ['h1']);
  t.deepEqual(world.splitBrains(), [{ instance: 'vm-1', hosts: [moved.host, 'h1'] }]);
  t.true(events.some((e) => e.type === 'split-brain' && e.instance === 'vm-1'));
  // Until the old host's nova-compute cleaned up, Nova refuses to unset forced_down.
  await t.throwsAsync(driver.setServiceForcedDown('h1', false), { code: 'RSR_CLOUD_CONFLICT' });
  world.recoverHost('h1');
  t.deepEqual(world.splitBrains(), []);
  t.deepEqual(world.hostState('h1').guests, ['vm-2']);
  t.is((await driver.listMigrations('vm-1'))[0]?.status, 'completed');
  t.like(await driver.setServiceForcedDown('h1', false), { forcedDown: false, state: 'up' });
});

test("sim world: 'power' failure kills the guests while Nova still says ACTIVE/RUNNING; recovery shows them SHUTOFF", async (t) => {
  const { world, driver } = small();
  world.failHost('h1', 'power');
  t.like(world.hostState('h1'), { power: 'off', running: false, devices: { bmc: 'off', pdu: 'on' } });
  t.like(world.instanceState('vm-2'), { status: 'ACTIVE', powerState: 'RUNNING', guestRunning: false });
  t.is((await driver.getService('h1')).state, 'down');
  world.recoverHost('h1');
  t.is((await driver.getService('h1')).state, 'up');
  t.like(world.instanceState('vm-2'), { status: 'SHUTOFF', powerState: 'SHUTDOWN', guestRunning: false });
});

test("sim world: 'service' failure freezes the heartbeat while guests stay healthy", async (t) => {
  const clock = new ManualClock();
  const { world, driver } = small({ clock });
  const failedAt = clock.now();
  world.failHost('h1', 'service');
  await clock.advance(30_000);
  const service = await driver.getService('h1');
  t.is(service.state, 'down');
  t.is(Date.parse(service.updatedAt), failedAt);
  t.is(Date.parse((await driver.getService('h2')).updatedAt), clock.now(), 'a live service heartbeats');
  t.like(world.instanceState('vm-1'), { status: 'ACTIVE', guestRunning: true });
  world.recoverHost('h1');
  t.is((await driver.getService('h1')).state, 'up');
});

test("sim world: 'degraded' only tags the host; it stays up and keeps its VMs", async (t) => {
  const { world, driver } = small();
  world.failHost('h1', 'degraded');
  t.true((await driver.listHosts()).find((h) => h.name === 'h1')?.tags.includes('degraded'));
  t.is((await driver.getService('h1')).state, 'up');
  await t.throwsAsync(driver.evacuate('vm-1'), { message: 'Compute service of h1 is still in use.' });
  world.recoverHost('h1');
  t.false((await driver.listHosts()).find((h) => h.name === 'h1')?.tags.includes('degraded'));
});

test("sim world: Nova's service_down_time window refuses evacuation until it passes (or forced_down)", async (t) => {
  const clock = new ManualClock();
  const { world, driver } = small({ clock, timeScale: 1, latency: { jitter: 0, acceptMs: { evacuate: 0, getService: 0 } }, serviceDownTimeMs: 60_000 });
  world.failHost('h1', 'power');
  t.is((await driver.getService('h1')).state, 'up');
  await t.throwsAsync(driver.evacuate('vm-1'), { code: 'RSR_CLOUD_CONFLICT' });
  await clock.advance(60_000);
  t.is((await driver.getService('h1')).state, 'down');
  await t.notThrowsAsync(driver.evacuate('vm-1'));
  world.dispose();
});

test('sim world: a crashed guest shows SHUTOFF on a live host; fail(host, vm) crashes one guest, chosen by the seed', async (t) => {
  const { world, driver } = small();
  world.crashInstance('vm-1');
  t.like(await driver.getInstance('vm-1'), { status: 'SHUTOFF', powerState: 'SHUTDOWN', taskState: null });
  world.crashInstance('vm-3', { powerState: 'CRASHED' });
  t.is((await driver.getInstance('vm-3')).powerState, 'CRASHED');

  const pick = (seed: number) => createWorld(SMALL, { seed, timeScale: 0 }).fail('h1', 'vm').instances;
  t.deepEqual(pick(5), pick(5));
  const result = world.fail('h1', 'vm');
  t.deepEqual(result, { target: 'h1', mode: 'vm', host: 'h1', instances: ['vm-2'] }, 'the only guest still running');
  t.like(world.fail('vm-3', 'vm'), { host: 'h2', instances: ['vm-3'] });
});

test('sim world: a crash on a dead host is invisible to Nova', (t) => {
  const { world } = small();
  world.failHost('h1', 'service');
  world.crashInstance('vm-1');
  t.like(world.instanceState('vm-1'), { status: 'ACTIVE', guestRunning: false });
});

// ---- Nova rules ----------------------------------------------------------------------------------

test('sim world: stop cast to a dead host hangs with task_state set, and runs when the host comes back', async (t) => {
  const { world, driver } = small();
  world.failHost('h1', 'service');
  await driver.stopInstance('vm-1');
  await world.idle();
  t.like(world.instanceState('vm-1'), { status: 'ACTIVE', taskState: 'powering-off', hung: 'stop' });
  world.recoverHost('h1');
  await world.idle();
  t.like(world.instanceState('vm-1'), { status: 'SHUTOFF', taskState: null, guestRunning: false });
});

test('sim world: an ERROR instance can be evacuated again; evacuating to the same host is rejected', async (t) => {
  const { world, driver } = small();
  world.injectFault({ kind: 'evacuate-fails', instance: 'vm-1', times: 2 });
  await downAndForced(world, driver);
  for (let i = 0; i < 2; i++) {
    await driver.evacuate('vm-1');
    await world.idle();
    t.like(world.instanceState('vm-1'), { status: 'ERROR', host: 'h1', taskState: null });
  }
  await driver.evacuate('vm-1');
  await world.idle();
  t.like(world.instanceState('vm-1'), { status: 'ACTIVE', taskState: null });
  t.deepEqual((await driver.listMigrations('vm-1')).map((m) => m.status), ['done', 'error', 'error']);
  t.is(world.count('evacuate', 'vm-1', 'accepted'), 3);
  t.deepEqual(world.faults(), [], 'a counted fault is gone once used up');
  await t.throwsAsync(driver.evacuate('vm-2', 'h1'), { code: 'RSR_CLOUD_REJECTED' });
});

test('nova: evacuate with no valid host is accepted, then the migration errors and the instance goes to ERROR on its source host (as Nova 26)', async (t) => {
  const clock = new ManualClock();
  const world = createWorld(
    {
      hosts: [
        { name: 'h1', vcpus: 32, ramMb: 65536 },
        { name: 'h2', vcpus: 4, ramMb: 8192 },
      ],
      instances: [{ id: 'vm-big', host: 'h1', flavor: { name: 'xl', vcpus: 8, ramMb: 16384 }, sharedStorage: true }],
    },
    { seed: 1, clock, timeScale: 1, latency: { jitter: 0, acceptMs: Object.fromEntries(SIM_ACTIONS.map((a) => [a, 0])) } },
  );
  const driver = new SimCloudDriver(world);
  await downAndForced(world, driver);
  const accepted = await driver.evacuate('vm-big');
  t.regex(accepted.requestId, /^req-/);
  t.is(world.count('evacuate', 'vm-big', 'accepted'), 1);
  t.like(await driver.getInstance('vm-big'), { host: 'h1', status: 'REBUILD', taskState: 'rebuilding' });
  t.like((await driver.listMigrations('vm-big'))[0], { type: 'evacuation', source: 'h1', dest: null, status: 'accepted' });
  // The conductor's scheduling: a quarter of the latency model's evacuation (45 s) after the answer.
  await clock.advance(45_000 / 4 - 1);
  t.is((await driver.getInstance('vm-big')).taskState, 'rebuilding');
  await clock.advance(1);
  t.like(await driver.getInstance('vm-big'), { host: 'h1', status: 'ERROR', taskState: null });
  t.like((await driver.listMigrations('vm-big'))[0], { type: 'evacuation', source: 'h1', status: 'error' });
  t.like(world.instanceState('vm-big').fault, { code: 500, message: 'No valid host was found. There are not enough hosts available.' });
  t.like((await world.nova.listInstanceActions('vm-big'))[0], { action: 'evacuate', message: 'Error' });
  t.like((await driver.listHosts()).find((h) => h.name === 'h2'), { usedVcpus: 0, usedRamMb: 512 }, 'nothing was claimed');
  t.true(world.events().some((e) => e.instance === 'vm-big' && /no valid host \(8 vCPU, 16384 MB\)/.test(e.message)));
});

test('nova: evacuate does not check task_state: a stop cast to a dead compute (powering-off) does not block it, the instance is rebuilt elsewhere (as Nova 26)', async (t) => {
  const { world, driver } = small();
  await downAndForced(world, driver);
  await driver.stopInstance('vm-1');
  t.like(world.instanceState('vm-1'), { status: 'ACTIVE', taskState: 'powering-off', hung: 'stop' });
  await t.notThrowsAsync(driver.evacuate('vm-1'));
  await world.idle();
  t.like(world.instanceState('vm-1'), { status: 'ACTIVE', taskState: null, powerState: 'RUNNING', guestRunning: true });
  t.not(world.instanceState('vm-1').host, 'h1');
  t.is(world.instanceState('vm-1').hung, undefined);
  // vm_state still counts: an instance already moving is refused (409).
  world.injectFault({ kind: 'never-active', instance: 'vm-2' });
  await driver.evacuate('vm-2');
  await world.idle();
  t.is(world.instanceState('vm-2').status, 'REBUILD');
  await t.throwsAsync(driver.evacuate('vm-2'), { code: 'RSR_CLOUD_CONFLICT', message: /while it is in task_state rebuild_spawning/ });
});

test('nova: an evacuation ends with the task state cleared while the instance still names its source and its migration is in flight; only then it moves and the migration is done (as Nova 26 finish_evacuation)', async (t) => {
  const clock = new ManualClock();
  const { world, driver } = small({ clock, timeScale: 1, latency: { jitter: 0, acceptMs: { evacuate: 0, getInstance: 0, listMigrations: 0, setServiceForcedDown: 0 }, completeMs: { evacuate: 40_000 } } });
  t.teardown(() => world.dispose());
  await downAndForced(world, driver);
  await driver.evacuate('vm-1', 'h2');
  const look = async () => {
    const [i, [m]] = await Promise.all([driver.getInstance('vm-1'), driver.listMigrations('vm-1')]);
    return { host: i.host as string, status: i.status, taskState: i.taskState, migration: m?.status };
  };
  t.deepEqual(await look(), { host: 'h1', status: 'REBUILD', taskState: 'rebuilding', migration: 'accepted' });
  await clock.advance(10_000);
  // Claimed on h2 and spawning there: Nova still names the source.
  t.deepEqual(await look(), { host: 'h1', status: 'REBUILD', taskState: 'rebuild_spawning', migration: 'pre-migrating' });
  await clock.advance(25_500);
  // Spawned: no task state, ACTIVE, on its source as far as Nova says, the record still in flight.
  t.deepEqual(await look(), { host: 'h1', status: 'ACTIVE', taskState: null, migration: 'pre-migrating' });
  t.is(world.instanceState('vm-1').guestRunning, false);
  await t.throwsAsync(driver.evacuate('vm-1'), { code: 'RSR_CLOUD_CONFLICT' }, 'already moving (the sim refuses where Nova would run a second rebuild)');
  await clock.advance(4_500);
  t.deepEqual(await look(), { host: 'h2', status: 'ACTIVE', taskState: null, migration: 'done' });
  t.true(world.instanceState('vm-1').guestRunning);
});

test('nova: reserved host memory counts as used: usedRamMb includes reservedRamMb (512 unless the spec says), ramMb is the whole host, and the scheduler keeps the reserve from instances (as Nova 26)', async (t) => {
  const world = createWorld(
    {
      hosts: [
        { name: 'h1', vcpus: 8, ramMb: 16384 },
        { name: 'h2', vcpus: 8, ramMb: 8192 },
        { name: 'h3', vcpus: 8, ramMb: 8192, reservedRamMb: 2048 },
      ],
      instances: [
        { id: 'vm-7680', host: 'h1', flavor: { name: 'a', vcpus: 1, ramMb: 7680 }, sharedStorage: true },
        { id: 'vm-7681', host: 'h1', flavor: { name: 'b', vcpus: 1, ramMb: 7681 }, sharedStorage: true },
      ],
    },
    { seed: 1, timeScale: 0 },
  );
  const driver = new SimCloudDriver(world);
  const hosts = await driver.listHosts();
  t.like(hosts.find((h) => h.name === 'h1'), { ramMb: 16384, usedRamMb: 7680 + 7681 + 512 });
  t.like(hosts.find((h) => h.name === 'h2'), { ramMb: 8192, usedRamMb: 512, usedVcpus: 0 });
  t.like(hosts.find((h) => h.name === 'h3'), { ramMb: 8192, usedRamMb: 2048 });
  t.like(world.hostState('h2').capacity, { usedRamMb: 512 });
  await downAndForced(world, driver);
  // h2 has 8192 − 512 = 7680 for instances, h3 6144: 7681 MB fits nowhere, 7680 exactly on h2.
  await driver.evacuate('vm-7681');
  await world.idle();
  t.like(world.instanceState('vm-7681'), { host: 'h1', status: 'ERROR' });
  await driver.evacuate('vm-7680');
  await world.idle();
  t.like(world.instanceState('vm-7680'), { host: 'h2', status: 'ACTIVE' });
  t.like((await driver.listHosts()).find((h) => h.name === 'h2'), { usedRamMb: 8192 });
  t.throws(() => createWorld({ hosts: [{ name: 'x', vcpus: 1, ramMb: 1024, reservedRamMb: -1 }] }), { code: 'RSR_INPUT_INVALID' });
});

test('sim world: the scheduler prefers most free RAM, skips reserved spares unless nothing else fits or targeted', async (t) => {
  const { world, driver } = small();
  await downAndForced(world, driver);
  await driver.evacuate('vm-1');
  await world.idle();
  t.is(world.instanceState('vm-1').host, 'h2', 'h2 has more free RAM than h3; the spare more still but is reserved');
  await driver.evacuate('vm-2', 'spare');
  await world.idle();
  t.is(world.instanceState('vm-2').host, 'spare');

  const { world: w2, driver: d2 } = small();
  await d2.setServiceEnabled('h2', false, 'maintenance');
  await d2.setServiceEnabled('h3', false, 'maintenance');
  await downAndForced(w2, d2);
  await d2.evacuate('vm-1');
  await w2.idle();
  t.is(w2.instanceState('vm-1').host, 'spare', 'the spare is the last resort');
});

test('sim world: live migration moves a running instance; refused when the source is down', async (t) => {
  const { world, driver } = small();
  await driver.liveMigrate('vm-1', 'h3');
  t.like(world.instanceState('vm-1'), { status: 'MIGRATING', taskState: 'migrating' });
  await world.idle();
  t.like(world.instanceState('vm-1'), { status: 'ACTIVE', host: 'h3', taskState: null, guestRunning: true });
  t.like((await driver.listMigrations('vm-1'))[0], { type: 'live-migration', source: 'h1', dest: 'h3', status: 'completed' });
  world.failHost('h1', 'service');
  await t.throwsAsync(driver.liveMigrate('vm-2'), { code: 'RSR_CLOUD_CONFLICT' });
});

// ---- faults --------------------------------------------------------------------------------------

test('sim world fault live-migrate-fails: the migration fails and the instance stays ACTIVE on its source', async (t) => {
  const { world, driver } = small();
  world.injectFault({ kind: 'live-migrate-fails', instance: 'vm-1' });
  await driver.liveMigrate('vm-1');
  await world.idle();
  t.like(world.instanceState('vm-1'), { status: 'ACTIVE', host: 'h1', taskState: null });
  t.is((await driver.listMigrations('vm-1'))[0]?.status, 'failed');
  t.is((await driver.listHosts()).find((h) => h.name === 'h2')?.usedVcpus, 1, 'the destination claim was released');
  await driver.liveMigrate('vm-1');
  await world.idle();
  t.not(world.instanceState('vm-1').host, 'h1');
});

test('sim world fault never-active: the evacuated instance stays in REBUILD', async (t) => {
  const { world, driver } = small();
  world.injectFault({ kind: 'never-active', instance: 'vm-1' });
  await downAndForced(world, driver);
  await driver.evacuate('vm-1');
  await world.idle();
  t.like(world.instanceState('vm-1'), { status: 'REBUILD', taskState: 'rebuild_spawning' });
  t.is((await driver.listMigrations('vm-1'))[0]?.status, 'pre-migrating');
  await t.throwsAsync(driver.evacuate('vm-1'), { code: 'RSR_CLOUD_CONFLICT' });
});

test('sim world fault image-gone: local disks fail to rebuild, shared and volume-backed ones do not; clearing restores it', async (t) => {
  const { world, driver } = small();
  const id = world.injectFault({ kind: 'image-gone', image: 'img-a' });
  t.false(await driver.imageExists('img-a'));
  await downAndForced(world, driver);
  await driver.evacuate('vm-1');
  await driver.evacuate('vm-2');
  await world.idle();
  t.is(world.instanceState('vm-1').status, 'ACTIVE');
  t.like(world.instanceState('vm-2'), { status: 'ERROR', host: 'h1' });
  t.true(world.clearFault(id));
  t.true(await driver.imageExists('img-a'));
  await driver.evacuate('vm-2');
  await world.idle();
  t.is(world.instanceState('vm-2').status, 'ACTIVE');
});

test('sim world fault api-error: the next N calls answer a retryable 503 and do nothing', async (t) => {
  const { world, driver } = small();
  await downAndForced(world, driver);
  world.injectFault({ kind: 'api-error', action: 'evacuate', times: 2 });
  for (let i = 0; i < 2; i++) {
    const error = (await t.throwsAsync(driver.evacuate('vm-1'))) as ResurrectError;
    t.like(error, { code: 'RSR_DRIVER_UNAVAILABLE', retryable: true });
    t.is(error.details.httpStatus, 503);
    t.is(world.instanceState('vm-1').taskState, null);
  }
  await t.notThrowsAsync(driver.evacuate('vm-1'));
  t.is(world.count('evacuate', 'vm-1', 'refused'), 2);
  t.is(world.count('evacuate', 'vm-1', 'accepted'), 1);
  t.is(world.count('getInstance'), 0, 'other actions are not affected');
});

test('sim world fault probability: fires as often as the seed says, the same way for the same seed', async (t) => {
  const outcomes = async (seed: number) => {
    const { world, driver } = small({ seed });
    world.injectFault({ kind: 'api-error', action: 'getInstance', probability: 0.5 });
    const results: boolean[] = [];
    for (let i = 0; i < 40; i++) results.push(await driver.getInstance('vm-1').then(() => true, () => false));
    return results;
  };
  const a = await outcomes(3);
  t.deepEqual(a, await outcomes(3));
  t.true(a.includes(true) && a.includes(false));
});

test('sim world fault bmc-lies-off: the BMC says off, the host runs on and still heartbeats', async (t) => {
  const { world, driver } = small();
  const id = world.injectFault({ kind: 'bmc-lies-off', host: 'h1' });
  const bmc = world.powerDevice('h1');
  await bmc.off();
  t.is(await bmc.status(), 'off');
  t.like(world.hostState('h1'), { power: 'on', running: true, devices: { bmc: 'off', pdu: 'on' } });
  t.is((await driver.getService('h1')).state, 'up');
  await t.throwsAsync(driver.evacuate('vm-1'), { message: 'Compute service of h1 is still in use.' });
  world.clearFault(id);
  t.is(await bmc.status(), 'on', 'the lie ends with the fault');
});

test('sim world fault bmc-stuck-on: off is accepted, nothing happens', async (t) => {
  const { world } = small();
  world.injectFault({ kind: 'bmc-stuck-on', host: 'h1' });
  await world.powerDevice('h1').off();
  t.is(await world.powerDevice('h1').status(), 'on');
  t.is(world.hostState('h1').power, 'on');
});

test('sim world fault bmc-unreachable, and a PDU cut takes the BMC down with the host', async (t) => {
  const { world } = small();
  world.injectFault({ kind: 'bmc-unreachable', host: 'h1' });
  await t.throwsAsync(world.powerDevice('h1').status(), { code: 'RSR_DRIVER_UNAVAILABLE' });
  await world.powerDevice('h2', 'pdu').off();
  t.like(world.hostState('h2'), { power: 'off', outlet: 'off', running: false });
  await t.throwsAsync(world.powerDevice('h2').off(), { code: 'RSR_DRIVER_UNAVAILABLE' });
  await world.powerDevice('h2', 'pdu').on();
  await world.idle();
  t.like(world.hostState('h2'), { power: 'on', running: true, serviceAlive: true });
});

test('sim world fault bmc-hangs: calls never answer until the caller aborts', async (t) => {
  const { world } = small();
  world.injectFault({ kind: 'bmc-hangs', host: 'h1' });
  const controller = new AbortController();
  const pending = world.powerDevice('h1').status(controller.signal);
  let settled = false;
  void pending.catch(() => undefined).finally(() => (settled = true));
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.false(settled);
  const reason = new Error('timeout');
  controller.abort(reason);
  t.is(await t.throwsAsync(pending), reason);
});

test('sim world: injectFault validates its spec and its references', (t) => {
  const { world } = small();
  t.throws(() => world.injectFault({ kind: 'meteor' }), { code: 'RSR_INPUT_INVALID' });
  t.throws(() => world.injectFault({ kind: 'api-error', action: 'evacuate', times: 0 }), { code: 'RSR_INPUT_INVALID' });
  t.throws(() => world.injectFault({ kind: 'bmc-stuck-on', host: 'h9' }), { code: 'RSR_CLOUD_NOT_FOUND' });
  t.throws(() => world.injectFault({ kind: 'never-active', instance: 'vm-9' }), { code: 'RSR_CLOUD_NOT_FOUND' });
  t.deepEqual(world.faults(), []);
});

// ---- counters and events -------------------------------------------------------------------------

test('sim world: counters count every call per action, subject and outcome', async (t) => {
  const { world, driver } = small();
  await driver.getInstance('vm-1');
  await driver.getInstance('vm-1');
  await t.throwsAsync(driver.evacuate('vm-1'));
  await t.throwsAsync(driver.getInstance('vm-9'));
  t.is(world.count('getInstance'), 3);
  t.is(world.count('getInstance', 'vm-1'), 2);
  t.is(world.count('getInstance', undefined, 'refused'), 1);
  t.is(world.count('evacuate', 'vm-1', 'refused'), 1);
  t.is(world.count('evacuate', 'vm-2'), 0);
  t.deepEqual(world.counters().actions.evacuate, { accepted: 0, refused: 1, total: 1 });
  t.deepEqual(world.counters().subjects.getInstance, { 'vm-1': { accepted: 2, refused: 0, total: 2 }, 'vm-9': { accepted: 0, refused: 1, total: 1 } });
  world.resetCounters();
  t.is(world.count('getInstance'), 0);
});

test('sim world: change events tell the story in order', async (t) => {
  const { world, driver } = small();
  const seen: WorldEvent[] = [];
  world.on('change', (e) => seen.push(e));
  await downAndForced(world, driver);
  await driver.evacuate('vm-1');
  await world.idle();
  t.deepEqual(seen.map((e) => e.seq), [...seen.map((e) => e.seq)].sort((a, b) => a - b));
  const types = seen.map((e) => e.type);
  t.true(types.indexOf('host') < types.indexOf('api'));
  t.true(seen.some((e) => e.type === 'migration' && e.instance === 'vm-1' && /evacuated/.test(e.message)));
  t.false(seen.some((e) => e.type === 'api' && e.message.startsWith('getInstance')), 'reads are counted, not narrated');
  t.deepEqual(world.events().map((e) => e.seq), seen.map((e) => e.seq));
});
