import test from 'ava';
import { serve } from './harness';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test('nova microversions: echoed with Vary, legacy header and latest understood, 406 outside 2.1–2.95, 400 malformed', async (t) => {
  const s = await serve();
  try {
    const v = await s.http('GET', s.server.computeUrl);
    t.like(v.body.version, { id: 'v2.1', min_version: '2.1', version: '2.95', status: 'CURRENT' });
    const root = await s.http('GET', s.server.computeUrl.replace(/v2\.1$/, ''));
    t.is(root.body.versions.find((x: { id: string }) => x.id === 'v2.1').version, '2.95');

    const a = await s.nova('GET', '/os-services', { mv: '2.60' });
    t.is(a.status, 200);
    t.is(a.headers.get('openstack-api-version'), 'compute 2.60');
    t.is(a.headers.get('x-openstack-nova-api-version'), '2.60');
    t.regex(a.headers.get('vary') ?? '', /OpenStack-API-Version/);
    t.regex(a.headers.get('x-openstack-request-id') ?? '', /^req-[0-9a-f-]{36}$/);

    const none = await s.http('GET', `${s.server.computeUrl}/os-services`, { headers: { 'x-auth-token': await s.token() } });
    t.is(none.headers.get('openstack-api-version'), 'compute 2.1', 'no header: the minimum');
    const legacy = await s.http('GET', `${s.server.computeUrl}/os-services`, { headers: { 'x-auth-token': await s.token(), 'x-openstack-nova-api-version': '2.11' } });
    t.is(legacy.headers.get('openstack-api-version'), 'compute 2.11');
    t.true('forced_down' in legacy.body.services[0]);
    t.is((await s.nova('GET', '/os-services', { mv: 'latest' })).headers.get('openstack-api-version'), 'compute 2.95');
    const several = await s.nova('GET', '/os-services', { headers: { 'openstack-api-version': 'placement 1.30, compute 2.53' } });
    t.is(several.headers.get('openstack-api-version'), 'compute 2.53');

    for (const mv of ['2.96', '2.0', '3.1']) {
      const refused = await s.nova('GET', '/os-services', { mv });
      t.is(refused.status, 406, mv);
      t.is(refused.body.computeFault.code, 406);
      t.regex(refused.body.computeFault.message, /Minimum is 2\.1 and maximum is 2\.95/);
    }
    const malformed = await s.nova('GET', '/os-services', { mv: 'two' });
    t.is(malformed.status, 400);
    t.regex(malformed.body.badRequest.message, /invalid format/);
  } finally {
    await s.close();
  }
});

