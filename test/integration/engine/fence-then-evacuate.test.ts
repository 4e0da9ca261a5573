import test from 'ava';
import { DEFAULT_CONFIG, DEFAULT_WORKFLOWS } from '../../../src/config/config';
import { SimCloudDriver } from '../../../src/drivers/cloud/sim/sim-cloud-driver';
import { useRedis } from '../../helpers/redis';
import { smallWorld, startEngine } from '../../helpers/engine';
import { until } from '../../helpers/wait';

const redis = useRedis(test);

test('fence-then-evacuate: a dead host is fenced, then every instance is ACTIVE elsewhere, each evacuated once', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'power');
  const { incident, created } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1', source: 'test' });
  t.true(created);
  const closed = await h.waitClosed(incident.id);
  t.is(closed.status, 'resolved');
  t.is(closed.outcome, 'recovered');
  for (const id of ['vm-a', 'vm-b', 'vm-c']) {
    const vm = h.world.instanceState(id);
    t.is(vm.status, 'ACTIVE', id);
    t.not(vm.host, 'compute-1', id);
    t.is(h.world.count('evacuate', id, 'accepted'), 1, `${id} evacuated exactly once`);
  }
  t.is(h.world.count('evacuate', 'vm-d'), 0, 'instances on healthy hosts are left alone');
  t.is(h.world.hostState('compute-1').power, 'off');
  t.true(h.world.hostState('compute-1').service.forcedDown);
  t.is(h.world.hostState('compute-1').service.status, 'disabled');
  t.deepEqual(h.world.splitBrains(), []);
  const trail = await h.trail(incident.id);
  const fenced = trail.findIndex((m) => m.startsWith('power-off of compute-1 confirmed'));
  const firstEvacuate = trail.findIndex((m) => m.startsWith('evacuate '));
  t.true(fenced >= 0 && firstEvacuate > fenced, 'fence confirmed before the first evacuation');
});

test('fence-then-evacuate: fencing fails at every level ⇒ zero evacuate calls, incident escalated with the reason', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'network'); // isolated but alive: the dangerous case
  h.world.injectFault({ kind: 'bmc-stuck-on', host: 'compute-1' });
  h.world.injectFault({ kind: 'bmc-unreachable', host: 'compute-1', device: 'pdu' });
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.status, 'escalated');
  t.is(closed.outcome, 'escalated');
  t.regex(closed.reason ?? '', /fencing failed, no instance evacuated/);
  t.is(h.world.count('evacuate'), 0);
  t.false(h.world.hostState('compute-1').service.forcedDown, 'a host not confirmed off is not forced down either');
  t.deepEqual(h.world.splitBrains(), []);
  const trail = await h.trail(incident.id);
  t.true(trail.some((m) => /fencing → escalating/.test(m)), trail.join('\n'));
  t.true(trail.some((m) => /incident escalated: fencing failed/.test(m)));
});

test('fence-then-evacuate: a BMC that reports off while the host still runs ⇒ no evacuation, escalated', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.injectFault({ kind: 'bmc-lies-off', host: 'compute-1' });
  // A monitor's false alarm: the host is fine, and the BMC claims to have switched it off.
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1', source: 'flaky-monitor' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'escalated');
  t.regex(closed.reason ?? '', /fencing not confirmed.*still heartbeats/);
  t.is(h.world.count('evacuate'), 0);
  t.true(h.world.hostState('compute-1').running, 'the host really still runs');
  t.deepEqual(h.world.splitBrains(), []);
});

test('fence-then-evacuate: evacuate fails twice then succeeds ⇒ recovered after three attempts, one successful evacuation', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'power');
  h.world.injectFault({ kind: 'evacuate-fails', instance: 'vm-a', times: 2 });
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered');
  const child = (await h.app.engine.children(incident.recoveryId)).find((c) => c.subject.instance === 'vm-a');
  t.truthy(child);
  t.is(Number(child?.attempts), 3);
  const trail = await h.trail(child!.id);
  t.is(trail.filter((m) => /^step evacuateInstance failed on attempt \d/.test(m)).length, 2, trail.join('\n'));
  t.true(trail.includes('attempt 3 resumed at evacuating'), trail.join('\n'));
  const migrations = h.world.snapshot().migrations.filter((m) => m.instance === 'vm-a' && m.type === 'evacuation');
  t.deepEqual(migrations.map((m) => m.status).sort(), ['done', 'error', 'error']);
  t.is(h.world.count('evacuate', 'vm-a', 'accepted'), 3);
  t.is(h.world.count('evacuate', 'vm-b', 'accepted'), 1, 'the others are not held back or repeated');
  t.is(h.world.instanceState('vm-a').status, 'ACTIVE');
});

