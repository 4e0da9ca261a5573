import test from 'ava';
import { useRedis } from '../../helpers/redis';
import { startEngine } from '../../helpers/engine';

const redis = useRedis(test);

test('restart-in-place: a crashed instance is stopped/started on its own host and ACTIVE again', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.crashInstance('vm-d');
  const { incident } = await h.app.engine.report({ kind: 'instance-down', host: 'compute-2', instance: 'vm-d' });
  t.is(incident.workflow, 'restart-in-place');
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered');
  const vm = h.world.instanceState('vm-d');
  t.is(vm.status, 'ACTIVE');
  t.is(String(vm.host), 'compute-2');
  t.true(vm.guestRunning);
  t.is(h.world.count('startInstance', 'vm-d', 'accepted'), 1);
  t.is(h.world.count('evacuate'), 0);
});

test('restart-in-place: an instance already running again is left alone', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  const { incident } = await h.app.engine.report({ kind: 'instance-down', host: 'compute-2', instance: 'vm-d' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered');
  t.is(h.world.count('startInstance', 'vm-d'), 0);
  t.is(h.world.count('stopInstance', 'vm-d'), 0);
});

test('restart-in-place: a compute service that is down ⇒ no stop/start cast into the void, escalated', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.crashInstance('vm-d');
  h.world.failHost('compute-2', 'service');
  const { incident } = await h.app.engine.report({ kind: 'instance-down', host: 'compute-2', instance: 'vm-d' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'escalated');
  t.regex(closed.reason ?? '', /compute service of compute-2 is down/);
  t.is(h.world.count('startInstance', 'vm-d'), 0);
  t.is(h.world.count('stopInstance', 'vm-d'), 0);
});

test('restart-in-place: stop/start that never comes back falls back to a hard reboot when configured', async (t) => {
  const h = await startEngine(redis, { config: { paramsByKind: { 'instance-down': { fallback: 'hard-reboot' } } } });
  t.teardown(() => h.close());
  h.world.crashInstance('vm-d');
  h.world.injectFault({ kind: 'api-error', action: 'startInstance', times: 10 });
  const { incident } = await h.app.engine.report({ kind: 'instance-down', host: 'compute-2', instance: 'vm-d' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered');
  t.is(h.world.count('rebootInstance', 'vm-d', 'accepted'), 1);
  const trail = await h.trail(incident.recoveryId);
  t.true(trail.includes('restarting → rebooting'), trail.join('\n'));
});

test('restart-in-place: after the retry budget with no fallback ⇒ escalated, the audit shows every attempt', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.crashInstance('vm-d');
  h.world.injectFault({ kind: 'api-error', action: 'startInstance', times: 10 });
  const { incident } = await h.app.engine.report({ kind: 'instance-down', host: 'compute-2', instance: 'vm-d' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'escalated');
  const trail = await h.trail(incident.recoveryId);
  t.is(trail.filter((m) => /^step restartInstance failed on attempt/.test(m)).length, 3, trail.join('\n'));
  t.true(trail.some((m) => /restarting → escalating/.test(m)));
});