test('nova os-services: integer ids below 2.53, UUIDs from 2.53; forced_down from 2.11; host and binary filters', async (t) => {
  const s = await serve();
  try {
    const at = async (mv: string, query = '') => (await s.nova('GET', `/os-services${query}`, { mv })).body.services;
    const v21 = await at('2.1');
    t.is(v21.length, 3);
    t.false('forced_down' in v21[0]);
    const v252 = await at('2.52', '?binary=nova-compute&host=compute-2');
    t.is(v252.length, 1);
    t.true(Number.isInteger(v252[0].id));
    t.like(v252[0], { binary: 'nova-compute', host: 'compute-2', zone: 'az-1', status: 'enabled', state: 'up', forced_down: false, disabled_reason: null });
    t.regex(v252[0].updated_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    const v253 = await at('2.53', '?host=compute-2');
    t.regex(v253[0].id, UUID);
    t.deepEqual(await at('2.53', '?host=nowhere'), []);
    t.deepEqual(await at('2.53', '?binary=nova-scheduler'), []);
    t.is(s.world.count('getService', 'compute-2'), 2);
  } finally {
    await s.close();
  }
});

test('nova os-services < 2.53: disable, disable-log-reason, enable and force-down by host and binary', async (t) => {
  const s = await serve();
  try {
    const put = (action: string, body: unknown, mv = '2.11') => s.nova('PUT', `/os-services/${action}`, { mv, body });
    t.deepEqual((await put('disable', { host: 'compute-1', binary: 'nova-compute' })).body, { service: { host: 'compute-1', binary: 'nova-compute', status: 'disabled' } });
    t.is(s.world.hostState('compute-1').service.status, 'disabled');
    const reason = await put('disable-log-reason', { host: 'compute-1', binary: 'nova-compute', disabled_reason: 'fenced' });
    t.deepEqual(reason.body.service, { host: 'compute-1', binary: 'nova-compute', status: 'disabled', disabled_reason: 'fenced' });
    t.is(s.world.hostState('compute-1').service.disabledReason, 'fenced');
    t.deepEqual((await put('force-down', { host: 'compute-1', binary: 'nova-compute', forced_down: true })).body.service, { host: 'compute-1', binary: 'nova-compute', forced_down: true });
    t.like(s.world.hostState('compute-1').service, { forcedDown: true, state: 'down' });
    await put('enable', { host: 'compute-1', binary: 'nova-compute' });
    t.is(s.world.hostState('compute-1').service.status, 'enabled');

    t.is((await put('force-down', { host: 'compute-1', binary: 'nova-compute', forced_down: false }, '2.10')).status, 404, 'force-down needs 2.11');
    t.is((await put('disable', { host: 'nowhere', binary: 'nova-compute' })).status, 404);
    t.is((await put('disable', { host: 'compute-1' })).status, 400, 'binary is required');
    const atNew = await put('disable', { host: 'compute-1', binary: 'nova-compute' }, '2.53');
    t.is(atNew.status, 400);
    t.is(atNew.body.badRequest.message, 'Invalid uuid disable');
  } finally {
    await s.close();
  }
});

test('nova os-services ≥ 2.53: PUT /os-services/{uuid} and its 400 rules', async (t) => {
  const s = await serve();
  try {
    const [svc] = (await s.nova('GET', '/os-services?host=compute-1', { mv: '2.53' })).body.services;
    const put = (body: unknown, id = svc.id as string) => s.nova('PUT', `/os-services/${id}`, { mv: '2.53', body });

    const disabled = await put({ status: 'disabled', disabled_reason: 'maintenance' });
    t.is(disabled.status, 200);
    t.like(disabled.body.service, { id: svc.id, host: 'compute-1', status: 'disabled', disabled_reason: 'maintenance', state: 'up', forced_down: false });
    const down = await put({ forced_down: true });
    t.like(down.body.service, { forced_down: true, state: 'down', status: 'disabled' });
    t.like(s.world.hostState('compute-1').service, { forcedDown: true, status: 'disabled', disabledReason: 'maintenance' });

    const rule = async (body: unknown, message: RegExp, id?: string) => {
      const answer = await put(body, id);
      t.is(answer.status, 400, JSON.stringify(body));
      t.regex(answer.body.badRequest.message, message);
    };
    await rule({ status: 'enabled', disabled_reason: 'x' }, /^Specifying 'disabled_reason' with status 'enabled' is invalid\.$/);
    await rule({}, /^No updates were requested/);
    await rule({ disabled_reason: 'only a reason' }, /^No updates were requested/);
    await rule({ status: 'maybe' }, /Invalid input/);
    await rule({ forced_down: 'perhaps' }, /Invalid input/);
    await rule({ status: 'enabled', colour: 'red' }, /Additional properties are not allowed/);
    await rule({ status: 'enabled' }, /^Invalid uuid 1$/, '1');
    const unknown = await put({ status: 'enabled' }, '00000000-0000-4000-8000-000000000000');
    t.is(unknown.status, 404);
    t.truthy(unknown.body.itemNotFound);

    const up = await put({ status: 'enabled', forced_down: false });
    t.like(up.body.service, { status: 'enabled', disabled_reason: null, forced_down: false, state: 'up' });
  } finally {
    await s.close();
  }
});

test('nova os-hypervisors/detail: capacity stats below 2.88 only; UUID ids and with_servers from 2.53', async (t) => {
  const s = await serve();
  try {
    const old = (await s.nova('GET', '/os-hypervisors/detail', { mv: '2.87' })).body.hypervisors;
    const h1 = old.find((h: { hypervisor_hostname: string }) => h.hypervisor_hostname === 'compute-1');
    // The instances' 10240 MB and Nova's default reserved_host_memory_mb (512): see the pin below.
    t.like(h1, { vcpus: 16, memory_mb: 32768, vcpus_used: 5, memory_mb_used: 10752, free_ram_mb: 22016, running_vms: 3, state: 'up', status: 'enabled' });
    const modern = (await s.nova('GET', '/os-hypervisors/detail?with_servers=true&hypervisor_hostname_pattern=compute-2', { mv: '2.88' })).body.hypervisors;
    t.is(modern.length, 1);
    t.false('vcpus' in modern[0]);
    t.false('memory_mb_used' in modern[0]);
    t.regex(modern[0].id, UUID);
    t.deepEqual(modern[0].servers.map((x: { name: string }) => x.name), ['admin-vm']);
    t.is((await s.nova('GET', '/os-hypervisors/detail?hypervisor_hostname_pattern=zzz', { mv: '2.88' })).status, 404);
  } finally {
    await s.close();
  }
});

test('nova: os-hypervisors memory_mb_used includes reserved_host_memory_mb (512 by default, per host otherwise), memory_mb is the whole host, and the scheduler never gives the reserve away (as Nova 26)', async (t) => {
  const s = await serve({
    hosts: [
      { name: 'a', vcpus: 8, ramMb: 8192 },
      { name: 'b', vcpus: 8, ramMb: 8192 },
      { name: 'c', vcpus: 8, ramMb: 8192, reservedRamMb: 0 },
    ],
    instances: [
      { id: 'vm-1', host: 'a', flavor: { name: 'm', vcpus: 1, ramMb: 2048 }, sharedStorage: true },
      { id: 'vm-all', host: 'a', flavor: { name: 'full', vcpus: 1, ramMb: 8192 }, sharedStorage: true },
      { id: 'vm-7680', host: 'a', flavor: { name: 'almost', vcpus: 1, ramMb: 7680 }, sharedStorage: true },
    ],
  });
  try {
    const hypervisors = (await s.nova('GET', '/os-hypervisors/detail', { mv: '2.87' })).body.hypervisors;
    const of = (name: string) => hypervisors.find((h: { hypervisor_hostname: string }) => h.hypervisor_hostname === name);
    t.like(of('a'), { memory_mb: 8192, memory_mb_used: 2048 + 8192 + 7680 + 512, free_ram_mb: 8192 - (2048 + 8192 + 7680 + 512) });
    t.like(of('b'), { memory_mb: 8192, memory_mb_used: 512, free_ram_mb: 7680, vcpus_used: 0 });
    t.like(of('c'), { memory_mb: 8192, memory_mb_used: 0, free_ram_mb: 8192 });
    t.like(s.world.hostState('b').capacity, { ramMb: 8192, usedRamMb: 512 });

    // Only c can take a whole 8192 MB instance; b has 7680 for instances, exactly enough for vm-7680.
    s.world.failHost('a', 'power');
    await s.nova('PUT', '/os-services/force-down', { mv: '2.11', body: { host: 'a', binary: 'nova-compute', forced_down: true } });
    await s.nova('PUT', '/os-services/disable', { mv: '2.11', body: { host: 'c', binary: 'nova-compute' } });
    const evacuate = (id: string) => s.nova('POST', `/servers/${id}/action`, { mv: '2.29', body: { evacuate: {} } });
    t.is((await evacuate('vm-all')).status, 200);
    t.is((await evacuate('vm-7680')).status, 200);
    await s.world.idle();
    t.like(s.world.instanceState('vm-all'), { host: 'a', status: 'ERROR' }, 'b keeps its 512 MB: no valid host');
    t.like(s.world.instanceState('vm-7680'), { host: 'b', status: 'ACTIVE' });
    t.like(s.world.hostState('b').capacity, { usedRamMb: 8192 });
  } finally {
    await s.close();
  }
});
