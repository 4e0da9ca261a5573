import test from 'ava';
import { serve, until, VM1, VM2, VM3, VM4, type Served } from './harness';

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
      return server.status === 'ACTIVE' && server['OS-EXT-STS:task_state'] === null;
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

    // A second evacuation while the first is running: 409, task_state named.
    const busy = await evacuate(s, VM1, {}, '2.29');
    t.is(busy.status, 409);
    t.regex(busy.body.conflictingRequest.message, /^Cannot 'evacuate' instance .* while it is in task_state rebuild/);
    await s.world.idle();
    t.like(s.world.instanceState(VM1), { host: 'compute-3', status: 'REBUILD' });
  } finally {
    await s.close();
  }
});

test('evacuate ≥ 2.95 ends stopped on the destination; no room ⇒ 400 "No valid host was found."', async (t) => {
  const s = await serve({
    hosts: [
      { name: 'a', vcpus: 4, ramMb: 8192 },
      { name: 'b', vcpus: 4, ramMb: 8192 },
    ],
    instances: [
      { id: 'vm-on', host: 'a', flavor: { name: 'm', vcpus: 1, ramMb: 1024 }, sharedStorage: true },
      { id: 'vm-old', host: 'a', flavor: { name: 'm', vcpus: 1, ramMb: 1024 }, sharedStorage: true },
      { id: 'vm-big', host: 'a', flavor: { name: 'xl', vcpus: 8, ramMb: 1024 }, sharedStorage: true },
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
    const full = await evacuate(s, 'vm-big', {}, '2.95');
    t.is(full.status, 400);
    t.regex(full.body.badRequest.message, /^No valid host was found\./);
  } finally {
    await s.close();
  }
});

test('os-resetState clears a task_state stuck on a dead compute, after which evacuate is accepted', async (t) => {
  const s = await serve();
  try {
    s.world.failHost('compute-1', 'power');
    // Nova casts the stop to the dead compute: 202, and task_state powering-off forever.
    t.is((await s.nova('POST', `/servers/${VM2}/action`, { body: { 'os-stop': null } })).status, 202);
    t.is(s.world.instanceState(VM2).taskState, 'powering-off');
    await forceDown(s, 'compute-1', true);
    t.is((await evacuate(s, VM2, {})).status, 409);

    t.is((await s.nova('POST', `/servers/${VM2}/action`, { body: { 'os-resetState': { state: 'sleepy' } } })).status, 400);
    const reset = await s.nova('POST', `/servers/${VM2}/action`, { body: { 'os-resetState': { state: 'error' } } });
    t.is(reset.status, 202);
    const server = (await s.nova('GET', `/servers/${VM2}`)).body.server;
    t.like(server, { status: 'ERROR', 'OS-EXT-STS:vm_state': 'error', 'OS-EXT-STS:task_state': null });
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
