import test from 'ava';
import { createDemoWorld } from '../../../src/drivers/cloud/sim/demo-inventory';
import { createWorld, type WorldSpecInput } from '../../../src/drivers/cloud/sim/inventory';
import { COMPLETIONS, SIM_ACTIONS } from '../../../src/drivers/cloud/sim/actions';
import { Semaphore } from '../../../src/drivers/cloud/sim/latency';
import { SimCloudDriver } from '../../../src/drivers/cloud/sim/sim-cloud-driver';
import type { LatencyOverrides } from '../../../src/drivers/cloud/sim/latency';
import { flush, ManualClock } from '../../helpers/manual-clock';

const SPEC: WorldSpecInput = {
  hosts: [
    { name: 'h1', vcpus: 8, ramMb: 16384 },
    { name: 'h2', vcpus: 8, ramMb: 16384 },
  ],
  instances: [{ id: 'vm-1', host: 'h1', flavor: { name: 'm', vcpus: 1, ramMb: 1024 }, sharedStorage: true }],
};

/**
 * Real time (scale 1) without jitter, so the numbers in a test are the numbers on the clock; every latency
 * is 0 except those the test sets.
 */
function timed(latency: LatencyOverrides) {
  const clock = new ManualClock();
  const zero = <K extends string>(keys: readonly K[]) => Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
  const world = createWorld(SPEC, {
    clock,
    seed: 1,
    latency: {
      timeScale: 1,
      jitter: 0,
      ...latency,
      acceptMs: { ...zero(SIM_ACTIONS), ...latency.acceptMs },
      completeMs: { ...zero(COMPLETIONS), ...latency.completeMs },
    },
  });
  return { clock, world, driver: new SimCloudDriver(world) };
}

test('sim latency: the same seed gives the same jitter, another seed another, within ± jitter', (t) => {
  const samples = (seed: number) => {
    const world = createDemoWorld({ seed, timeScale: 1 });
    return Array.from({ length: 50 }, () => world.latency.sample(1000));
  };
  const a = samples(21);
  t.deepEqual(a, samples(21));
  t.notDeepEqual(a, samples(22));
  t.true(a.every((ms) => ms >= 750 && ms <= 1250));
  t.true(new Set(a).size > 10, 'jitter varies');
  const scaled = createDemoWorld({ seed: 21, timeScale: 0.01 });
  t.true(Array.from({ length: 20 }, () => scaled.latency.sample(1000)).every((ms) => ms >= 7 && ms <= 13));
  t.is(createDemoWorld({ seed: 21, timeScale: 0 }).latency.sample(1000), 0);
});

test('sim latency: calls beyond the concurrency limit queue until a slot frees', async (t) => {
  const { clock, world, driver } = timed({ acceptMs: { getInstance: 100 }, concurrency: { getInstance: 2 } });
  let done = 0;
  const calls = Array.from({ length: 5 }, () => driver.getInstance('vm-1').then(() => done++));
  await flush();
  t.deepEqual(world.latency.load('getInstance'), { active: 2, queued: 3 });
  await clock.advance(99);
  t.is(done, 0);
  await clock.advance(1);
  t.is(done, 2);
  t.deepEqual(world.latency.load('getInstance'), { active: 2, queued: 1 });
  await clock.advance(100);
  t.is(done, 4);
  await clock.advance(100);
  t.is(done, 5);
  await Promise.all(calls);
  t.deepEqual(world.latency.load('getInstance'), { active: 0, queued: 0 });
  t.deepEqual(world.latency.load('listHosts'), { active: 0, queued: 0 }, 'limits are per action');
});

test('sim latency: a call aborted while queued never reaches the cloud', async (t) => {
  const { clock, world, driver } = timed({ acceptMs: { stopInstance: 100 }, concurrency: { stopInstance: 1 } });
  const held = driver.stopInstance('vm-1');
  const controller = new AbortController();
  const queued = driver.stopInstance('vm-1', { signal: controller.signal });
  await flush();
  t.deepEqual(world.latency.load('stopInstance'), { active: 1, queued: 1 });
  const reason = new Error('gave up');
  controller.abort(reason);
  t.is(await t.throwsAsync(queued), reason);
  t.deepEqual(world.latency.load('stopInstance'), { active: 1, queued: 0 });
  await clock.advance(100);
  await held;
  t.is(world.count('stopInstance'), 1);
});

