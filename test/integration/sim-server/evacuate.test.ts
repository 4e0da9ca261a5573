import test from 'ava';
import { SIM_ACTIONS } from '../../../src/drivers/cloud/sim/actions';
import { ManualClock } from '../../helpers/manual-clock';
import { serve, until, VM1, VM2, VM3, VM4, type Served } from './harness';

/** The latency model's evacuation (accepted → rebuilt), in real ms. */
const EVACUATE_MS = 45_000;

const evacuate = (s: Served, id: string, body: unknown, mv = '2.29') => s.nova('POST', `/servers/${id}/action`, { mv, body: { evacuate: body } });
const forceDown = (s: Served, host: string, forced: boolean) =>
  s.nova('PUT', '/os-services/force-down', { mv: '2.11', body: { host, binary: 'nova-compute', forced_down: forced } });

test('evacuate: 400 "still in use" while the source is up; accepted (200) once forced down; ends ACTIVE elsewhere; os-migrations shows it done', async (t) => {
  const s = await serve();
  try {
    const refused = await evacuate(s, VM1, {});
    t.is(refused.status, 400);
    t.deepEqual(refused.body, { badRequest: { code: 400, message: 'Compute service of compute-1 is still in use.' } });

    s.world.failHost('compute-1', 'power');
    t.is((await forceDown(s, 'compute-1', true)).status, 200);
    const accepted = await evacuate(s, VM1, {});
    t.is(accepted.status, 200);
    t.is(accepted.text, '', 'no body from 2.14 on');
    const requestId = accepted.headers.get('x-openstack-request-id');
    t.regex(requestId ?? '', /^req-[0-9a-f-]{36}$/);

    let server: any;
    await until(async () => {
      server = (await s.nova('GET', `/servers/${VM1}`, { mv: '2.47' })).body.server;
      // Idle and ACTIVE is not enough: Nova clears the task state before it moves the instance (see the README).
      return server.status === 'ACTIVE' && server['OS-EXT-STS:task_state'] === null && server['OS-EXT-SRV-ATTR:host'] !== 'compute-1';
    });
    t.not(server['OS-EXT-SRV-ATTR:host'], 'compute-1');
    t.is(s.world.instanceState(VM1).host, server['OS-EXT-SRV-ATTR:host']);

    const migrations = (await s.nova('GET', `/os-migrations?instance_uuid=${VM1}&migration_type=evacuation&source_compute=compute-1`, { mv: '2.59' })).body.migrations;
    t.is(migrations.length, 1);
    t.like(migrations[0], { instance_uuid: VM1, migration_type: 'evacuation', source_compute: 'compute-1', dest_compute: server['OS-EXT-SRV-ATTR:host'], status: 'done' });
    t.regex(migrations[0].uuid, /^[0-9a-f-]{36}$/);
    const v22 = (await s.nova('GET', `/os-migrations?instance_uuid=${VM1}`, { mv: '2.22' })).body.migrations;
    t.false('migration_type' in v22[0]);
    t.false('uuid' in v22[0]);

    // The instance action carries the request id of the call, with Nova's evacuation events.
    const actions = (await s.nova('GET', `/servers/${VM1}/os-instance-actions`, { mv: '2.62' })).body.instanceActions;
    t.like(actions[0], { action: 'evacuate', request_id: requestId, instance_uuid: VM1, message: null });
    const action = (await s.nova('GET', `/servers/${VM1}/os-instance-actions/${requestId}`, { mv: '2.62' })).body.instanceAction;
    t.deepEqual(action.events.map((e: { event: string; result: string }) => [e.event, e.result]), [['rebuild_server', 'Success'], ['compute_rebuild_instance', 'Success']]);
    t.is(action.events[1].host, server['OS-EXT-SRV-ATTR:host']);
    t.is((await s.nova('GET', `/servers/${VM1}/os-instance-actions/req-nope`)).status, 404);

    // Nova keeps the host forced down until its nova-compute restarted and cleaned up (migration `done`).
    const [svc] = (await s.nova('GET', '/os-services?host=compute-1', { mv: '2.53' })).body.services;
    const up = await s.nova('PUT', `/os-services/${svc.id}`, { mv: '2.53', body: { forced_down: false } });
    t.is(up.status, 400);
    t.regex(up.body.badRequest.message, /^Unable to force up host compute-1 as `done` evacuation migration records remain/);
    t.true(s.world.hostState('compute-1').service.forcedDown, 'nothing saved');
    s.world.recoverHost('compute-1');
    t.is((await s.nova('GET', `/os-migrations?instance_uuid=${VM1}`, { mv: '2.23' })).body.migrations[0].status, 'completed');
    t.is((await s.nova('PUT', `/os-services/${svc.id}`, { mv: '2.53', body: { forced_down: false } })).status, 200);
  } finally {
    await s.close();
  }
});