test('fence-then-evacuate: an instance whose image is gone is reported, not skipped; the others recover', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'power');
  h.world.injectFault({ kind: 'image-gone', image: 'img-cirros' });
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'partial');
  t.regex(closed.reason ?? '', /vm-b failed \(not evacuable: cannot rebuild vm-b: its image img-cirros no longer exists/);
  t.is(h.world.count('evacuate', 'vm-b'), 0);
  t.is(h.world.instanceState('vm-a').status, 'ACTIVE', 'shared storage keeps the disk: no image needed');
  t.is(h.world.instanceState('vm-c').status, 'ACTIVE', 'boot from volume needs no image');
  const results = await h.app.engine.childResults(incident.recoveryId);
  t.deepEqual(results.map((r) => `${r.subject.instance}:${r.outcome}`).sort(), ['vm-a:recovered', 'vm-b:failed', 'vm-c:recovered']);
});

test('fence-then-evacuate: two identical host-down events ⇒ one incident, one recovery', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'power');
  const [first, second] = await Promise.all([
    h.app.engine.report({ kind: 'host-down', host: 'compute-1', source: 'monitor-a' }),
    h.app.engine.report({ kind: 'host-down', host: 'compute-1', source: 'monitor-b' }),
  ]);
  t.is(first.incident.id, second.incident.id);
  t.is([first.created, second.created].filter(Boolean).length, 1);
  const closed = await h.waitClosed(first.incident.id);
  t.is(closed.outcome, 'recovered');
  t.is(Number(closed.duplicates), 1);
  t.is((await h.app.engine.listIncidents()).items.length, 1);
  t.is(h.world.count('evacuate', 'vm-a', 'accepted'), 1);
  // After it closed, a late duplicate within the dedupe window still joins it rather than starting over.
  const late = await h.app.engine.report({ kind: 'host-down', host: 'compute-1', source: 'monitor-c' });
  t.false(late.created);
  t.is(late.incident.id, first.incident.id);
});

test('fence-then-evacuate: a host brought back by hand (not through host return) that fails again inside the dedupe window is a new incident, and its new instance is evacuated', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'power');
  const first = await h.app.engine.report({ kind: 'host-down', host: 'compute-1', source: 'monitor-a' });
  t.is((await h.waitClosed(first.incident.id)).outcome, 'recovered');
  // Still fenced and forced down: a late report of the same failure is a duplicate.
  t.false((await h.app.engine.report({ kind: 'host-down', host: 'compute-1', source: 'monitor-b' })).created);

  // An operator powers it on, lifts forced_down and enables it by hand; a tenant boots there again.
  const nova = new SimCloudDriver(h.world);
  await h.world.powerDevice('compute-1').on();
  await until(async () => (await nova.listEvacuations('compute-1')).every((m) => m.status === 'completed'), 10_000);
  await nova.setServiceForcedDown('compute-1', false);
  await nova.setServiceEnabled('compute-1', true);
  h.world.addInstance({ id: 'vm-new', host: 'compute-1', flavor: { name: 'm1.small', vcpus: 1, ramMb: 2048, extraSpecs: {} }, sharedStorage: true, image: 'img-cirros' });

  h.world.failHost('compute-1', 'power');
  const again = await h.app.engine.report({ kind: 'host-down', host: 'compute-1', source: 'monitor-a' });
  t.true(again.created, 'not swallowed by the first incident\'s dedupe window');
  t.not(again.incident.id, first.incident.id);
  const closed = await h.waitClosed(again.incident.id);
  t.is(closed.outcome, 'recovered', closed.reason);
  t.is(h.world.count('evacuate', 'vm-new', 'accepted'), 1);
  t.not(h.world.instanceState('vm-new').host, 'compute-1');
  const opened = (await h.trail(again.incident.id))[0] ?? '';
  t.regex(opened, new RegExp(`not a duplicate of ${first.incident.id}, closed .*: compute-1 came back since \\(its compute service is not forced down`));
  t.deepEqual(h.world.splitBrains(), []);
});