test('sim latency: the effect happens before the answer — an abort while waiting for it does not undo it', async (t) => {
  const { clock, world, driver } = timed({ acceptMs: { evacuate: 500 }, completeMs: { evacuate: 10_000 } });
  world.failHost('h1', 'power');
  await driver.setServiceForcedDown('h1', true);
  const controller = new AbortController();
  const call = driver.evacuate('vm-1', undefined, { signal: controller.signal });
  await flush();
  const reason = new Error('step timeout');
  controller.abort(reason);
  t.is(await t.throwsAsync(call), reason, 'the driver rejects at once, not after the answer latency');
  t.is(world.instanceState('vm-1').status, 'REBUILD');
  t.is(world.count('evacuate', 'vm-1', 'accepted'), 1);
  await clock.advance(10_000);
  t.is(world.instanceState('vm-1').status, 'ACTIVE');
});

test('sim latency: an answer takes acceptMs on the clock', async (t) => {
  const { clock, driver } = timed({ acceptMs: { getService: 300 } });
  let answered = false;
  const call = driver.getService('h1').then((s) => ((answered = true), s));
  await clock.advance(299);
  t.false(answered);
  await clock.advance(1);
  t.is((await call).state, 'up');
});

test('sim latency: evacuation completes on the clock, in Nova steps', async (t) => {
  const { clock, world, driver } = timed({ completeMs: { evacuate: 1000 } });
  world.failHost('h1', 'power');
  await driver.setServiceForcedDown('h1', true);
  await driver.evacuate('vm-1');
  t.like(world.instanceState('vm-1'), { status: 'REBUILD', taskState: 'rebuilding', host: 'h1' });
  t.like((await world.nova.listMigrations('vm-1'))[0], { status: 'accepted', dest: null });
  await clock.advance(250);
  // Claimed and spawning on h2; Nova names the source until the end.
  t.like(world.instanceState('vm-1'), { status: 'REBUILD', taskState: 'rebuild_spawning', host: 'h1' });
  t.like((await world.nova.listMigrations('vm-1'))[0], { status: 'pre-migrating', dest: 'h2' });
  await clock.advance(636);
  t.is(world.instanceState('vm-1').status, 'REBUILD');
  await clock.advance(1);
  // Spawned (the last 15 % of the rebuild): idle and ACTIVE, still on its source, the record in flight.
  t.like(world.instanceState('vm-1'), { status: 'ACTIVE', taskState: null, host: 'h1', guestRunning: false });
  t.like((await world.nova.listMigrations('vm-1'))[0], { status: 'pre-migrating' });
  await clock.advance(112);
  t.is(world.instanceState('vm-1').host, 'h1');
  await clock.advance(1);
  t.like(world.instanceState('vm-1'), { status: 'ACTIVE', taskState: null, host: 'h2', guestRunning: true });
  t.like((await world.nova.listMigrations('vm-1'))[0], { status: 'done', dest: 'h2' });
});

test('sim latency: a powered-on host boots after hostBoot', async (t) => {
  const { clock, world } = timed({ completeMs: { hostBoot: 5000 } });
  await world.powerDevice('h1').off();
  await world.powerDevice('h1').on();
  t.like(world.hostState('h1'), { power: 'on', running: false, service: { state: 'down' } });
  await clock.advance(5000);
  t.like(world.hostState('h1'), { running: true, service: { state: 'up' } });
});

test('sim latency: dispose cancels scheduled completions', async (t) => {
  const { clock, world, driver } = timed({ completeMs: { stop: 1000 } });
  await driver.stopInstance('vm-1');
  world.dispose();
  await clock.advance(2000);
  t.is(world.instanceState('vm-1').taskState, 'powering-off');
  t.is(clock.pendingTimers, 0);
  await world.idle();
});

test('sim latency: the semaphore serves waiters first come, first served', async (t) => {
  const gate = new Semaphore(1);
  const order: number[] = [];
  const release = await gate.acquire();
  const waiters = [1, 2, 3].map((n) => gate.acquire().then((r) => (order.push(n), r())));
  release();
  await Promise.all(waiters);
  t.deepEqual(order, [1, 2, 3]);
  t.is(gate.active, 0);
  t.throws(() => new Semaphore(0));
});
