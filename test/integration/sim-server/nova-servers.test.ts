import test from 'ava';
import { serve, VM1, VM2, VM3, VM4, type Answer } from './harness';

test('nova servers/detail: all_tenants + host filter, the fields recovery reads, per microversion', async (t) => {
  const s = await serve();
  try {
    const detail = await s.nova('GET', '/servers/detail?all_tenants=1&host=compute-1', { mv: '2.47' });
    t.is(detail.status, 200);
    const servers = detail.body.servers;
    t.deepEqual(servers.map((x: { id: string }) => x.id).sort(), [VM1, VM2, VM3].sort());
    const web1 = servers.find((x: { id: string }) => x.id === VM1);
    t.like(web1, {
      name: 'web-1',
      status: 'ACTIVE',
      tenant_id: 'p1',
      metadata: { HA_Enabled: 'True' },
      'OS-EXT-SRV-ATTR:host': 'compute-1',
      'OS-EXT-SRV-ATTR:hypervisor_hostname': 'compute-1',
      'OS-EXT-STS:vm_state': 'active',
      'OS-EXT-STS:task_state': null,
      'OS-EXT-STS:power_state': 1,
      'OS-EXT-AZ:availability_zone': 'az-1',
      image: { id: 'img-a' },
      locked: false,
      host_status: 'UP',
    });
    t.deepEqual(web1.flavor, { original_name: 'medium', vcpus: 2, ram: 4096, disk: 0, ephemeral: 0, swap: 0, extra_specs: { evacuable: 'true' } });
    t.regex(web1.updated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const bfv = servers.find((x: { id: string }) => x.id === VM2);
    t.is(bfv.image, '');
    const stopped = servers.find((x: { id: string }) => x.id === VM3);
    t.like(stopped, { status: 'SHUTOFF', 'OS-EXT-STS:vm_state': 'stopped', 'OS-EXT-STS:power_state': 4 });

    // Before 2.47 the flavor is a reference; before 2.16 no host_status; before 2.9 no locked.
    const old = (await s.nova('GET', `/servers/${VM1}`, { mv: '2.8' })).body.server;
    t.deepEqual(Object.keys(old.flavor).sort(), ['id', 'links']);
    t.false('host_status' in old);
    t.false('locked' in old);

    // Without all_tenants an admin sees the servers of its own project only.
    const own = (await s.nova('GET', '/servers/detail', { mv: '2.47' })).body.servers;
    t.deepEqual(own.map((x: { id: string }) => x.id), [VM4]);
    t.deepEqual((await s.nova('GET', '/servers/detail?all_tenants=1&host=nowhere')).body.servers, []);
    t.is((await s.nova('GET', '/servers/detail?all_tenants=maybe')).status, 400);

    // host_status follows the service: forced down ⇒ DOWN, disabled ⇒ MAINTENANCE, no heartbeat ⇒ UNKNOWN.
    s.world.failHost('compute-1', 'power');
    const hs = async () => (await s.nova('GET', `/servers/${VM1}`, { mv: '2.16' })).body.server.host_status;
    t.is(await hs(), 'UNKNOWN');
    t.is((await s.nova('GET', `/servers/${VM1}`, { mv: '2.16' })).body.server.status, 'ACTIVE', 'Nova does not notice a dead host');
    await s.world.nova.setServiceEnabled('compute-1', false, 'x');
    t.is(await hs(), 'MAINTENANCE');
    await s.world.nova.setServiceForcedDown('compute-1', true);
    t.is(await hs(), 'DOWN');
  } finally {
    await s.close();
  }
});

test('nova servers/detail: limit/marker paging with servers_links rel=next; bad marker 400', async (t) => {
  const s = await serve();
  try {
    const seen: string[] = [];
    let url: string | undefined = `${s.server.computeUrl}/servers/detail?all_tenants=1&limit=2`;
    let pages = 0;
    while (url) {
      const answer: Answer = await s.http('GET', url, { headers: { 'x-auth-token': await s.token() } });
      t.is(answer.status, 200);
      seen.push(...answer.body.servers.map((x: { id: string }) => x.id));
      url = answer.body.servers_links?.find((l: { rel: string }) => l.rel === 'next')?.href;
      if (url) t.regex(url, /all_tenants=1&limit=2&marker=/);
      pages++;
    }
    t.is(pages, 3, 'two full pages, then an empty one');
    t.deepEqual([...seen].sort(), [VM1, VM2, VM3, VM4].sort());
    t.is(new Set(seen).size, 4);
    const bad = await s.nova('GET', '/servers/detail?all_tenants=1&marker=nope');
    t.is(bad.status, 400);
    t.is(bad.body.badRequest.message, 'marker [nope] not found');
    t.is((await s.nova('GET', '/servers/detail?all_tenants=1&limit=-1')).status, 400);
    const brief = (await s.nova('GET', '/servers?all_tenants=1&host=compute-2')).body.servers;
    t.deepEqual(brief.map((x: { id: string; name: string }) => [x.id, x.name]), [[VM4, 'admin-vm']]);
  } finally {
    await s.close();
  }
});

test('nova: unknown server 404 itemNotFound; unknown action 400; an injected api-error answers 503 serviceUnavailable and does nothing', async (t) => {
  const s = await serve();
  try {
    const missing = await s.nova('GET', '/servers/nope');
    t.is(missing.status, 404);
    t.deepEqual(missing.body, { itemNotFound: { code: 404, message: 'Instance nope could not be found.' } });
    t.is((await s.nova('POST', `/servers/${VM1}/action`, { body: { 'os-frobnicate': null } })).body.badRequest.message, 'There is no such action: os-frobnicate');
    t.is((await s.nova('POST', `/servers/${VM1}/action`, { body: { 'os-stop': null, 'os-start': null } })).status, 400);

    s.world.injectFault({ kind: 'api-error', action: 'stopInstance', times: 1 });
    const failed = await s.nova('POST', `/servers/${VM1}/action`, { body: { 'os-stop': null } });
    t.is(failed.status, 503);
    t.is(failed.body.serviceUnavailable.code, 503);
    t.regex(failed.body.serviceUnavailable.message, /503 Service Unavailable \(injected fault-1\)/);
    t.is(s.world.instanceState(VM1).taskState, null, 'nothing happened');
    s.world.injectFault({ kind: 'api-error', action: 'listInstances', times: 1, httpStatus: 500 });
    t.is((await s.nova('GET', '/servers/detail?all_tenants=1')).status, 500);

    const stopped = await s.nova('POST', `/servers/${VM1}/action`, { body: { 'os-stop': null } });
    t.is(stopped.status, 202);
    await s.world.idle();
    t.is(s.world.instanceState(VM1).status, 'SHUTOFF');
    const again = await s.nova('POST', `/servers/${VM1}/action`, { body: { 'os-stop': null } });
    t.is(again.status, 409);
    t.regex(again.body.conflictingRequest.message, /Cannot 'stop' instance .* while it is in vm_state stopped/);
    t.is((await s.nova('POST', `/servers/${VM1}/action`, { body: { 'os-start': null } })).status, 202);
    await s.world.idle();
    t.is(s.world.instanceState(VM1).status, 'ACTIVE');
    t.is((await s.nova('POST', `/servers/${VM1}/action`, { body: { reboot: { type: 'HARD' } } })).status, 202);
    t.is((await s.nova('POST', `/servers/${VM1}/action`, { body: { reboot: { type: 'KICK' } } })).status, 400);
    t.is(s.world.count('stopInstance', VM1), 3);
  } finally {
    await s.close();
  }
});

test('glance: an image that exists is 200, a missing or gone one 404; flavors are listed', async (t) => {
  const s = await serve();
  try {
    const get = async (id: string) => s.http('GET', `${s.server.imageUrl}/v2/images/${id}`, { headers: { 'x-auth-token': await s.token() } });
    const ok = await get('img-a');
    t.is(ok.status, 200);
    t.like(ok.body, { id: 'img-a', status: 'active' });
    const missing = await get('img-zz');
    t.is(missing.status, 404);
    t.regex(missing.text, /No image found with ID img-zz/);
    s.world.injectFault({ kind: 'image-gone', image: 'img-a' });
    t.is((await get('img-a')).status, 404);
    t.is(s.world.count('imageExists'), 3);

    const flavors = (await s.nova('GET', '/flavors/detail', { mv: '2.61' })).body.flavors;
    t.deepEqual(flavors.map((f: { name: string; ram: number }) => [f.name, f.ram]), [['small', 2048], ['medium', 4096]]);
    t.deepEqual(flavors[1].extra_specs, { evacuable: 'true' });
  } finally {
    await s.close();
  }
});
