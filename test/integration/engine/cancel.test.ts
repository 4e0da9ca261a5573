import test from 'ava';
import { DEFAULT_WORKFLOWS } from '../../../src/config/config';
import { TOKENS } from '../../../src/container';
import type { Keys } from '../../../src/engine/keys';
import { useRedis } from '../../helpers/redis';
import { until } from '../../helpers/wait';
import { smallWorld, startEngine } from '../../helpers/engine';

const redis = useRedis(test);
const notifyOnly = { workflows: { ...DEFAULT_WORKFLOWS, 'host-down': 'notify-only' } };

/** Rebuilds take ~1.5 s of real time; everything else is near-instant. */
const slowRebuilds = () => smallWorld({ timeScale: 0.001, latency: { completeMs: { evacuate: 1_500_000 } } });

test('cancel of a running host evacuation stops it and its children: no evacuate call after the cancel, incident cancelled', async (t) => {
  const world = slowRebuilds();
  const h = await startEngine(redis, { world });
  t.teardown(() => h.close());
  world.failHost('compute-1', 'power');
  // vm-a's evacuation keeps failing: without the cancel it would be issued again on every retry.
  world.injectFault({ kind: 'evacuate-fails', instance: 'vm-a', times: 100 });
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  await until(async () => world.count('evacuate', 'vm-b', 'accepted') === 1 && world.count('evacuate', 'vm-a') >= 1, 10_000);

  const result = await h.app.engine.cancel(incident.recoveryId, 'alice', 'wrong host');
  t.is(result.state, 'cancelling');
  t.is(result.descendants.length, 3);
  const closed = await h.waitClosed(incident.id, 10_000);
  t.is(closed.status, 'cancelled');
  t.is(closed.outcome, 'cancelled');
  t.regex(closed.reason ?? '', /cancelled by alice: wrong host/);
  await until(async () => (await h.app.engine.children(incident.recoveryId)).every((c) => c.status === 'done'), 5_000);
  const evacuations = world.count('evacuate');
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  t.is(world.count('evacuate'), evacuations, 'no evacuate call after the cancel took effect');

  const children = await h.app.engine.children(incident.recoveryId);
  for (const child of children) {
    t.is(child.outcome, 'cancelled', child.id);
    t.regex(child.reason ?? '', new RegExp(`cancelled by alice with ${incident.recoveryId}`));
    const trail = await h.trail(child.id);
    t.true(trail.some((m) => m.startsWith(`cancel requested by alice with ${incident.recoveryId}`)), trail.join('\n'));
  }
  // The instance locks are free again.
  const keys = h.app.container.get<Keys>(TOKENS.keys);
  for (const vm of ['vm-a', 'vm-b', 'vm-c']) t.is(await h.app.redis.get(keys.activeInstance(vm)), null, vm);
  const trail = await h.trail(incident.recoveryId);
  t.true(trail.some((m) => /^cancel requested by alice: wrong host \(was waiting at awaitingChildren\)$/.test(m)), trail.join('\n'));
  t.true(trail.includes('recovery cancelled: cancelled by alice: wrong host'), trail.join('\n'));
  t.true(trail.includes('incident cancelled: cancelled by alice: wrong host'), trail.join('\n'));
  t.deepEqual((await h.app.engine.listIncidents({ status: 'cancelled' })).items.map((i) => i.id), [incident.id]);
  t.is((await h.app.engine.listRecoveries({ outcome: 'cancelled', incident: incident.id })).items.length, 4);
});

