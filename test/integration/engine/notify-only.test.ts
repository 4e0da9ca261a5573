import test from 'ava';
import { DEFAULT_WORKFLOWS } from '../../../src/config/config';
import { definePlugin } from '../../../src/plugins/api';
import { useRedis } from '../../helpers/redis';
import { until } from '../../helpers/wait';
import { smallWorld, startEngine } from '../../helpers/engine';

const redis = useRedis(test);
const notifyOnly = { workflows: { ...DEFAULT_WORKFLOWS, 'host-down': 'notify-only' } };

const untilStatus = (get: () => Promise<{ status: string }>, status: string) => until(async () => (await get()).status === status);

test('notify-only: records, notifies, and waits durably; a decision after an engine restart resolves it', async (t) => {
  const world = smallWorld();
  const prefix = redis.newPrefix();
  const first = await startEngine(redis, { world, prefix, config: notifyOnly });
  t.teardown(() => first.close());
  world.failHost('compute-1', 'power');
  const { incident } = await first.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  await untilStatus(() => first.app.engine.recovery(incident.recoveryId), 'waiting');
  await first.close();

  // Nothing holds the recovery while it waits: a new engine (new worker) takes the decision.
  const second = await startEngine(redis, { world, prefix, config: notifyOnly, workerName: 'worker-b' });
  t.teardown(() => second.close());
  t.is((await second.app.engine.incident(incident.id)).status, 'open');
  await second.app.engine.decide(incident.recoveryId, 'resolve', 'alice', 'host replaced by hand');
  const closed = await second.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered');
  t.regex(closed.reason ?? '', /decided by alice: host replaced by hand/);
  t.is(world.count('evacuate'), 0);
  t.is(world.count('bmc.off'), 0);
  const trail = await second.trail(incident.recoveryId);
  t.true(trail.some((m) => /^warning decision\.requested/.test(m)), trail.join('\n'));
  t.true(trail.includes('woken by operator.decision at awaitingDecision'), trail.join('\n'));
  t.true(trail.includes('awaitingDecision → resolved'));
});

test('notify-only: a deny decision closes the incident as skipped', async (t) => {
  const h = await startEngine(redis, { config: notifyOnly });
  t.teardown(() => h.close());
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-2' });
  await untilStatus(() => h.app.engine.recovery(incident.recoveryId), 'waiting');
  await h.app.engine.decide(incident.recoveryId, 'deny', 'bob');
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'skipped');
  t.is(closed.status, 'resolved');
});

test('notify-only: a decision that arrives while the recovery is still notifying waits for it to park, then applies', async (t) => {
  let notified = 0;
  const slowPager = definePlugin({
    name: 'slow-pager',
    notifiers: [{ kind: 'notifier', name: 'slow', create: () => ({ name: 'slow', notify: async () => { await new Promise((r) => setTimeout(r, 400)); notified++; } }) }],
  });
  const h = await startEngine(redis, { plugins: [slowPager], config: { ...notifyOnly, notifiers: [{ type: 'plugin', name: 'slow' }] } });
  t.teardown(() => h.close());
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-2' });
  await untilStatus(() => h.app.engine.recovery(incident.recoveryId), 'running');
  await h.app.engine.decide(incident.recoveryId, 'resolve', 'carol');
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered');
  t.is(notified, 1);
  const trail = await h.trail(incident.recoveryId);
  t.true(trail.indexOf('notifying → awaitingDecision') < trail.indexOf('woken by operator.decision at awaitingDecision'), trail.join('\n'));
});
