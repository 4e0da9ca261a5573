/**
 * Nova server groups through the OpenStack driver, against the served simulator: `Instance.serverGroup`
 * from `GET /servers/{id}`'s `server_groups` (≥ 2.71) and a per-group lookup, or from the listing of groups
 * (`servers/detail` never names groups; below 2.71 neither does a single server); one request per group, kept
 * 60 s; a group that cannot be read leaves `serverGroup` out, warned once, and fails nothing.
 *
 * Requests are counted, and some answered differently, by wrapping `fetch` for this file's sim servers
 * (each test has its own server, told apart by its origin).
 */
import { Writable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import pino from 'pino';
import { systemClock, type Clock } from '../../../src/domain';
import { loadCloudConfig } from '../../../src/drivers/cloud/openstack/clouds';
import { OpenStackCloudDriver, SERVER_GROUP_TTL_MS } from '../../../src/drivers/cloud/openstack/openstack-cloud-driver';
import { startSimServer } from '../../../src/drivers/cloud/sim/http/server';
import { createWorld, type WorldSpecInput } from '../../../src/drivers/cloud/sim/inventory';

// ---- fetch wrapper: records requests per origin, answers some itself -----------------------------------

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
}
/** Answers a request itself, or passes it on (`pass`, possibly later), or leaves it alone (undefined). */
type Hook = (request: Seen, pass: () => Promise<Response>) => Response | Promise<Response> | undefined;
const seen = new Map<string, Seen[]>();
const hooks = new Map<string, Hook>();
const realFetch = globalThis.fetch;
globalThis.fetch = async (input: string | URL | Request, init?: RequestInit) => {
  const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
  const request: Seen = { method: init?.method ?? (input instanceof Request ? input.method : 'GET'), path: url.pathname, query: url.searchParams };
  seen.get(url.origin)?.push(request);
  const pass = () => realFetch(input, init);
  return (await hooks.get(url.origin)?.(request, pass)) ?? pass();
};

const novaFault = (status: number, name: string, message: string) =>
  new Response(JSON.stringify({ [name]: { code: status, message } }), { status, headers: { 'content-type': 'application/json' } });

// ---- a served world ------------------------------------------------------------------------------------

const ANTI = '22222222-2222-4222-8222-00000000000a';
const SOFT = '22222222-2222-4222-8222-00000000000b';
const AFFINITY = '22222222-2222-4222-8222-00000000000c';
const GROUPS = [
  { id: ANTI, policy: 'anti-affinity' },
  { id: SOFT, policy: 'soft-anti-affinity' },
  { id: AFFINITY, policy: 'affinity' },
] as const;
const vm = (n: number) => `11111111-1111-4111-8111-${String(n).padStart(12, '0')}`;

/** `n` instances on compute-1, in the three groups in turn, and one without a group on compute-2. */
const world = (n: number): WorldSpecInput => ({
  flavors: { tiny: { vcpus: 1, ramMb: 128 } },
  hosts: [
    { name: 'compute-1', vcpus: 1024, ramMb: 1_000_000 },
    { name: 'compute-2', vcpus: 1024, ramMb: 1_000_000 },
  ],
  instances: [
    ...Array.from({ length: n }, (_, i) => ({ id: vm(i + 1), name: `vm-${i + 1}`, host: 'compute-1', project: `p${i % 2}`, flavor: 'tiny', serverGroup: { ...GROUPS[i % 3]! } })),
    { id: vm(999), name: 'loner', host: 'compute-2', project: 'p0', flavor: 'tiny' },
  ],
});

interface Setup {
  readonly driver: OpenStackCloudDriver;
  /** Requests under /compute/v2.1/os-server-groups: `list` (the listing) and `byId` (one group). */
  groupRequests(): { list: number; byId: string[] };
  /** all_projects, limit and offset of each listing request. */
  listingQueries(): (string | null)[][];
  readonly warnings: { msg: string; group?: string }[];
  /** Moves the driver's clock on. */
  advance(ms: number): void;
  hook(fn: Hook): void;
}