test('evacuate: body per microversion and the checks before the compute API, in Nova\'s order', async (t) => {
  const s = await serve();
  try {
    s.world.failHost('compute-1', 'power');
    await forceDown(s, 'compute-1', true);
    const bad = async (id: string, body: unknown, mv: string, status: number, message: RegExp) => {
      const answer = await evacuate(s, id, body, mv);
      t.is(answer.status, status, `${mv} ${JSON.stringify(body)}: ${answer.text}`);
      t.regex((Object.values(answer.body ?? {})[0] as { message: string } | undefined)?.message ?? '', message);
    };
    await bad(VM1, {}, '2.13', 400, /'onSharedStorage' is a required property/);
    await bad(VM1, { onSharedStorage: true, adminPass: 'x' }, '2.13', 400, /admin password can't be changed on existing disk/);
    await bad(VM1, { onSharedStorage: false }, '2.14', 400, /Additional properties are not allowed \('onSharedStorage' was unexpected\)/);
    await bad(VM1, { force: true }, '2.28', 400, /'force' was unexpected/);
    await bad(VM1, { force: true }, '2.29', 400, /^Can't force to a non-provided destination$/);
    await bad(VM1, { force: true, host: 'compute-2' }, '2.68', 400, /'force' was unexpected/);
    await bad('nope', { force: true }, '2.29', 404, /Instance nope could not be found/);
    await bad(VM1, { host: 'compute-9' }, '2.29', 404, /^Compute host compute-9 not found\.$/);
    await bad(VM1, { host: 'compute-1' }, '2.29', 400, /^The target host can't be the same one\.$/);
    await bad(VM4, {}, '2.29', 400, /still in use/);
    t.is(s.world.instanceState(VM1).status, 'ACTIVE', 'nothing was started');

    // < 2.14: onSharedStorage is required and the answer carries adminPass (null on shared storage).
    s.world.injectFault({ kind: 'never-active', instance: VM1 }); // keeps it rebuilding
    const old = await evacuate(s, VM1, { onSharedStorage: 'True', host: 'compute-3' }, '2.13');
    t.is(old.status, 200);
    t.deepEqual(old.body, { adminPass: null });
    const local = await evacuate(s, VM3, { onSharedStorage: false }, '2.1');
    t.is(local.status, 200);
    t.regex(local.body.adminPass, /^\w{12}$/);

    // A second evacuation while the first is running: 409, task_state named. (Nova 26 checks no task state and
    // would accept it and race two rebuilds; the sim refuses an instance already moving: see its README.)
    const busy = await evacuate(s, VM1, {}, '2.29');
    t.is(busy.status, 409);
    t.regex(busy.body.conflictingRequest.message, /^Cannot 'evacuate' instance .* while it is in task_state rebuild/);
    await s.world.idle();
    // Rebuilding on compute-3, which Nova names only once the rebuild is over: the migration says where.
    t.like(s.world.instanceState(VM1), { host: 'compute-1', status: 'REBUILD' });
    t.like((await s.nova('GET', `/os-migrations?instance_uuid=${VM1}`, { mv: '2.59' })).body.migrations[0], { dest_compute: 'compute-3', status: 'pre-migrating' });
  } finally {
    await s.close();
  }
});

test('evacuate ≥ 2.95 ends stopped on the destination; below it the instance comes back as it was', async (t) => {
  const s = await serve({
    hosts: [
      { name: 'a', vcpus: 4, ramMb: 8192 },
      { name: 'b', vcpus: 4, ramMb: 8192 },
    ],
    instances: [
      { id: 'vm-on', host: 'a', flavor: { name: 'm', vcpus: 1, ramMb: 1024 }, sharedStorage: true },
      { id: 'vm-old', host: 'a', flavor: { name: 'm', vcpus: 1, ramMb: 1024 }, sharedStorage: true },
    ],
  });
  try {
    s.world.failHost('a', 'power');
    await forceDown(s, 'a', true);
    t.is((await evacuate(s, 'vm-on', {}, '2.95')).status, 200);
    t.is((await evacuate(s, 'vm-old', {}, '2.94')).status, 200);
    await s.world.idle();
    t.like(s.world.instanceState('vm-on'), { host: 'b', status: 'SHUTOFF', powerState: 'SHUTDOWN', guestRunning: false });
    t.like(s.world.instanceState('vm-old'), { host: 'b', status: 'ACTIVE', guestRunning: true });
  } finally {
    await s.close();
  }
});

/** A host `a` that died with a big instance, a small one, and an anti-affinity pair; `b` and `c` with little room. */
const CRAMPED = {
  hosts: [
    { name: 'a', vcpus: 16, ramMb: 16384 },
    { name: 'b', vcpus: 4, ramMb: 8192 },
    { name: 'c', vcpus: 4, ramMb: 8192 },
  ],
  instances: [
    { id: 'vm-big', host: 'a', flavor: { name: 'xl', vcpus: 8, ramMb: 1024 }, sharedStorage: true },
    { id: 'vm-small', host: 'a', flavor: { name: 'm', vcpus: 1, ramMb: 1024 }, sharedStorage: true },
  ],
};

test('nova: evacuate with no valid host is accepted (200, action evacuate, task rebuilding), then the migration errors and the instance goes to ERROR on its source host with NoValidHost\'s fault (as Nova 26)', async (t) => {
  // Real time on a manual clock, answers at once: only the conductor's delay is left.
  const clock = new ManualClock();
  const acceptMs = Object.fromEntries(SIM_ACTIONS.map((a) => [a, 0]));
  const s = await serve(CRAMPED, { world: { clock, timeScale: 1, latency: { jitter: 0, acceptMs } } });
  try {
    s.world.failHost('a', 'power');
    await forceDown(s, 'a', true);
    const accepted = await evacuate(s, 'vm-big', {}, '2.93');
    t.is(accepted.status, 200, accepted.text);
    t.is(accepted.text, '');
    const requestId = accepted.headers.get('x-openstack-request-id');
    // Accepted first: the conductor's scheduling comes after the answer, a quarter of the latency model's
    // evacuation (45 s): until then the instance is rebuilding, the migration accepted.
    await clock.advance(EVACUATE_MS / 4 - 1);
    const pending = (await s.nova('GET', '/servers/vm-big', { mv: '2.93' })).body.server;
    t.like(pending, { status: 'REBUILD', 'OS-EXT-STS:task_state': 'rebuilding', 'OS-EXT-SRV-ATTR:host': 'a' });
    t.false('fault' in pending);
    t.is((await s.nova('GET', '/os-migrations?instance_uuid=vm-big', { mv: '2.59' })).body.migrations[0].status, 'accepted');

    await clock.advance(1);
    const server = (await s.nova('GET', '/servers/vm-big', { mv: '2.93' })).body.server;
    t.like(server, { status: 'ERROR', 'OS-EXT-STS:vm_state': 'error', 'OS-EXT-STS:task_state': null, 'OS-EXT-SRV-ATTR:host': 'a' });
    t.like(server.fault, { code: 500, message: 'No valid host was found. There are not enough hosts available.' });
    t.regex(server.fault.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    t.regex(server.fault.details, /NoValidHost/, 'the traceback, shown to admins');
    const listed = (await s.nova('GET', '/servers/detail?all_tenants=1&host=a', { mv: '2.93' })).body.servers;
    t.is(listed.find((x: { id: string }) => x.id === 'vm-big').fault.message, server.fault.message);

    const [migration, ...older] = (await s.nova('GET', '/os-migrations?instance_uuid=vm-big', { mv: '2.59' })).body.migrations;
    t.is(older.length, 0);
    t.like(migration, { migration_type: 'evacuation', source_compute: 'a', dest_compute: null, status: 'error' });
    const action = (await s.nova('GET', `/servers/vm-big/os-instance-actions/${requestId}`, { mv: '2.62' })).body.instanceAction;
    t.like(action, { action: 'evacuate', message: 'Error' });
    t.deepEqual(action.events.map((e: { event: string; result: string }) => [e.event, e.result]), [['rebuild_server', 'Error']]);
    t.like(s.world.instanceState('vm-big'), { host: 'a', status: 'ERROR', taskState: null, guestRunning: false });
    t.like(s.world.hostState('b').capacity, { usedVcpus: 0 }, 'nothing claimed');
    t.is(s.world.count('evacuate', 'vm-big', 'accepted'), 1);

    // Nova allows evacuating from vm_state ERROR again: accepted, and it fails the same way while nothing has room.
    t.is((await evacuate(s, 'vm-big', {}, '2.93')).status, 200);
    await clock.advance(EVACUATE_MS);
    t.deepEqual((await s.nova('GET', '/os-migrations?instance_uuid=vm-big', { mv: '2.59' })).body.migrations.map((m: { status: string }) => m.status), ['error', 'error']);
    // A fitting instance from the same host still goes.
    t.is((await evacuate(s, 'vm-small', {}, '2.93')).status, 200);
    await clock.advance(EVACUATE_MS);
    t.like(s.world.instanceState('vm-small'), { status: 'ACTIVE' });
    t.false('fault' in (await s.nova('GET', '/servers/vm-small', { mv: '2.93' })).body.server);
  } finally {
    await s.close();
  }
});

test('nova: evacuate while every other host is disabled, or to a target host without room, is accepted and ends in ERROR on its source, migration error (as Nova 26)', async (t) => {
  const s = await serve(CRAMPED);
  try {
    s.world.failHost('a', 'power');
    await forceDown(s, 'a', true);
    // A target without room (vm-big needs 8 vCPU; b has 4): the scheduler's NoValidHost too, after the answer.
    t.is((await evacuate(s, 'vm-big', { host: 'b' }, '2.29')).status, 200);
    await s.world.idle();
    t.like(s.world.instanceState('vm-big'), { host: 'a', status: 'ERROR', taskState: null });
    t.like((await s.nova('GET', '/os-migrations?instance_uuid=vm-big', { mv: '2.23' })).body.migrations[0], { status: 'error', dest_compute: 'b' });

    for (const host of ['b', 'c']) await s.nova('PUT', '/os-services/disable', { mv: '2.11', body: { host, binary: 'nova-compute' } });
    t.is((await evacuate(s, 'vm-small', {}, '2.93')).status, 200);
    await s.world.idle();
    t.like(s.world.instanceState('vm-small'), { host: 'a', status: 'ERROR', taskState: null });
    t.like((await s.nova('GET', '/os-migrations?instance_uuid=vm-small', { mv: '2.23' })).body.migrations[0], { status: 'error' });
    t.is((await s.nova('GET', '/servers/vm-small', { mv: '2.93' })).body.server.fault.message, 'No valid host was found. There are not enough hosts available.');

    // Enabled again: the next evacuation from ERROR finds room.
    await s.nova('PUT', '/os-services/enable', { mv: '2.11', body: { host: 'b', binary: 'nova-compute' } });
    t.is((await evacuate(s, 'vm-small', {}, '2.93')).status, 200);
    await s.world.idle();
    t.like(s.world.instanceState('vm-small'), { host: 'b', status: 'ACTIVE', taskState: null });
  } finally {
    await s.close();
  }
});

test('nova: evacuate does not check task_state: a stop cast to a dead compute (powering-off) does not block it; accepted, rebuilt elsewhere, the stuck stop dropped (as Nova 26)', async (t) => {
  const s = await serve();
  try {
    s.world.failHost('compute-1', 'power');
    // Nova casts the stop to the dead compute: 202, and task_state powering-off forever.
    t.is((await s.nova('POST', `/servers/${VM2}/action`, { body: { 'os-stop': null } })).status, 202);
    t.like(s.world.instanceState(VM2), { taskState: 'powering-off', hung: 'stop', status: 'ACTIVE' });
    await forceDown(s, 'compute-1', true);
    const accepted = await evacuate(s, VM2, {});
    t.is(accepted.status, 200, accepted.text);
    await s.world.idle();
    const moved = s.world.instanceState(VM2);
    t.like(moved, { status: 'ACTIVE', taskState: null, guestRunning: true });
    t.is(moved.hung, undefined, 'the stop cast to the dead compute is gone with the rebuild');
    t.not(moved.host, 'compute-1');
    t.like((await s.nova('GET', `/os-migrations?instance_uuid=${VM2}`, { mv: '2.23' })).body.migrations[0], { status: 'done', dest_compute: moved.host });
    const actions = (await s.nova('GET', `/servers/${VM2}/os-instance-actions`)).body.instanceActions;
    t.deepEqual(actions.map((a: { action: string }) => a.action), ['evacuate', 'stop']);
    // The old compute coming back does not run the stale stop on an instance that is no longer its own.
    s.world.recoverHost('compute-1');
    await s.world.idle();
    t.like(s.world.instanceState(VM2), { status: 'ACTIVE', host: moved.host });
  } finally {
    await s.close();
  }
});

test('nova: a stop whose compute died before it ran (powering-off) does not complete on the instance once an evacuation rebuilt it (as Nova 26)', async (t) => {
  const clock = new ManualClock();
  const s = await serve(undefined, { world: { clock, timeScale: 1, latency: { jitter: 0, acceptMs: Object.fromEntries(SIM_ACTIONS.map((a) => [a, 0])) } } });
  try {
    // The stop reaches a live compute and takes `stop` (6 s) to complete; the host dies first.
    t.is((await s.nova('POST', `/servers/${VM1}/action`, { body: { 'os-stop': null } })).status, 202);
    s.world.failHost('compute-1', 'power');
    await forceDown(s, 'compute-1', true);
    t.is(s.world.instanceState(VM1).taskState, 'powering-off');
    t.is((await evacuate(s, VM1, {})).status, 200);
    await clock.advance(EVACUATE_MS);
    t.like(s.world.instanceState(VM1), { status: 'ACTIVE', taskState: null, guestRunning: true });
    t.is(s.world.instanceState(VM1).hung, undefined, 'the overtaken stop is not left to run on its new host');
    t.not(s.world.instanceState(VM1).host, 'compute-1');
  } finally {
    await s.close();
  }
});

test('os-resetState clears a task_state stuck on a dead compute (what Masakari does before evacuating); evacuate is then accepted', async (t) => {
  const s = await serve();
  try {
    s.world.failHost('compute-1', 'power');
    t.is((await s.nova('POST', `/servers/${VM2}/action`, { body: { 'os-stop': null } })).status, 202);
    t.is(s.world.instanceState(VM2).taskState, 'powering-off');
    await forceDown(s, 'compute-1', true);

    t.is((await s.nova('POST', `/servers/${VM2}/action`, { body: { 'os-resetState': { state: 'sleepy' } } })).status, 400);
    const reset = await s.nova('POST', `/servers/${VM2}/action`, { body: { 'os-resetState': { state: 'error' } } });
    t.is(reset.status, 202);
    const server = (await s.nova('GET', `/servers/${VM2}`)).body.server;
    t.like(server, { status: 'ERROR', 'OS-EXT-STS:vm_state': 'error', 'OS-EXT-STS:task_state': null });
    t.false('fault' in server, 'a reset records no fault');
    t.is(s.world.count('resetState', VM2, 'accepted'), 1);

    t.is((await evacuate(s, VM2, {})).status, 200);
    await s.world.idle();
    t.like(s.world.instanceState(VM2), { status: 'ACTIVE', taskState: null });
    t.not(s.world.instanceState(VM2).host, 'compute-1');
    const actions = (await s.nova('GET', `/servers/${VM2}/os-instance-actions`)).body.instanceActions;
    t.deepEqual(actions.map((a: { action: string }) => a.action), ['evacuate', 'stop']);
  } finally {
    await s.close();
  }
});

test('os-migrateLive: 202 and the instance moves; required keys per microversion; unknown host 400', async (t) => {
  const s = await serve();
  try {
    const live = (body: unknown, mv = '2.25') => s.nova('POST', `/servers/${VM4}/action`, { mv, body: { 'os-migrateLive': body } });
    t.is((await live({ host: null })).status, 400, 'block_migration required');
    t.is((await live({ block_migration: 'auto', host: null }, '2.24')).status, 400, 'auto needs 2.25');
    t.is((await live({ block_migration: 'auto', host: 'compute-9' })).status, 400);
    const ok = await live({ block_migration: 'auto', host: 'compute-3' });
    t.is(ok.status, 202);
    await s.world.idle();
    t.is(s.world.instanceState(VM4).host, 'compute-3');
    const migrations = (await s.nova('GET', '/os-migrations?migration_type=live-migration', { mv: '2.23' })).body.migrations;
    t.like(migrations[0], { instance_uuid: VM4, status: 'completed', migration_type: 'live-migration' });
  } finally {
    await s.close();
  }
});
