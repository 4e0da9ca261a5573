import pino from 'pino';
import test from 'ava';
import { startPrivateRedis } from '../../src/drivers/redis/locate-redis';
import type { PrivateRedis } from '../../src/drivers/redis/locate-redis';
import { useRedis } from '../helpers/redis';
import { smallWorld, startEngine } from '../helpers/engine';
import { until } from '../helpers/wait';

// A Redis of this file's own, with AOF fsynced on every write, so it can be killed and restarted on its data.
const redis = useRedis(test, { mode: 'private', appendonly: true });

test('Redis killed (SIGKILL) and restarted on its AOF mid-recovery ⇒ the worker reconnects, every recovery finishes, nothing lost', async (t) => {
  const world = smallWorld({ timeScale: 0.001, latency: { completeMs: { evacuate: 1_500_000 } } });
  const h = await startEngine(redis, { world });
  let restarted: PrivateRedis | undefined;
  t.teardown(async () => { await h.close(); await restarted?.stop(); });
  world.failHost('compute-1', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  await until(() => ['vm-a', 'vm-b', 'vm-c'].every((id) => world.count('evacuate', id, 'accepted') === 1));

  const { port, dir } = redis.server;
  redis.server.kill('SIGKILL');
  await redis.server.exited;
  // Longer than the workers' job lock (2 s in tests): writes fail, locks lapse, jobs are taken up again.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  restarted = await startPrivateRedis({ log: pino({ level: 'silent' }), port, dir, appendonly: true, appendfsync: 'always' });

  const closed = await h.waitClosed(incident.id, 45_000);
  t.is(closed.outcome, 'recovered', closed.reason);
  for (const id of ['vm-a', 'vm-b', 'vm-c']) {
    t.is(world.count('evacuate', id, 'accepted'), 1, `${id} evacuated exactly once`);
    t.is(world.instanceState(id).status, 'ACTIVE');
  }
  // Nothing lost: the incident's trail runs from opening to close, and every child's trail is complete and ordered.
  const trail = await h.trail(incident.id);
  t.regex(trail[0] ?? '', /^incident opened/);
  t.regex(trail[trail.length - 1] ?? '', /^incident resolved/);
  for (const child of await h.app.engine.children(incident.recoveryId)) {
    const transitions = (await h.app.engine.audit(child.id)).map((r) => r.record).filter((r) => r.type === 'transition');
    const path = transitions.map((r) => r.to);
    t.deepEqual(path.filter((to, i) => to !== path[i - 1]), ['checking', 'evacuating', 'recovered'], child.id);
    for (let i = 1; i < transitions.length; i++) t.is(transitions[i]!.from, transitions[i - 1]!.to, `${child.id}: ${transitions.map((r) => `${r.from}→${r.to}`).join(', ')}`);
  }
});
