import test from 'ava';
import { useRedis } from '../../helpers/redis';
import { startEngine } from '../../helpers/engine';

const redis = useRedis(test);

test('live-migrate-first: a degraded host is disabled and drained by live migration, nothing fenced or rebuilt', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'degraded');
  const { incident } = await h.app.engine.report({ kind: 'host-degraded', host: 'compute-1' });
  t.is(incident.workflow, 'live-migrate-first');
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered');
  for (const id of ['vm-a', 'vm-b', 'vm-c']) {
    t.not(String(h.world.instanceState(id).host), 'compute-1');
    t.is(h.world.instanceState(id).status, 'ACTIVE');
    t.is(h.world.count('liveMigrate', id, 'accepted'), 1);
  }
  t.is(h.world.count('evacuate'), 0);
  t.is(h.world.hostState('compute-1').power, 'on', 'a drain never fences');
  t.is(h.world.hostState('compute-1').service.status, 'disabled');
  t.false(h.world.hostState('compute-1').service.forcedDown);
});

test('live-migrate-first: a migration that keeps failing ⇒ default fallback stops and escalates, the VM stays where it runs', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'degraded');
  h.world.injectFault({ kind: 'live-migrate-fails', instance: 'vm-b', times: 100 });
  const { incident } = await h.app.engine.report({ kind: 'host-degraded', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'partial');
  t.regex(closed.reason ?? '', /live migration failed for vm-b/);
  t.is(String(h.world.instanceState('vm-b').host), 'compute-1');
  t.is(h.world.instanceState('vm-b').status, 'ACTIVE');
  t.is(h.world.count('evacuate'), 0);
  t.is(h.world.hostState('compute-1').power, 'on');
});

test('live-migrate-first: with the fence-then-evacuate fallback allowed, the rest is evacuated after a confirmed fence', async (t) => {
  const h = await startEngine(redis, { config: { paramsByKind: { 'host-degraded': { fallback: 'fence-then-evacuate' } } } });
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'degraded');
  h.world.injectFault({ kind: 'live-migrate-fails', instance: 'vm-b', times: 100 });
  const { incident } = await h.app.engine.report({ kind: 'host-degraded', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered', `${closed.reason}\n${(await h.trail(incident.id)).join('\n')}`);
  t.is(h.world.hostState('compute-1').power, 'off');
  t.is(h.world.count('evacuate', 'vm-b', 'accepted'), 1);
  t.is(h.world.count('evacuate', 'vm-a'), 0, 'what was migrated is not evacuated');
  t.not(String(h.world.instanceState('vm-b').host), 'compute-1');
  t.deepEqual(h.world.splitBrains(), []);
});

test('live-migrate-first: nova-compute dead and not coming back ⇒ no live migration possible, escalated without evacuating', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'service');
  const { incident } = await h.app.engine.report({ kind: 'service-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'escalated');
  t.regex(closed.reason ?? '', /live migration impossible.*compute service of compute-1/);
  t.is(h.world.count('liveMigrate'), 0);
  t.is(h.world.count('evacuate'), 0);
  t.true(h.world.instanceState('vm-a').guestRunning, 'healthy guests are left running');
});

test('live-migrate-first: nova-compute restarted while we wait ⇒ the host is drained', async (t) => {
  const h = await startEngine(redis, { config: { paramsByKind: { 'service-down': { serviceWaitSeconds: 10 } } } });
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'service');
  const { incident } = await h.app.engine.report({ kind: 'service-down', host: 'compute-1' });
  setTimeout(() => h.world.recoverHost('compute-1'), 300);
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered');
  t.is(h.world.instanceIds('compute-1').length, 0);
});

test('live-migrate-first: a stopped instance is not live-migrated (Nova would refuse): skipped with a reason, the drain succeeds', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.addInstance({ id: 'vm-off', host: 'compute-1', flavor: { name: 'm1.small', vcpus: 1, ramMb: 2048, extraSpecs: {} }, sharedStorage: true, image: 'img-cirros', status: 'SHUTOFF' });
  h.world.failHost('compute-1', 'degraded');
  const { incident } = await h.app.engine.report({ kind: 'host-degraded', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered', closed.reason);
  t.is(h.world.count('liveMigrate', 'vm-off'), 0);
  t.is(String(h.world.instanceState('vm-off').host), 'compute-1');
  const results = await h.app.engine.childResults(incident.recoveryId);
  const off = results.find((r) => r.subject.instance === 'vm-off');
  t.is(off?.outcome, 'skipped');
  t.regex(off?.reason ?? '', /stopped: not live-migrated/);
});
