/**
 * The simulated Nova when a fenced host comes back, as on a real Nova (≥ Xena; measured in the lab, see
 * ../shared/lab/README.md "Getting the host back"): evacuations from it stay `done` while it is down and
 * become `completed` when its nova-compute starts again (init_host, even while still forced down); until
 * then lifting forced_down is refused with Nova's 400; the service's first heartbeat comes a little after
 * the start, so its `updated_at` (and `up`) only move then.
 */
import test from 'ava';
import type { ResurrectError } from '../../../src/domain';
import { createWorld, type WorldSpecInput } from '../../../src/drivers/cloud/sim/inventory';
import { SimCloudDriver } from '../../../src/drivers/cloud/sim/sim-cloud-driver';
import type { SimWorldOptions } from '../../../src/drivers/cloud/sim/world';
import { ManualClock } from '../../helpers/manual-clock';

const SPEC: WorldSpecInput = {
  flavors: { small: { vcpus: 1, ramMb: 2048 } },
  images: ['img-a'],
  hosts: [{ name: 'h1', vcpus: 16, ramMb: 32768 }, { name: 'h2', vcpus: 16, ramMb: 32768 }],
  instances: [
    { id: 'vm-1', host: 'h1', flavor: 'small', image: 'img-a', sharedStorage: true },
    { id: 'vm-2', host: 'h1', flavor: 'small', image: 'img-a', sharedStorage: false },
  ],
};

const NOVA_REFUSAL = 'Unable to force up host h1 as `done` evacuation migration records remain associated with the host. '
  + 'Ensure the compute service has been restarted, allowing these records to move to `completed` before retrying this request.';

/** Latency-free except the boot (10 s) and the first report after nova-compute starts (5 s), on a manual clock. */
function world(options: SimWorldOptions = {}) {
  const clock = new ManualClock();
  const w = createWorld(SPEC, {
    seed: 1, clock, timeScale: 1,
    latency: { jitter: 0, acceptMs: Object.fromEntries(['getService', 'setServiceForcedDown', 'setServiceEnabled', 'evacuate', 'listEvacuations', 'listMigrations', 'bmc.on', 'bmc.off', 'bmc.status'].map((a) => [a, 0])), completeMs: { evacuate: 0, hostBoot: 10_000, serviceReport: 5_000 } },
    ...options,
  });
  return { w, clock, driver: new SimCloudDriver(w) };
}

/** h1 loses power, is forced down, and both its instances are evacuated (migrations `done`). */
async function fencedAndEvacuated({ w, clock, driver }: ReturnType<typeof world>) {
  w.failHost('h1', 'power');
  await driver.setServiceForcedDown('h1', true);
  await driver.evacuate('vm-1');
  await driver.evacuate('vm-2');
  await clock.advance(1);
  await w.idle();
}

test('sim: evacuations from a dead host stay done; its nova-compute, started by a power-on, completes them even while forced down', async (t) => {
  const s = world();
  await fencedAndEvacuated(s);
  const { w, clock, driver } = s;
  t.deepEqual((await driver.listEvacuations('h1')).map((m) => [m.instance, m.status]).sort(), [['vm-1', 'done'], ['vm-2', 'done']]);
  t.deepEqual(await driver.listEvacuations('h2'), [], 'only records whose source is the host');
  await clock.advance(60_000);
  t.true((await driver.listEvacuations('h1')).every((m) => m.status === 'done'), 'time alone completes nothing');

  await w.powerDevice('h1').on();
  await clock.advance(9_000);
  t.true((await driver.listEvacuations('h1')).every((m) => m.status === 'done'), 'still booting');
  await clock.advance(1_000);
  t.true(w.hostState('h1').serviceAlive);
  t.true((await driver.listEvacuations('h1')).every((m) => m.status === 'completed'), 'init_host completed them');
  t.true((await driver.getService('h1')).forcedDown, 'still forced down: the cleanup does not wait for that');
  await t.throwsAsync(driver.listEvacuations('nope'), { code: 'RSR_CLOUD_NOT_FOUND' });
  t.is(w.count('listEvacuations', 'h1'), 4, 'a read counted like every call');
});

