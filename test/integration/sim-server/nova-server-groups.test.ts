/**
 * The served sim's os-server-groups (built from the instances' serverGroup: the sim has no group records) and
 * `server_groups` on a server, as Nova renders them per microversion.
 */
import test from 'ava';
import type { WorldSpecInput } from '../../../src/drivers/cloud/sim/inventory';
import { serve } from './harness';

const ANTI = '22222222-2222-4222-8222-00000000000a';
const SOFT = '22222222-2222-4222-8222-00000000000b';
const vm = (n: number) => `11111111-1111-4111-8111-00000000010${n}`;

const GROUPED: WorldSpecInput = {
  flavors: { small: { vcpus: 1, ramMb: 2048 } },
  hosts: [
    { name: 'compute-1', vcpus: 16, ramMb: 32768 },
    { name: 'compute-2', vcpus: 16, ramMb: 32768 },
  ],
  instances: [
    { id: vm(1), name: 'db-1', host: 'compute-1', project: 'p1', flavor: 'small', serverGroup: { id: ANTI, policy: 'anti-affinity' } },
    { id: vm(2), name: 'db-2', host: 'compute-2', project: 'p1', flavor: 'small', serverGroup: { id: ANTI, policy: 'anti-affinity' } },
    { id: vm(3), name: 'web-1', host: 'compute-1', project: 'admin', flavor: 'small', serverGroup: { id: SOFT, policy: 'soft-anti-affinity' } },
    { id: vm(4), name: 'loner', host: 'compute-2', project: 'admin', flavor: 'small' },
  ],
};

test('nova os-server-groups/{id}: policies + metadata below 2.64, policy + rules from 2.64; members are the instances of the group', async (t) => {
  const s = await serve(GROUPED);
  t.teardown(() => s.close());
  const old = await s.nova('GET', `/os-server-groups/${ANTI}`, { mv: '2.63' });
  t.is(old.status, 200);
  t.deepEqual(old.body, {
    server_group: { id: ANTI, name: ANTI, policies: ['anti-affinity'], metadata: {}, members: [vm(1), vm(2)], project_id: 'p1', user_id: await userId(s) },
  });
  const current = await s.nova('GET', `/os-server-groups/${ANTI}`, { mv: '2.64' });
  t.deepEqual(current.body, {
    server_group: { id: ANTI, name: ANTI, policy: 'anti-affinity', rules: {}, members: [vm(1), vm(2)], project_id: 'p1', user_id: await userId(s) },
  });
  // Before 2.13 no project_id / user_id.
  t.deepEqual(Object.keys((await s.nova('GET', `/os-server-groups/${SOFT}`, { mv: '2.12' })).body.server_group).sort(), ['id', 'members', 'metadata', 'name', 'policies']);

  const unknown = await s.nova('GET', '/os-server-groups/33333333-3333-4333-8333-000000000000', { mv: '2.64' });
  t.is(unknown.status, 404);
  t.deepEqual(unknown.body, { itemNotFound: { code: 404, message: 'Instance group 33333333-3333-4333-8333-000000000000 could not be found.' } });
  t.is((await s.nova('GET', `/os-server-groups/${ANTI}`, { token: null })).status, 401);
});

test('nova os-server-groups: the token project\'s groups, every project\'s with all_projects; limit/offset without links', async (t) => {
  const s = await serve(GROUPED);
  t.teardown(() => s.close());
  const ids = (answer: { body: { server_groups: { id: string }[] } }) => answer.body.server_groups.map((g) => g.id);
  t.deepEqual(ids(await s.nova('GET', '/os-server-groups', { mv: '2.64' })), [SOFT]);
  const all = await s.nova('GET', '/os-server-groups?all_projects=True', { mv: '2.64' });
  t.deepEqual(ids(all), [ANTI, SOFT]);
  t.like(all.body.server_groups[1], { policy: 'soft-anti-affinity', members: [vm(3)], project_id: 'admin' });
  t.false('server_groups_links' in all.body);
  t.deepEqual(ids(await s.nova('GET', '/os-server-groups?all_projects', { mv: '2.1' })), [ANTI, SOFT], 'any value, even none');
  t.deepEqual(ids(await s.nova('GET', '/os-server-groups?all_projects=True&limit=1', { mv: '2.64' })), [ANTI]);
  t.deepEqual(ids(await s.nova('GET', '/os-server-groups?all_projects=True&limit=1&offset=1', { mv: '2.64' })), [SOFT]);
  t.deepEqual(ids(await s.nova('GET', '/os-server-groups?all_projects=True&offset=2', { mv: '2.64' })), []);
  t.is((await s.nova('GET', '/os-server-groups?limit=x', { mv: '2.64' })).status, 400);
  t.is((await s.nova('GET', '/os-server-groups?offset=-1', { mv: '2.64' })).status, 400);
});

test('nova servers: server_groups on GET /servers/{id} from 2.71 only, never in servers/detail (as Nova)', async (t) => {
  const s = await serve(GROUPED);
  t.teardown(() => s.close());
  t.deepEqual((await s.nova('GET', `/servers/${vm(1)}`, { mv: '2.71' })).body.server.server_groups, [ANTI]);
  t.deepEqual((await s.nova('GET', `/servers/${vm(4)}`, { mv: '2.95' })).body.server.server_groups, []);
  t.false('server_groups' in (await s.nova('GET', `/servers/${vm(1)}`, { mv: '2.70' })).body.server);
  const detail = (await s.nova('GET', '/servers/detail?all_tenants=1', { mv: '2.95' })).body.servers as Record<string, unknown>[];
  t.is(detail.length, 4);
  for (const server of detail) t.false('server_groups' in server);
});

/** The user id the served Keystone gives its one user. */
async function userId(s: Awaited<ReturnType<typeof serve>>): Promise<string> {
  return (await s.nova('GET', `/servers/${vm(4)}`, { mv: '2.1' })).body.server.user_id as string;
}
