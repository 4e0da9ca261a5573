import test from 'ava';
import { useRedis } from '../../helpers/redis';
import { until } from '../../helpers/wait';
import { smallWorld, startEngine } from '../../helpers/engine';

const redis = useRedis(test);

/** Rebuilds take ~1.5 s of real time; everything else is near-instant. */
const slowRebuilds = () => smallWorld({ timeScale: 0.001, latency: { completeMs: { evacuate: 1_500_000 } } });


test('a worker stopped abruptly mid-step ⇒ another worker resumes from the snapshot; every VM recovered exactly once', async (t) => {
  const world = slowRebuilds();
  const prefix = redis.newPrefix();
  const first = await startEngine(redis, { world, prefix, workerName: 'worker-a' });
  t.teardown(() => first.close());
  world.failHost('compute-1', 'power');
  const { incident } = await first.app.engine.report({ kind: 'host-down', host: 'compute-1' });

  // Wait until every evacuation is in flight: the workers are inside evacuateInstance, polling.
  await until(async () => ['vm-a', 'vm-b', 'vm-c'].every((id) => world.count('evacuate', id, 'accepted') === 1), 10_000);
  await first.close({ abrupt: true });
  t.is((await first.app.engine.incident(incident.id).catch(() => undefined))?.status ?? 'open', 'open');

  const second = await startEngine(redis, { world, prefix, workerName: 'worker-b' });
  t.teardown(() => second.close());
  const closed = await second.waitClosed(incident.id, 30_000);
  t.is(closed.outcome, 'recovered');
  for (const id of ['vm-a', 'vm-b', 'vm-c']) {
    t.is(world.count('evacuate', id, 'accepted'), 1, `${id} evacuated exactly once across both workers`);
    t.is(world.instanceState(id).status, 'ACTIVE');
  }
  t.deepEqual(world.splitBrains(), []);
  const children = await second.app.engine.children(incident.recoveryId);
  for (const child of children) {
    const rows = (await second.app.engine.audit(child.id)).map((r) => r.record);
    t.true(rows.some((r) => r.worker === 'worker-a' && r.type === 'transition' && r.to === 'evacuating'), `${child.id} started on worker-a`);
    t.true(rows.some((r) => r.worker === 'worker-b' && /resumed at evacuating/.test(r.message)), `${child.id} resumed on worker-b`);
    t.true(rows.some((r) => r.worker === 'worker-b' && r.to === 'recovered'));
  }
});

test('a persisted snapshot restores the machine into the state it was in, not from the start', async (t) => {
  const world = slowRebuilds();
  const prefix = redis.newPrefix();
  const first = await startEngine(redis, { world, prefix, workerName: 'worker-a' });
  t.teardown(() => first.close());
  world.failHost('compute-1', 'power');
  const { incident } = await first.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  await until(async () => world.count('evacuate', 'vm-a', 'accepted') === 1, 10_000);
  await first.close({ abrupt: true });
  const fencesBefore = world.count('bmc.off');
  // The fan-out lists the host too (facts for decisions and placement); both happened before the stop.
  const listsBefore = world.count('listInstances');
  const second = await startEngine(redis, { world, prefix, workerName: 'worker-b' });
  t.teardown(() => second.close());
  await second.waitClosed(incident.id, 30_000);
  t.is(world.count('bmc.off'), fencesBefore, 'the resumed host recovery does not fence again');
  t.is(world.count('listInstances'), listsBefore, 'nor list the host again');
});

test('a worker stopped abruptly at any moment, even while a job is only starting, leaves nothing half-done', async (t) => {
  const world = smallWorld();
  const prefix = redis.newPrefix();
  const incidents: string[] = [];
  // Stop each worker a little later than the last, so some stops land while a job is reading its snapshot.
  // Two hosts fail (compute-3 and -4 stay as targets); later short-lived workers pick up the jobs left behind.
  for (const [i, host] of ['compute-1', 'compute-2', undefined, undefined].entries()) {
    const h = await startEngine(redis, { world, prefix, workerName: `short-lived-${i}` });
    if (host) {
      world.failHost(host, 'power');
      incidents.push((await h.app.engine.report({ kind: 'host-down', host })).incident.id);
    }
    await new Promise((resolve) => setTimeout(resolve, i * 3));
    await t.notThrowsAsync(h.close({ abrupt: true }));
  }
  const survivor = await startEngine(redis, { world, prefix, workerName: 'survivor' });
  t.teardown(() => survivor.close());
  for (const id of incidents) t.is((await survivor.waitClosed(id, 30_000)).outcome, 'recovered');
  for (const vm of ['vm-a', 'vm-b', 'vm-c', 'vm-d']) t.is(world.count('evacuate', vm, 'accepted'), 1, vm);
});