test("sim: lifting forced_down is refused with Nova's 400 while done evacuations remain, then accepted once they are completed", async (t) => {
  const s = world();
  await fencedAndEvacuated(s);
  const { w, clock, driver } = s;
  const refusal = await t.throwsAsync(driver.setServiceForcedDown('h1', false));
  t.like(refusal, { code: 'RSR_CLOUD_CONFLICT', retryable: true, message: NOVA_REFUSAL });
  t.like((refusal as ResurrectError).details, { host: 'h1', httpStatus: 400 });
  t.true((await driver.getService('h1')).forcedDown, 'nothing saved');
  t.is(w.count('setServiceForcedDown', 'h1', 'refused'), 1);

  await w.powerDevice('h1').on();
  await clock.advance(5_000);
  await t.throwsAsync(driver.setServiceForcedDown('h1', false), { message: NOVA_REFUSAL }, 'booting: not cleaned up yet');
  await clock.advance(5_000);
  const lifted = await driver.setServiceForcedDown('h1', false);
  t.false(lifted.forcedDown);
  t.is(w.count('setServiceForcedDown', 'h1', 'refused'), 2);
  t.true(w.events().some((e) => e.type === 'api' && /setServiceForcedDown h1 refused: Unable to force up host h1/.test(e.message)), 'the world\'s story says so');
});

test('sim: the refusal does not depend on the flag: forced_down=false on a service no longer forced down is refused too', async (t) => {
  const s = world();
  await fencedAndEvacuated(s);
  const { driver } = s;
  // As Nova's API does: the check is on the records, whatever the flag says now.
  await t.throwsAsync(driver.setServiceForcedDown('h1', false), { message: NOVA_REFUSAL });
  t.like(await driver.setServiceForcedDown('h1', true), { forcedDown: true }, 'forcing down is never refused');
});

test('sim: a freshly powered-on host reports up only after its first heartbeat, a report interval after nova-compute started', async (t) => {
  const { w, clock, driver } = world();
  w.failHost('h1', 'power');
  const stoppedAt = Date.parse((await driver.getService('h1')).updatedAt);
  await clock.advance(30_000);
  await w.powerDevice('h1').on();
  const poweredOnAt = clock.now();
  await clock.advance(10_000);
  t.true(w.hostState('h1').running, 'booted, nova-compute running');
  let service = await driver.getService('h1');
  t.is(service.state, 'down', 'started but not reported yet');
  t.is(Date.parse(service.updatedAt), stoppedAt, 'updated_at is still the last heartbeat before the power loss');
  await clock.advance(4_999);
  t.is((await driver.getService('h1')).state, 'down');
  await clock.advance(1);
  service = await driver.getService('h1');
  t.is(service.state, 'up');
  t.true(Date.parse(service.updatedAt) > poweredOnAt, 'a heartbeat newer than the power-on');
});

test('sim: a host losing power again before its first report keeps its old last heartbeat', async (t) => {
  const { w, clock, driver } = world();
  w.failHost('h1', 'power');
  const stoppedAt = Date.parse((await driver.getService('h1')).updatedAt);
  await w.powerDevice('h1').on();
  await clock.advance(12_000);
  await w.powerDevice('h1').off();
  await clock.advance(10_000);
  const service = await driver.getService('h1');
  t.is(service.state, 'down');
  t.is(Date.parse(service.updatedAt), stoppedAt);
});

test('sim: a repair at once (recoverHost) heartbeats at once, as before', async (t) => {
  const { w, driver } = world();
  w.failHost('h1', 'service');
  t.is((await driver.getService('h1')).state, 'down');
  w.recoverHost('h1');
  t.is((await driver.getService('h1')).state, 'up');
});

test("sim: a write to the service record (forced_down, disable) moves its updated_at as Nova's does, not its liveness", async (t) => {
  const { w, clock, driver } = world();
  w.failHost('h1', 'power');
  const stoppedAt = Date.parse((await driver.getService('h1')).updatedAt);
  await clock.advance(3_000);
  const forced = await driver.setServiceForcedDown('h1', true);
  t.is(Date.parse(forced.updatedAt), clock.now(), 'the PUT stamped the record');
  t.is(forced.state, 'down');
  await clock.advance(2_000);
  const disabled = await driver.setServiceEnabled('h1', false, 'fenced');
  t.is(Date.parse(disabled.updatedAt), clock.now());
  t.true(Date.parse(disabled.updatedAt) > stoppedAt);
  t.is(disabled.state, 'down', 'no heartbeat came: still down');
  // Before its power-on, nothing but our writes moved the stamp; a heartbeat after the power-on is newer still.
  await w.powerDevice('h1').on();
  await clock.advance(15_000);
  const back = await driver.getService('h1');
  t.true(Date.parse(back.updatedAt) > Date.parse(disabled.updatedAt), 'heartbeating again');
  t.is(back.state, 'down', 'forced down all the same');
  t.is((await driver.setServiceForcedDown('h1', false)).state, 'up');
});
