import test from 'ava';
import { useRedis } from '../../helpers/redis';
import { smallWorld, startEngine } from '../../helpers/engine';
import { until } from '../../helpers/wait';

const redis = useRedis(test);

test('graceful shutdown: jobs that finish within the grace period are drained, and the worker takes no new job', async (t) => {
  const world = smallWorld({ timeScale: 0.001, latency: { completeMs: { evacuate: 300_000 } } });
  const prefix = redis.newPrefix();
  const h = await startEngine(redis, { world, prefix, workerName: 'leaving' });
  t.teardown(() => h.close());
  world.failHost('compute-1', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  await until(() => world.count('evacuate', 'vm-a', 'accepted') === 1);
  t.is(await h.app.worker().shutdown(10_000), 'drained');
  // What it held is finished (bull hands a worker the parent's wake together with the last child's completion).
  const children = await h.app.engine.children(incident.recoveryId);
  t.true(children.every((c) => c.status === 'done' && c.outcome === 'recovered'));
  t.true((await h.app.engine.audit(incident.recoveryId)).every((r) => r.record.worker === undefined || r.record.worker === 'leaving'));
  // Nothing new is taken once shut down: the next incident waits for the next worker.
  const reporter = await startEngine(redis, { world, prefix, worker: false });
  t.teardown(() => reporter.close());
  world.failHost('compute-2', 'power');
  const later = await reporter.app.engine.report({ kind: 'host-down', host: 'compute-2' });
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is((await reporter.app.engine.recovery(later.incident.recoveryId)).status, 'queued');
  const next = await startEngine(redis, { world, prefix, workerName: 'arriving' });
  t.teardown(() => next.close());
  t.is((await next.waitClosed(incident.id)).outcome, 'recovered');
  t.is((await next.waitClosed(later.incident.id)).outcome, 'recovered');
  t.true((await next.app.engine.audit(later.incident.recoveryId)).some((r) => r.record.worker === 'arriving'));
});

test('graceful shutdown: jobs still running after the grace period are handed back and resumed elsewhere, nothing done twice', async (t) => {
  const world = smallWorld({ timeScale: 0.001, latency: { completeMs: { evacuate: 2_000_000 } } });
  const prefix = redis.newPrefix();
  const h = await startEngine(redis, { world, prefix, workerName: 'leaving' });
  t.teardown(() => h.close());
  world.failHost('compute-1', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  await until(() => ['vm-a', 'vm-b', 'vm-c'].every((id) => world.count('evacuate', id, 'accepted') === 1));
  t.is(await h.app.worker().shutdown(100), 'handed-back');
  const next = await startEngine(redis, { world, prefix, workerName: 'arriving' });
  t.teardown(() => next.close());
  t.is((await next.waitClosed(incident.id, 30_000)).outcome, 'recovered');
  for (const id of ['vm-a', 'vm-b', 'vm-c']) t.is(world.count('evacuate', id, 'accepted'), 1, id);
  for (const child of await next.app.engine.children(incident.recoveryId)) {
    const rows = (await next.app.engine.audit(child.id)).map((r) => r.record);
    t.true(rows.some((r) => r.worker === 'arriving' && /resumed at evacuating/.test(r.message)), child.id);
  }
});