test('fence-then-evacuate: an incident that never fenced keeps its dedupe window (a monitor repeating a false alarm opens no new incident)', async (t) => {
  const h = await startEngine(redis, { config: { workflows: { ...DEFAULT_WORKFLOWS, 'host-down': 'notify-only' } } });
  t.teardown(() => h.close());
  const first = await h.app.engine.report({ kind: 'host-down', host: 'compute-2', source: 'monitor-a' });
  const recovery = await h.app.engine.recovery(first.incident.recoveryId);
  await until(async () => (await h.app.engine.recovery(recovery.id)).status === 'waiting', 10_000);
  await h.app.engine.decide(recovery.id, 'deny', 'alice');
  await h.waitClosed(first.incident.id);
  // compute-2 heartbeats all along and was never forced down: still the same false alarm.
  const again = await h.app.engine.report({ kind: 'host-down', host: 'compute-2', source: 'monitor-a' });
  t.false(again.created);
  t.is(again.incident.id, first.incident.id);
});

test('fence-then-evacuate: with worker.pollsPerSecond the process polls Nova at that pace however many evacuations it follows', async (t) => {
  // Evacuations take 1 s (real); three followed at a 10 ms interval would be ~300 reads without the pacer.
  const world = smallWorld({ timeScale: 0.001, latency: { completeMs: { evacuate: 1_000_000 } } });
  const h = await startEngine(redis, { world, config: { worker: { ...DEFAULT_CONFIG.worker, embedded: true, concurrency: 8, lockDurationMs: 2_000, stalledIntervalMs: 1_000, shutdownGraceMs: 1_000, pollsPerSecond: 5 } } });
  t.teardown(() => h.close());
  world.failHost('compute-1', 'power');
  const started = Date.now();
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id, 30_000);
  t.is(closed.outcome, 'recovered', closed.reason);
  const seconds = (Date.now() - started) / 1000;
  const reads = world.count('getInstance');
  // Unpaced, four per instance: its check, the evacuate step's look before acting, its first poll, the final
  // look (twelve); every later poll waits its turn, at most 5 a second.
  t.true(reads <= 12 + 5 * seconds + 2, `${reads} instance reads in ${seconds} s`);
  t.true(['vm-a', 'vm-b', 'vm-c'].every((id) => world.instanceState(id).host !== 'compute-1'));
});

test('fence-then-evacuate: a host with no instances resolves at once', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.failHost('compute-3', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-3' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered');
  t.is(h.world.count('evacuate'), 0);
});

test('fence-then-evacuate: an instance that was stopped is resurrected stopped, and counts as recovered', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.addInstance({ id: 'vm-off', host: 'compute-1', flavor: { name: 'm1.small', vcpus: 1, ramMb: 2048, extraSpecs: {} }, sharedStorage: true, image: 'img-cirros', status: 'SHUTOFF' });
  h.world.failHost('compute-1', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered', closed.reason);
  const vm = h.world.instanceState('vm-off');
  t.is(vm.status, 'SHUTOFF', 'Nova keeps the power state it had');
  t.not(String(vm.host), 'compute-1');
  t.is(h.world.count('evacuate', 'vm-off', 'accepted'), 1);
});

test('fence-then-evacuate: a VM whose stop was cast to its host before it died (task state powering-off, stuck) is evacuated and recovered, once', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  // The stop reaches compute-1 while it still runs; the host dies before it completes.
  await h.world.nova.stopInstance('vm-a');
  h.world.failHost('compute-1', 'power');
  await new Promise((resolve) => setImmediate(resolve));
  t.like(h.world.instanceState('vm-a'), { status: 'ACTIVE', taskState: 'powering-off', hung: 'stop' });
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered', closed.reason);
  const vm = h.world.instanceState('vm-a');
  t.like(vm, { status: 'ACTIVE', taskState: null, guestRunning: true });
  t.not(String(vm.host), 'compute-1');
  t.is(h.world.count('evacuate', 'vm-a', 'accepted'), 1);
  t.is(h.world.count('evacuate', 'vm-a', 'refused'), 0, 'not held back as busy, not refused');
  const child = (await h.app.engine.children(incident.recoveryId)).find((c) => c.subject.instance === 'vm-a')!;
  const trail = await h.trail(child.id);
  t.true(trail.some((m) => /^evacuate vm-a from compute-1 .*accepted \(task state powering-off left on the fenced host\)$/.test(m)), trail.join('\n'));
  t.is(Number(child.attempts), 1);
});

/** Makes every host but compute-1 unavailable the moment the first evacuation reaches Nova (after placement chose). */
function roomGoesAtFirstEvacuate(h: Awaited<ReturnType<typeof startEngine>>): void {
  const nova = h.world.nova;
  const original = nova.evacuate.bind(nova);
  // One disabling, awaited by every evacuate: evacuates arriving together must all find the room gone.
  let gone: Promise<void> | undefined;
  nova.evacuate = async (...args: Parameters<typeof nova.evacuate>) => {
    gone ??= (async () => {
      for (const host of ['compute-2', 'compute-3', 'compute-4']) await nova.setServiceEnabled(host, false, 'taken for maintenance');
    })();
    await gone;
    return original(...args);
  };
}