async function setup(t: ExecutionContext, options: { instances?: number; microversion?: string; pageSize?: number } = {}): Promise<Setup> {
  const w = createWorld(world(options.instances ?? 6), { seed: 'groups', timeScale: 0 });
  const server = await startSimServer({ world: w, log: pino({ level: 'silent' }) });
  const origin = new URL(server.computeUrl).origin;
  seen.set(origin, []);
  t.teardown(async () => {
    hooks.delete(origin);
    seen.delete(origin);
    await server.close();
    w.dispose();
  });
  const warnings: { msg: string; group?: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const line = JSON.parse(chunk.toString()) as { level: number; msg: string; group?: string };
      if (line.level === 40) warnings.push({ msg: line.msg, ...(line.group ? { group: line.group } : {}) });
      done();
    },
  });
  let offset = 0;
  const clock: Clock = { now: () => systemClock.now() + offset, sleep: (ms, signal) => systemClock.sleep(ms, signal) };
  const cloud = loadCloudConfig({
    env: {
      OS_AUTH_URL: server.authUrl,
      OS_USERNAME: 'admin',
      OS_PASSWORD: 'secret',
      OS_PROJECT_NAME: 'admin',
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_REGION_NAME: 'RegionOne',
    },
  });
  const driver = new OpenStackCloudDriver(cloud, {
    retries: 1,
    retryBaseMs: 1,
    timeoutMs: 10_000,
    log: pino({ level: 'warn' }, sink),
    clock,
    ...(options.microversion ? { microversion: options.microversion } : {}),
    ...(options.pageSize ? { pageSize: options.pageSize } : {}),
  });
  return {
    driver,
    warnings,
    advance: (ms) => {
      offset += ms;
    },
    hook: (fn) => hooks.set(origin, fn),
    listingQueries: () =>
      (seen.get(origin) ?? []).filter((r) => r.path === '/compute/v2.1/os-server-groups').map((r) => [r.query.get('all_projects'), r.query.get('limit'), r.query.get('offset')]),
    groupRequests: () => {
      const groups = (seen.get(origin) ?? []).filter((r) => r.path.startsWith('/compute/v2.1/os-server-groups'));
      return {
        list: groups.filter((r) => r.path === '/compute/v2.1/os-server-groups').length,
        byId: groups.filter((r) => r.path !== '/compute/v2.1/os-server-groups').map((r) => decodeURIComponent(r.path.split('/').at(-1)!)),
      };
    },
  };
}

const groupOf = (i: number) => ({ id: GROUPS[(i - 1) % 3]!.id, policy: GROUPS[(i - 1) % 3]!.policy });

// ---- tests ---------------------------------------------------------------------------------------------

test('server groups: an anti-affinity member comes back with serverGroup {id, policy} from getInstance and listInstances; a loner without', async (t) => {
  const s = await setup(t);
  t.is(await s.driver.microversion(), '2.95');
  t.deepEqual((await s.driver.getInstance(vm(1))).serverGroup, { id: ANTI, policy: 'anti-affinity' });
  t.deepEqual((await s.driver.getInstance(vm(2))).serverGroup, { id: SOFT, policy: 'soft-anti-affinity' });
  t.false('serverGroup' in (await s.driver.getInstance(vm(999))));
  const listed = await s.driver.listInstances('compute-1');
  t.is(listed.length, 6);
  for (const i of listed) t.deepEqual(i.serverGroup, groupOf(Number(i.id.slice(-12))), i.id);
  t.false('serverGroup' in (await s.driver.listInstances('compute-2'))[0]!);
  t.deepEqual(s.warnings, []);
});

test('server groups: 200 servers in 3 groups cost one listing (not a lookup per server); getInstance looks each group up once, kept 60 s', async (t) => {
  const s = await setup(t, { instances: 200 });
  const listed = await s.driver.listInstances('compute-1');
  t.is(listed.length, 200);
  for (const i of listed) t.deepEqual(i.serverGroup, groupOf(Number(i.id.slice(-12))), i.id);
  // One page, then the empty page that ends the listing (it has no links); no lookup by id.
  t.deepEqual(s.groupRequests(), { list: 2, byId: [] });
  // Listings within 60 s (a plan lists every host at once) reuse it.
  await Promise.all([s.driver.listInstances('compute-1'), s.driver.listInstances('compute-2')]);
  t.is(s.groupRequests().list, 2);
  // getInstance at 2.95 reads the group's id on the server; the policies are already known.
  await Promise.all(Array.from({ length: 200 }, (_, i) => s.driver.getInstance(vm(i + 1))));
  t.deepEqual(s.groupRequests().byId, []);

  // A fresh driver reading 200 servers one by one, all at once: one lookup per group.
  const fresh = await setup(t, { instances: 200 });
  const read = await Promise.all(Array.from({ length: 200 }, (_, i) => fresh.driver.getInstance(vm(i + 1))));
  for (const [n, i] of read.entries()) t.deepEqual(i.serverGroup, groupOf(n + 1));
  t.deepEqual(fresh.groupRequests().byId.sort(), [ANTI, SOFT, AFFINITY].sort());
  t.is(fresh.groupRequests().list, 0);
  await fresh.driver.getInstance(vm(1));
  fresh.advance(SERVER_GROUP_TTL_MS - 1_000);
  await fresh.driver.getInstance(vm(1));
  t.is(fresh.groupRequests().byId.length, 3, 'kept for 60 s');
  fresh.advance(2_000);
  await Promise.all([fresh.driver.getInstance(vm(1)), fresh.driver.getInstance(vm(4))]);
  t.deepEqual(fresh.groupRequests().byId.slice(3), [ANTI], 'then asked again, once');
});