test('cancel of a running step stops it within about a second, and a second cancel changes nothing', async (t) => {
  const world = slowRebuilds();
  const h = await startEngine(redis, { world });
  t.teardown(() => h.close());
  world.failHost('compute-1', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  await until(async () => world.count('evacuate', 'vm-a', 'accepted') === 1, 10_000);
  const child = (await h.app.engine.children(incident.recoveryId)).find((c) => c.subject.instance === 'vm-a')!;
  t.is((await h.app.engine.recovery(child.id)).status, 'running');
  const started = Date.now();
  t.is((await h.app.engine.cancel(child.id, 'bob')).state, 'cancelling');
  t.is((await h.app.engine.cancel(child.id, 'bob')).state, 'already-requested', 'idempotent while under way');
  await until(async () => (await h.app.engine.recovery(child.id)).status === 'done', 5_000);
  t.true(Date.now() - started < 2_500, `stopped after ${Date.now() - started} ms`);
  const done = await h.app.engine.recovery(child.id);
  t.is(done.outcome, 'cancelled');
  t.is(done.state, 'evacuating', 'stopped where it stood');
  t.like(await h.app.engine.cancel(child.id, 'bob'), { state: 'finished', outcome: 'cancelled' });
  const trail = await h.trail(child.id);
  t.is(trail.filter((m) => m.startsWith('cancel requested')).length, 1, trail.join('\n'));
  // The siblings are not cancelled; the parent reports the cancelled child as not recovered.
  const closed = await h.waitClosed(incident.id, 20_000);
  t.is(closed.outcome, 'partial');
  t.is(world.count('evacuate', 'vm-a'), 1);
});

test('cancel of a parked notify-only recovery is delivered to the workflow, which ends cancelled', async (t) => {
  const h = await startEngine(redis, { config: notifyOnly });
  t.teardown(() => h.close());
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-2' });
  await until(async () => (await h.app.engine.recovery(incident.recoveryId)).status === 'waiting');
  await h.app.engine.cancel(incident.recoveryId, 'carol', 'false alarm');
  const closed = await h.waitClosed(incident.id);
  t.is(closed.status, 'cancelled');
  t.is(closed.outcome, 'cancelled');
  const trail = await h.trail(incident.recoveryId);
  t.true(trail.includes('woken by recovery.cancel at awaitingDecision'), trail.join('\n'));
  t.true(trail.includes('awaitingDecision → cancelled'), 'the workflow took the event itself');
});

test('cancel of a queued recovery ends it cancelled as soon as a worker claims it, with no step run', async (t) => {
  const prefix = redis.newPrefix();
  const world = smallWorld();
  const api = await startEngine(redis, { prefix, world, worker: false });
  t.teardown(() => api.close());
  world.failHost('compute-1', 'power');
  const { incident } = await api.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  t.is((await api.app.engine.recovery(incident.recoveryId)).status, 'queued');
  t.is((await api.app.engine.cancel(incident.recoveryId, 'dave')).state, 'cancelling');
  const worker = await startEngine(redis, { prefix, world, workerName: 'late-worker' });
  t.teardown(() => worker.close());
  const closed = await worker.waitClosed(incident.id);
  t.is(closed.outcome, 'cancelled');
  t.is(world.count('bmc.off'), 0, 'nothing fenced');
  const records = (await worker.app.engine.audit(incident.recoveryId)).map((r) => r.record);
  t.deepEqual(records.filter((r) => r.type === 'transition'), [], 'the machine never ran');
});

test('cancel of a child waiting for an instance another recovery holds takes effect at once, without the lock', async (t) => {
  const h = await startEngine(redis, { config: { workflows: { ...DEFAULT_WORKFLOWS, 'instance-down': 'notify-only' } } });
  t.teardown(() => h.close());
  // vm-a's own recovery waits for an operator, holding vm-a's instance lock.
  const holder = await h.app.engine.report({ kind: 'instance-down', host: 'compute-1', instance: 'vm-a' });
  await until(async () => (await h.app.engine.recovery(holder.incident.recoveryId)).status === 'waiting');
  h.world.failHost('compute-1', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  await until(async () => (await h.app.engine.children(incident.recoveryId)).filter((c) => c.status === 'done').length === 2, 10_000);
  const blocked = (await h.app.engine.children(incident.recoveryId)).find((c) => c.subject.instance === 'vm-a')!;
  t.not(blocked.status, 'done', 'waits for the instance');
  await h.app.engine.cancel(blocked.id, 'erin');
  await until(async () => (await h.app.engine.recovery(blocked.id)).status === 'done', 3_000);
  t.is((await h.app.engine.recovery(blocked.id)).outcome, 'cancelled');
  t.is(h.world.count('evacuate', 'vm-a'), 0);
  t.is((await h.waitClosed(incident.id)).outcome, 'partial');
  const keys = h.app.container.get<Keys>(TOKENS.keys);
  t.is(await h.app.redis.get(keys.activeInstance('vm-a')), holder.incident.recoveryId, 'the holder keeps its lock');
});
