/**
 * Returning a fenced host to service (Engine.returnHost → incident `host-return` → workflow return-to-service)
 * on the simulated cloud, whose Nova behaves as a real one does here (test/unit/drivers/sim-host-return.test.ts):
 * evacuations stay `done` until the host's nova-compute starts again, forced_down cannot be lifted until then.
 */
import test from 'ava';
import type { ResurrectError } from '../../../src/domain';
import { useRedis } from '../../helpers/redis';
import { until } from '../../helpers/wait';
import { smallWorld, startEngine, type EngineHarness } from '../../helpers/engine';

const redis = useRedis(test);

/** Boots take 0.3 s of real time (the sim's other latencies shrink 1000×): long enough for Nova to refuse first. */
const bootingWorld = (latency: Parameters<typeof smallWorld>[0] = {}) =>
  smallWorld({ timeScale: 0.001, ...latency, latency: { ...latency.latency, completeMs: { hostBoot: 300_000, ...latency.latency?.completeMs } } });

/** compute-1 dies and its host-down incident fences, forces down and evacuates it; its evacuations are `done`. */
async function fencedAndEvacuated(h: EngineHarness): Promise<string> {
  h.world.failHost('compute-1', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1', source: 'test' });
  const closed = await h.waitClosed(incident.id);
  if (closed.outcome !== 'recovered') throw new Error(`host-down ended ${closed.outcome}: ${closed.reason}`);
  return incident.id;
}

const evacuationsFrom = (h: EngineHarness, host: string) => h.world.snapshot().migrations.filter((m) => m.type === 'evacuation' && m.source === host);

/** Indexes of the first message matching each pattern, in the order given; -1 where none. */
function positions(trail: readonly string[], patterns: readonly RegExp[]): number[] {
  return patterns.map((p) => trail.findIndex((m) => p.test(m)));
}

test('return-to-service: powered on once, forced_down lifted only after Nova refused while the evacuations were done, then enabled; every step audited in order with who asked', async (t) => {
  const h = await startEngine(redis, { world: bootingWorld() });
  t.teardown(() => h.close());
  await fencedAndEvacuated(h);
  t.true(evacuationsFrom(h, 'compute-1').length === 3 && evacuationsFrom(h, 'compute-1').every((m) => m.status === 'done'));
  t.like(h.world.hostState('compute-1'), { power: 'off', service: { forcedDown: true, status: 'disabled' } });

  const { incident, created } = await h.app.engine.returnHost('compute-1', { by: 'alice', source: 'api:alice', comment: 'PSU replaced' });
  t.true(created);
  t.like(incident, { kind: 'host-return', subject: 'host:compute-1', dedupeKey: 'host:compute-1:return', workflow: 'return-to-service' });
  t.like(incident.event, { kind: 'host-return', host: 'compute-1', source: 'api:alice', comment: 'PSU replaced' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.status, 'resolved', closed.reason);
  t.is(closed.outcome, 'recovered');

  t.like(h.world.hostState('compute-1'), { power: 'on', running: true, service: { forcedDown: false, status: 'enabled', state: 'up' } });
  t.is(h.world.count('bmc.on', 'compute-1'), 1, 'powered on exactly once');
  t.true(evacuationsFrom(h, 'compute-1').every((m) => m.status === 'completed'), 'its nova-compute cleaned up');
  const refused = h.world.count('setServiceForcedDown', 'compute-1', 'refused');
  t.true(refused >= 1, 'Nova refused to lift forced_down at least once');

  // In the world's own story: every refusal came before the lift.
  const story = h.world.events().map((e) => e.message);
  const refusals = story.map((m, i) => (/^setServiceForcedDown compute-1 refused: Unable to force up host compute-1 as `done` evacuation migration records remain/.test(m) ? i : -1));
  const lastRefusal = Math.max(...refusals);
  const lift = story.indexOf('compute-1 forced_down=false');
  const cleanup = story.findIndex((m) => m === 'nova-compute on compute-1 started');
  t.true(lastRefusal >= 0 && cleanup > lastRefusal && lift > cleanup, `refused at ${lastRefusal}, cleaned up at ${cleanup}, lifted at ${lift}`);

  const trail = await h.trail(incident.id);
  const steps = positions(trail, [
    /^incident opened: host-return compute-1 requested by alice \(source api:alice\); workflow return-to-service; reenable true \(from the default\); comment: PSU replaced$/,
    /^\(start\) → poweringOn$/,
    /^powered compute-1 on through its fencing topology \(it read off\) for alice$/,
    /^poweringOn → liftingForcedDown$/,
    /^Nova refused to lift forced_down of compute-1 \(HTTP 400\): "Unable to force up host compute-1 as `done` evacuation migration records remain associated with the host\. Ensure the compute service has been restarted, allowing these records to move to `completed` before retrying this request\." — 3 evacuation records from compute-1 still done \(vm-a, vm-b, vm-c\); waiting for its nova-compute to clean up, asking again$/,
    /^forced_down of compute-1 lifted \(Nova refused \d+ times?/,
    /^liftingForcedDown → awaitingHeartbeat$/,
    /^compute-1's nova-compute heartbeats again/,
    /^awaitingHeartbeat → enabling$/,
    /^compute-1's compute service is enabled: back in service$/,
    /^enabling → returned$/,
    /^recovery recovered$/,
    /^incident resolved$/,
  ]);
  t.true(steps.every((p, i) => p >= 0 && (i === 0 || p > steps[i - 1]!)), `${JSON.stringify(steps)}\n${trail.join('\n')}`);

  const recovery = await h.app.engine.recovery(incident.recoveryId);
  t.like(recovery.params, { requestedBy: 'alice', reenable: true, comment: 'PSU replaced' });
  t.is(recovery.params.sla, undefined, 'a return runs under no SLA');
  t.like(recovery.result, { host: 'compute-1', requestedBy: 'alice', reenable: true, poweredOn: true, service: { status: 'enabled' } });
  t.true(Number(recovery.result?.refusals) >= 1);

  // Back in service: nothing left to return.
  const again = (await t.throwsAsync(h.app.engine.returnHost('compute-1', { by: 'bob' }))) as ResurrectError;
  t.like(again, { code: 'RSR_NOTHING_TO_RETURN', retryable: false });
  t.deepEqual(h.world.splitBrains(), []);
});

test('return-to-service: returned within service_down_time of the failure, the host is enabled only after its nova-compute reports, not on the stamp of our own forced_down lift', async (t) => {
  // Nova still calls the service up (last heartbeat within service_down_time) once forced_down is lifted, and
  // the lift moves updated_at: the first bench on a real Nova took that for a heartbeat and enabled a host whose
  // compute had not reported yet. Here: service_down_time 1 h, a first report 1 s (real) after nova-compute starts.
  const h = await startEngine(redis, { world: bootingWorld({ serviceDownTimeMs: 3_600_000, latency: { completeMs: { hostBoot: 300_000, serviceReport: 1_000_000 } } }) });
  t.teardown(() => h.close());
  await fencedAndEvacuated(h);
  const { incident } = await h.app.engine.returnHost('compute-1', { by: 'alice' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered', closed.reason);
  const story = h.world.events().map((e) => e.message);
  const lift = story.indexOf('compute-1 forced_down=false');
  const heartbeat = story.indexOf('nova-compute on compute-1 is heartbeating again');
  const enabled = story.indexOf('compute-1 enabled');
  t.true(lift >= 0 && heartbeat > lift && enabled > heartbeat, `lift ${lift}, first heartbeat ${heartbeat}, enabled ${enabled}:\n${story.join('\n')}`);
});

test('return-to-service: with reenable false the service comes back up but stays disabled, with a reason naming who returned it', async (t) => {
  const h = await startEngine(redis, { world: bootingWorld() });
  t.teardown(() => h.close());
  await fencedAndEvacuated(h);
  const { incident } = await h.app.engine.returnHost('compute-1', { by: 'alice', reenable: false, comment: 'burn-in first' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered', closed.reason);
  const service = h.world.hostState('compute-1').service;
  t.like(service, { forcedDown: false, state: 'up', status: 'disabled' });
  t.is(service.disabledReason, 'resurrect: returned by alice, kept disabled (reenable: false): burn-in first');
  const trail = await h.trail(incident.id);
  t.true(trail.some((m) => /reenable false \(from the request\)/.test(m)), trail.join('\n'));
  t.true(trail.includes('awaitingHeartbeat → keepingDisabled'), trail.join('\n'));
  t.true(trail.includes("compute-1's compute service is kept disabled: resurrect: returned by alice, kept disabled (reenable: false): burn-in first"), trail.join('\n'));
  t.is(h.world.count('setServiceEnabled', 'compute-1', 'accepted'), 2, 'disabled at the fence, its reason replaced at the return; never enabled');
});

test('return-to-service: reenable false can come from the policy rule of the host (its host-down rule params); the request still wins', async (t) => {
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const file = join(mkdtempSync(join(tmpdir(), 'rsr-return-')), 'policy.yaml');
  writeFileSync(file, [
    'version: 1',
    'rules:',
    '  - name: suspect-rack',
    '    match: { events: [host-down], host: { name: compute-1 } }',
    '    sla: silver',
    '    workflow: fence-then-evacuate',
    '    params: { reenable: false }',
    '  - name: default',
    '    default: true',
    '    sla: bronze',
    '    workflow: fence-then-evacuate',
    '',
  ].join('\n'));
  const h = await startEngine(redis, { world: bootingWorld(), config: { policy: { file } } });
  t.teardown(() => h.close());
  await fencedAndEvacuated(h);
  const { incident } = await h.app.engine.returnHost('compute-1', { by: 'carol' });
  t.is((await h.waitClosed(incident.id)).outcome, 'recovered');
  t.is(h.world.hostState('compute-1').service.status, 'disabled');
  const recovery = await h.app.engine.recovery(incident.recoveryId);
  t.like(recovery.params, { reenable: false, requestedBy: 'carol', policy: { rule: 'suspect-rack' } });
  t.true((await h.trail(incident.id)).some((m) => /reenable false \(from policy rule suspect-rack\)/.test(m)));

  // The same host fails again minutes later: a new incident (not a duplicate of the one it was returned from),
  // fenced again; returned with an explicit reenable, the request wins over the rule.
  h.world.failHost('compute-1', 'power');
  const { incident: down, created } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  t.true(created, 'a new failure, within the dedupe window of the first');
  await h.waitClosed(down.id);
  t.true(h.world.hostState('compute-1').service.forcedDown);
  const second = (await h.app.engine.returnHost('compute-1', { by: 'carol', reenable: true })).incident;
  t.is((await h.waitClosed(second.id)).outcome, 'recovered');
  t.is(h.world.hostState('compute-1').service.status, 'enabled');
});

test('return-to-service: refused (RSR_SUBJECT_BUSY) while the host-down recovery still runs, nothing written, not powered on; accepted once it closed', async (t) => {
  const world = smallWorld({ timeScale: 0.001, latency: { completeMs: { evacuate: 1_500_000, hostBoot: 300_000 } } });
  const h = await startEngine(redis, { world });
  t.teardown(() => h.close());
  world.failHost('compute-1', 'power');
  const { incident: down } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  await until(() => world.count('evacuate', 'vm-a', 'accepted') === 1, 10_000);
  t.true(world.hostState('compute-1').service.forcedDown, 'fenced and forced down: only its evacuations still run');
  const incidentsBefore = (await h.app.engine.listIncidents({})).items.length;

  const error = (await t.throwsAsync(h.app.engine.returnHost('compute-1', { by: 'alice' }))) as ResurrectError;
  t.like(error, { code: 'RSR_SUBJECT_BUSY', retryable: false });
  t.regex(error.message, new RegExp(`^compute-1 is still being recovered: incident ${down.id} \\(host-down, fence-then-evacuate\\) is open`));
  t.is((await h.app.engine.listIncidents({})).items.length, incidentsBefore, 'no incident opened');
  t.is(world.count('bmc.on'), 0);

  t.is((await h.waitClosed(down.id)).outcome, 'recovered');
  const { incident } = await h.app.engine.returnHost('compute-1', { by: 'alice' });
  t.is((await h.waitClosed(incident.id)).outcome, 'recovered');
});

test('return-to-service: refused (RSR_NOTHING_TO_RETURN) for a host that is not forced down; an unknown host is RSR_CLOUD_NOT_FOUND; nothing written', async (t) => {
  const h = await startEngine(redis, { worker: false });
  t.teardown(() => h.close());
  const healthy = (await t.throwsAsync(h.app.engine.returnHost('compute-2', { by: 'alice' }))) as ResurrectError;
  t.like(healthy, { code: 'RSR_NOTHING_TO_RETURN', retryable: false });
  t.regex(healthy.message, /^compute-2 is not forced down \(its compute service is enabled, up\): there is nothing to return/);
  // Down and disabled by hand, but never forced down: not Resurrect's fence to undo.
  h.world.failHost('compute-3', 'power');
  await h.world.nova.setServiceEnabled('compute-3', false, 'maintenance');
  await t.throwsAsync(h.app.engine.returnHost('compute-3', { by: 'alice' }), { code: 'RSR_NOTHING_TO_RETURN' });
  await t.throwsAsync(h.app.engine.returnHost('compute-9', { by: 'alice' }), { code: 'RSR_CLOUD_NOT_FOUND' });
  await t.throwsAsync(h.app.engine.returnHost('compute 1; rm', { by: 'alice' }), { code: 'RSR_INPUT_INVALID' });
  t.deepEqual((await h.app.engine.listIncidents({})).items, []);
  t.is(h.world.count('bmc.on'), 0);
});

test('return-to-service: a second request, or a host-down reported by a monitor while the host boots, joins the running return (no second power-on, no fence)', async (t) => {
  const h = await startEngine(redis, { world: bootingWorld() });
  t.teardown(() => h.close());
  await fencedAndEvacuated(h);
  const fences = h.world.count('bmc.off', 'compute-1');
  const first = await h.app.engine.returnHost('compute-1', { by: 'alice' });
  const second = await h.app.engine.returnHost('compute-1', { by: 'bob', reenable: false });
  t.false(second.created);
  t.is(second.incident.id, first.incident.id);
  t.is(Number(second.incident.duplicates), 1);
  const monitor = await h.app.engine.report({ kind: 'host-down', host: 'compute-1', source: 'nagios' });
  t.false(monitor.created);
  t.is(monitor.incident.id, first.incident.id);
  await h.waitClosed(first.incident.id);
  const trail = await h.trail(first.incident.id);
  t.true(trail.some((m) => m.startsWith('return of compute-1 requested again by bob while it is under way: joined the incident (1 so far)')), trail.join('\n'));
  t.true(trail.some((m) => m === 'host-down event for compute-1 from nagios while it is being returned to service: joined the return (2 so far), no fence'), trail.join('\n'));
  t.is(h.world.count('bmc.on', 'compute-1'), 1);
  t.is(h.world.count('bmc.off', 'compute-1'), fences, 'not fenced again');
  t.is(h.world.hostState('compute-1').service.status, 'enabled', "the first request's choice holds");
});

test('return-to-service: a worker stopped abruptly right after the power-on resumes without powering on twice', async (t) => {
  // The BMC's answer takes 2 s after it switched the power: the worker dies inside unfenceHost, the host already on.
  const world = bootingWorld({ latency: { acceptMs: { 'bmc.on': 2_000_000 } } });
  const prefix = redis.newPrefix();
  const first = await startEngine(redis, { world, prefix, workerName: 'worker-a' });
  t.teardown(() => first.close());
  await fencedAndEvacuated(first);
  const { incident } = await first.app.engine.returnHost('compute-1', { by: 'alice' });
  await until(() => world.count('bmc.on', 'compute-1') === 1, 10_000);
  t.is(world.hostState('compute-1').chassis, 'on', 'switched on; the answer is still on its way');
  await first.close({ abrupt: true });

  const second = await startEngine(redis, { world, prefix, workerName: 'worker-b' });
  t.teardown(() => second.close());
  const closed = await second.waitClosed(incident.id, 30_000);
  t.is(closed.outcome, 'recovered', closed.reason);
  t.is(world.count('bmc.on', 'compute-1'), 1, 'powered on exactly once across both workers');
  t.like(world.hostState('compute-1').service, { forcedDown: false, status: 'enabled' });
  const rows = (await second.app.engine.audit(incident.recoveryId)).map((r) => r.record);
  t.true(rows.some((r) => r.worker === 'worker-a' && r.type === 'transition' && r.to === 'poweringOn'));
  t.true(rows.some((r) => r.worker === 'worker-b' && /resumed at poweringOn/.test(r.message)), rows.map((r) => `${r.worker}: ${r.message}`).join('\n'));
  t.true(rows.some((r) => r.worker === 'worker-b' && r.message === 'compute-1 already reads powered on: not powered on again'));
  t.false(rows.some((r) => /^powered compute-1 on/.test(r.message)), 'no second power-on, and the first never reported back');
});

test('return-to-service: once the host is powered on, its old fence evidence no longer licenses an evacuation (a retried child refuses, I1)', async (t) => {
  const h = await startEngine(redis, { world: bootingWorld() });
  t.teardown(() => h.close());
  // vm-b's image is gone: it cannot be rebuilt, the host recovery ends partial with vm-b still on compute-1.
  h.world.deleteImage('img-cirros');
  h.world.failHost('compute-1', 'power');
  const { incident: down } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  t.is((await h.waitClosed(down.id)).outcome, 'partial');
  const child = (await h.app.engine.children(down.recoveryId)).find((c) => c.subject.instance === 'vm-b')!;
  t.is(child.outcome, 'failed');

  const { incident } = await h.app.engine.returnHost('compute-1', { by: 'alice' });
  t.is((await h.waitClosed(incident.id)).outcome, 'recovered');
  // The image is back, so only the fence can stop a retry now.
  h.world.addImage('img-cirros');
  await h.app.engine.retry(child.id, 'bob');
  await until(async () => (await h.app.engine.recovery(child.id)).status === 'done', 20_000);
  const retried = await h.app.engine.recovery(child.id);
  t.is(retried.outcome, 'failed');
  t.regex(retried.reason ?? '', /compute-1 is not confirmed fenced/);
  t.is(h.world.count('evacuate', 'vm-b', 'accepted'), 0, 'never evacuated from a host that runs again');
  t.is(h.world.instanceState('vm-b').host, 'compute-1');
});