test('server groups: the listing is paged by limit/offset until an empty page', async (t) => {
  const s = await setup(t, { pageSize: 2 });
  const listed = await s.driver.listInstances('compute-1');
  for (const i of listed) t.deepEqual(i.serverGroup, groupOf(Number(i.id.slice(-12))));
  t.deepEqual(s.listingQueries(), [['True', '2', '0'], ['True', '2', '2'], ['True', '2', '3']]);
});

test('server groups: a group that cannot be read (404) leaves serverGroup out, fails nothing, is warned once and not asked again for 60 s', async (t) => {
  const s = await setup(t);
  s.hook((r) => (r.path.endsWith(`/os-server-groups/${ANTI}`) ? novaFault(404, 'itemNotFound', `Instance group ${ANTI} could not be found.`) : undefined));
  const one = await s.driver.getInstance(vm(1));
  t.false('serverGroup' in one);
  t.is(one.id as string, vm(1));
  t.deepEqual((await s.driver.getInstance(vm(2))).serverGroup, { id: SOFT, policy: 'soft-anti-affinity' }, 'other groups unaffected');
  t.false('serverGroup' in (await s.driver.getInstance(vm(4))));
  t.deepEqual(s.groupRequests().byId.filter((id) => id === ANTI), [ANTI], 'a 404 is kept like an answer');
  t.is(s.warnings.filter((w) => w.group === ANTI).length, 1);
  t.regex(s.warnings[0]!.msg, /server group .* cannot be read \(Instance group .* could not be found\.\)/);
});

test('server groups: a listing that fails (503) leaves serverGroup out without failing listInstances, and is asked again next time', async (t) => {
  const s = await setup(t);
  let failing = true;
  s.hook((r) => (failing && r.path === '/compute/v2.1/os-server-groups' ? novaFault(503, 'serviceUnavailable', 'nova-api is restarting') : undefined));
  const listed = await s.driver.listInstances('compute-1');
  t.is(listed.length, 6);
  for (const i of listed) t.false('serverGroup' in i);
  await s.driver.listInstances('compute-1');
  // (The HTTP layer also warns about each retry of the 503.)
  t.deepEqual(s.warnings.filter((w) => /server group/.test(w.msg)).map((w) => w.msg), [
    'server groups cannot be listed (nova-api is restarting): instances are reported without their server group, so placement does not keep their (anti-)affinity',
  ], 'warned once');
  t.is(s.groupRequests().list, 4, 'not kept: asked again (each with its one retry)');
  failing = false;
  for (const i of await s.driver.listInstances('compute-1')) t.deepEqual(i.serverGroup, groupOf(Number(i.id.slice(-12))));
});

test('server groups: a policy the engine does not know leaves serverGroup out, warned once', async (t) => {
  const s = await setup(t);
  s.hook((r) =>
    r.path.endsWith(`/os-server-groups/${ANTI}`)
      ? new Response(JSON.stringify({ server_group: { id: ANTI, name: 'x', policy: 'spread-by-rack', rules: {}, members: [vm(1)] } }), { headers: { 'content-type': 'application/json' } })
      : undefined,
  );
  t.false('serverGroup' in (await s.driver.getInstance(vm(1))));
  t.false('serverGroup' in (await s.driver.getInstance(vm(4))));
  t.is(s.warnings.length, 1);
  t.regex(s.warnings[0]!.msg, /spread-by-rack/);
});

test('server groups below 2.71: no server names its group; the listing does (policies: [name] below 2.64)', async (t) => {
  for (const microversion of ['2.70', '2.60']) {
    const s = await setup(t, { microversion });
    t.is(await s.driver.microversion(), microversion);
    t.deepEqual((await s.driver.getInstance(vm(1))).serverGroup, { id: ANTI, policy: 'anti-affinity' }, microversion);
    t.deepEqual((await s.driver.getInstance(vm(3))).serverGroup, { id: AFFINITY, policy: 'affinity' }, microversion);
    for (const i of await s.driver.listInstances('compute-1')) t.deepEqual(i.serverGroup, groupOf(Number(i.id.slice(-12))), microversion);
    t.false('serverGroup' in (await s.driver.getInstance(vm(999))));
    t.deepEqual(s.groupRequests(), { list: 2, byId: [] }, microversion);
  }
});

test('server groups: a caller\'s abort rejects with its reason; the lookup it shared goes on for the others', async (t) => {
  const s = await setup(t);
  await s.driver.microversion();
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  s.hook((r, pass) => (r.path.endsWith(`/os-server-groups/${ANTI}`) ? held.then(pass) : undefined));
  const controller = new AbortController();
  const first = s.driver.getInstance(vm(1), { signal: controller.signal });
  const second = s.driver.getInstance(vm(4));
  await new Promise((resolve) => setTimeout(resolve, 100));
  controller.abort(new Error('caller gave up'));
  await t.throwsAsync(first, { message: 'caller gave up' });
  release();
  t.deepEqual((await second).serverGroup, { id: ANTI, policy: 'anti-affinity' });
  t.deepEqual(s.groupRequests().byId, [ANTI]);
  t.deepEqual(s.warnings, []);
});