test('fence-then-evacuate: Nova accepts an evacuation its scheduler then finds no host for (ERROR on the source, migration error): evacuated again on the next attempt, recovered once room is back', async (t) => {
  const h = await startEngine(redis, { config: { limits: { global: 1, perTargetHost: 0, cloudApi: { ratePerSecond: 0, burst: 0 } } } });
  t.teardown(() => h.close());
  roomGoesAtFirstEvacuate(h);
  // Room comes back as soon as Nova has failed the first evacuation.
  h.world.on('change', (event) => {
    if (event.type === 'migration' && /no valid host/.test(event.message)) {
      for (const host of ['compute-2', 'compute-3', 'compute-4']) void h.world.nova.setServiceEnabled(host, true);
    }
  });
  h.world.failHost('compute-1', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered', closed.reason);
  const evacuations = h.world.snapshot().migrations.filter((m) => m.type === 'evacuation');
  const failed = evacuations.filter((m) => m.status === 'error');
  t.is(failed.length, 1, JSON.stringify(evacuations));
  const unlucky = String(failed[0]!.instance);
  t.deepEqual(evacuations.filter((m) => m.instance === unlucky).map((m) => m.status).sort(), ['done', 'error']);
  t.is(h.world.count('evacuate', unlucky, 'accepted'), 2, 'evacuated again after the conductor failed it');
  for (const id of ['vm-a', 'vm-b', 'vm-c']) t.like(h.world.instanceState(id), { status: 'ACTIVE', taskState: null });
  const child = (await h.app.engine.children(incident.recoveryId)).find((c) => c.subject.instance === unlucky)!;
  const trail = await h.trail(child.id);
  t.true(trail.some((m) => new RegExp(`^step evacuateInstance failed on attempt 1: evacuation of ${unlucky} failed \\(migration \\S+ error\\); will retry`).test(m)), trail.join('\n'));
});

test('fence-then-evacuate: Nova keeps finding no valid host for accepted evacuations ⇒ each VM evacuated once per attempt, left in ERROR on its source, and reported failed after the retry budget', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  roomGoesAtFirstEvacuate(h);
  h.world.failHost('compute-1', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'escalated', closed.reason);
  t.regex(closed.reason ?? '', /no instance was recovered: .*vm-a failed \(evacuation failed: evacuation of vm-a failed \(migration \S+ error\)/);
  for (const id of ['vm-a', 'vm-b', 'vm-c']) {
    t.like(h.world.instanceState(id), { host: 'compute-1', status: 'ERROR', taskState: null }, id);
    t.is(h.world.count('evacuate', id, 'accepted'), 4, `${id}: one evacuation per attempt (retry.attempts 4)`);
    t.true(h.world.snapshot().migrations.filter((m) => m.instance === id).every((m) => m.status === 'error'));
    t.is(h.world.instanceState(id).fault?.message, 'No valid host was found. There are not enough hosts available.');
  }
});

test('fence-then-evacuate: a VM that never becomes ACTIVE is followed, never re-evacuated, and reported failed after the budget', async (t) => {
  const h = await startEngine(redis, { config: { paramsByKind: { 'host-down': { activeTimeoutSeconds: 0.2 } } } });
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'power');
  h.world.injectFault({ kind: 'never-active', instance: 'vm-a' });
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'partial');
  t.regex(closed.reason ?? '', /vm-a failed \(evacuation failed: timed out after \d+ s waiting for vm-a to be rebuilt on another host\)/);
  t.is(h.world.count('evacuate', 'vm-a', 'accepted'), 1, 'an evacuation in flight is followed on every attempt, not issued again');
  const child = (await h.app.engine.children(incident.recoveryId)).find((c) => c.subject.instance === 'vm-a');
  t.is(Number(child?.attempts), 4);
  t.is(h.world.instanceState('vm-b').status, 'ACTIVE');
});

test('fence-then-evacuate: a BMC that will not power off fails level 1; the PDU at level 2 fences, is read back, and the VMs are evacuated', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'network');
  h.world.injectFault({ kind: 'bmc-stuck-on', host: 'compute-1' });
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered', closed.reason);
  t.false(h.world.hostState('compute-1').running, 'the host really is off');
  t.deepEqual(h.world.splitBrains(), []);
  const trail = await h.trail(incident.id);
  t.true(trail.some((m) => /^fenced compute-1 at level 2 \(pdu-compute-1\)/.test(m)), trail.join('\n'));
});
