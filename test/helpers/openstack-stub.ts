/**
 * A small Keystone v3 + Nova + Glance on 127.0.0.1 for the OpenStack driver's unit tests, answering with
 * the shapes of /work/shared/reference/nova-recovery-api.md: 201 + X-Subject-Token, catalogs, version
 * documents, fault bodies `{"<faultName>": {"code", "message"}}`, X-OpenStack-Request-Id on every answer.
 * Fixtures are plain data the test can change; `intercept` scripts one-off answers (503s, hangs, resets).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const STUB_PASSWORD = 'stub-pa55-Vq8#word';
export const STUB_APP_SECRET = 'stub-app-secret-7Zk';

export interface Recorded {
  readonly method: string;
  /** Path and query, e.g. `/compute/v2.1/servers/detail?all_tenants=1`. */
  readonly url: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
}

export interface StubAnswer {
  readonly status?: number;
  readonly body?: unknown;
  /** Raw text body (HTML error pages). */
  readonly text?: string;
  readonly headers?: Record<string, string>;
  /** Never answer (timeouts). */
  readonly hang?: boolean;
  /** Drop the connection without an answer. */
  readonly destroy?: boolean;
}

type Interceptor = { match: (r: Recorded) => boolean; answer: (r: Recorded) => StubAnswer; times: number };

export interface StubService {
  id: string;
  intId: number;
  host: string;
  zone: string;
  status: 'enabled' | 'disabled';
  state: 'up' | 'down';
  forced_down: boolean;
  disabled_reason: string | null;
  updated_at: string | null;
}

export interface StubServer {
  id: string;
  name: string;
  host: string | null;
  status: string;
  task_state: string | null;
  power_state: number;
  tenant_id: string;
  metadata: Record<string, string>;
  flavor: { id: string; original_name: string; vcpus: number; ram: number; extra_specs: Record<string, string> };
  image: string;
  updated: string;
  locked?: boolean;
}

export interface StubMigration {
  id: number;
  uuid: string;
  instance_uuid: string;
  migration_type: string;
  source_compute: string;
  dest_compute: string | null;
  status: string;
  created_at: string;
}

export interface StubOptions {
  /** Server microversion range. Default 2.1–2.100. */
  readonly minVersion?: string;
  readonly maxVersion?: string;
  /** expires_at − issued_at of tokens. Default 1 h. */
  readonly tokenLifetimeMs?: number;
  /** Put a Glance endpoint in the catalog. Default true. */
  readonly glance?: boolean;
}

const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

export class OpenStackStub {
  readonly requests: Recorded[] = [];
  readonly tokens = new Set<string>();
  readonly services: StubService[] = [
    { id: uuid(101), intId: 1, host: 'compute-a', zone: 'az-1', status: 'enabled', state: 'up', forced_down: false, disabled_reason: null, updated_at: '2026-03-01T10:00:00.000000' },
    { id: uuid(102), intId: 2, host: 'compute-b', zone: 'az-2', status: 'disabled', state: 'down', forced_down: true, disabled_reason: 'fenced', updated_at: '2026-03-01T09:00:00.000000' },
  ];
  readonly aggregates = [
    { id: 1, name: 'agg-ssd', hosts: ['compute-a', 'compute-b'], metadata: { ssd: 'true', availability_zone: 'az-1' }, availability_zone: 'az-1' },
    { id: 2, name: 'spares', hosts: ['compute-b'], metadata: { 'resurrect:reserved': 'true', evacuable: 'True' }, availability_zone: null },
  ];
  readonly hypervisors = [
    { host: 'compute-a', node: 'compute-a.node1', vcpus: 32, memory_mb: 65536, vcpus_used: 3, memory_mb_used: 6144 },
    { host: 'compute-a', node: 'compute-a.node2', vcpus: 8, memory_mb: 16384, vcpus_used: 1, memory_mb_used: 2048 },
    { host: 'compute-b', node: 'compute-b', vcpus: 16, memory_mb: 32768, vcpus_used: 0, memory_mb_used: 0 },
  ];
  readonly servers: StubServer[] = [
    stubServer('vm-1', 'alpha', 'compute-a', { metadata: { HA_Enabled: 'True', 'resurrect:shared_storage': 'true' } }),
    stubServer('vm-2', 'bravo', 'compute-a', { power_state: 4, status: 'SHUTOFF', image: 'img-1' }),
    stubServer('vm-3', 'charlie', 'compute-a', { image: '', power_state: 6, status: 'ERROR', task_state: null }),
    stubServer('vm-9', 'zulu', 'compute-b', {}),
  ];
  readonly images = new Map<string, string>([['img-1', 'active'], ['img-queued', 'queued']]);
  readonly migrations: StubMigration[] = [];
  readonly flavors = new Map<string, { name: string; vcpus: number; ram: number; extra_specs: Record<string, string> }>([
    ['f-medium', { name: 'medium', vcpus: 2, ram: 4096, extra_specs: { evacuable: 'true' } }],
  ]);
  minVersion: string;
  maxVersion: string;
  /** The `Date` header of every answer: undefined for Node's (the wall clock), null for none, else this text. */
  date: string | null | undefined;
  tokenLifetimeMs: number;
  glance: boolean;
  base = '';
  private server?: Server;
  private readonly interceptors: Interceptor[] = [];
  private seq = 0;

  constructor(options: StubOptions = {}) {
    this.minVersion = options.minVersion ?? '2.1';
    this.maxVersion = options.maxVersion ?? '2.100';
    this.tokenLifetimeMs = options.tokenLifetimeMs ?? 3600_000;
    this.glance = options.glance ?? true;
  }

  get authUrl(): string {
    return `${this.base}/identity`;
  }

  get computeUrl(): string {
    return `${this.base}/compute/v2.1`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Answers the next `times` requests that match with `answer` instead of the normal handler. */
  intercept(match: (r: Recorded) => boolean, answer: StubAnswer | ((r: Recorded) => StubAnswer), times = 1): void {
    this.interceptors.push({ match, answer: typeof answer === 'function' ? answer : () => answer, times });
  }

  /** Requests to a service (`identity`, `compute`, `image`), optionally by method and path prefix under it. */
  calls(service: 'identity' | 'compute' | 'image', method?: string, path?: string): Recorded[] {
    const prefix = service === 'compute' ? '/compute/v2.1' : `/${service}`;
    return this.requests.filter((r) => r.path.startsWith(`/${service}`) && (method === undefined || r.method === method) && (path === undefined || r.path.startsWith(`${prefix}${path}`)));
  }

  authCount(): number {
    return this.calls('identity', 'POST', '/v3/auth/tokens').length;
  }

  revokeAll(): void {
    this.tokens.clear();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://stub');
    const recorded: Recorded = {
      method: req.method ?? 'GET',
      url: `${url.pathname}${url.search}`,
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body: text === '' ? undefined : safeJson(text),
    };
    this.requests.push(recorded);
    const interceptor = this.interceptors.find((i) => i.times > 0 && i.match(recorded));
    let answer: StubAnswer;
    if (interceptor) {
      interceptor.times--;
      answer = interceptor.answer(recorded);
    } else {
      try {
        answer = this.route(recorded);
      } catch (error) {
        answer = { status: 500, body: { computeFault: { code: 500, message: String(error) } } };
      }
    }
    if (answer.hang) return;
    if (answer.destroy) {
      req.socket.destroy();
      return;
    }
    const headers: Record<string, string> = { 'x-openstack-request-id': `req-${randomUUID()}`, ...(typeof this.date === 'string' ? { date: this.date } : {}), ...answer.headers };
    if (this.date === null) res.sendDate = false;
    if (answer.text !== undefined) {
      res.writeHead(answer.status ?? 200, { 'content-type': 'text/html', ...headers }).end(answer.text);
    } else if (answer.body === undefined) {
      res.writeHead(answer.status ?? 200, headers).end();
    } else {
      res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(answer.body));
    }
  }

  /** The microversion a compute request asked for (2.1 when none), as a number of the minor part. */
  static minor(r: Recorded): number {
    const header = r.headers['openstack-api-version'];
    const text = typeof header === 'string' ? header.replace(/^compute\s+/, '') : undefined;
    return text ? Number(text.split('.')[1]) : 1;
  }

  private route(original: Recorded): StubAnswer {
    // The catalog's internal and RegionTwo compute endpoints are the same Nova under other paths.
    const r = { ...original, path: original.path.replace(/^\/compute-(?:internal|two)(?=\/)/, '/compute') };
    if (r.path.startsWith('/identity')) return this.identity(r);
    if (r.path === '/compute' || r.path === '/compute/') return { status: 200, body: { versions: [versionEntry('v2.0', '', ''), versionEntry('v2.1', this.maxVersion, this.minVersion)] } };
    if (r.path === '/compute/v2.1' || r.path === '/compute/v2.1/') return { status: 200, body: { version: versionEntry('v2.1', this.maxVersion, this.minVersion) } };
    if (!r.path.startsWith('/compute/') && !r.path.startsWith('/image/')) return { status: 404, text: '<html><body><h1>404 Not Found</h1></body></html>' };
    const token = r.headers['x-auth-token'];
    if (typeof token !== 'string' || !this.tokens.has(token)) return { status: 401, body: { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } } };
    if (r.path.startsWith('/image/')) return this.image(r);
    if (r.path.startsWith('/compute/v2.1/')) return this.compute(r, r.path.slice('/compute/v2.1'.length));
    return fault(404, 'The resource could not be found.');
  }

  private identity(r: Recorded): StubAnswer {
    if (r.method !== 'POST' || r.path !== '/identity/v3/auth/tokens') return { status: 404, body: { error: { code: 404, title: 'Not Found', message: 'The resource could not be found.' } } };
    const identity = (r.body as { auth?: { identity?: Record<string, unknown> } } | undefined)?.auth?.identity ?? {};
    const password = (identity.password as { user?: { password?: string } } | undefined)?.user?.password;
    const secret = (identity.application_credential as { secret?: string } | undefined)?.secret;
    if (password !== STUB_PASSWORD && secret !== STUB_APP_SECRET) {
      return { status: 401, body: { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } } };
    }
    const token = `gAAAAA-stub-token-${++this.seq}-${randomUUID()}`;
    this.tokens.add(token);
    const issued = Date.now();
    const endpoints = (url: string) => [
      { id: randomUUID(), interface: 'public', region: 'RegionOne', region_id: 'RegionOne', url },
      { id: randomUUID(), interface: 'internal', region: 'RegionOne', region_id: 'RegionOne', url: url.replace('/compute/', '/compute-internal/') },
      { id: randomUUID(), interface: 'public', region: 'RegionTwo', region_id: 'RegionTwo', url: url.replace('/compute/', '/compute-two/') },
    ];
    const catalog = [
      { type: 'identity', name: 'keystone', id: 'k', endpoints: [{ id: 'k1', interface: 'public', region: 'RegionOne', region_id: 'RegionOne', url: this.authUrl }] },
      { type: 'compute', name: 'nova', id: 'n', endpoints: endpoints(this.computeUrl) },
      ...(this.glance ? [{ type: 'image', name: 'glance', id: 'g', endpoints: [{ id: 'g1', interface: 'public', region: 'RegionOne', region_id: 'RegionOne', url: `${this.base}/image` }] }] : []),
    ];
    return {
      status: 201,
      headers: { 'x-subject-token': token },
      body: {
        token: {
          methods: [password !== undefined ? 'password' : 'application_credential'],
          user: { id: 'u1', name: 'admin', domain: { id: 'default', name: 'Default' } },
          project: { id: 'p1', name: 'admin', domain: { id: 'default', name: 'Default' } },
          roles: [{ id: 'r1', name: 'admin' }],
          issued_at: new Date(issued).toISOString(),
          expires_at: new Date(issued + this.tokenLifetimeMs).toISOString(),
          catalog,
        },
      },
    };
  }

  private image(r: Recorded): StubAnswer {
    const match = /^\/image\/v2\/images\/([^/]+)$/.exec(r.path);
    const status = match ? this.images.get(decodeURIComponent(match[1]!)) : undefined;
    if (!match || status === undefined) return { status: 404, text: '<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1>No image found with ID x</body></html>' };
    return { status: 200, body: { id: match[1], status, name: 'an image', visibility: 'public' } };
  }

  private compute(r: Recorded, path: string): StubAnswer {
    const mv = OpenStackStub.minor(r);
    const key = `${r.method} ${path}`;
    if (key === 'GET /os-services') {
      const host = r.query.get('host');
      return { body: { services: this.services.filter((s) => host === null || s.host === host).map((s) => this.serviceJson(s, mv)) } };
    }
    const serviceUpdate = /^PUT \/os-services\/(.+)$/.exec(key);
    if (serviceUpdate) return this.updateService(serviceUpdate[1]!, r.body as Record<string, unknown>, mv);
    if (key === 'GET /os-aggregates') return { body: { aggregates: this.aggregates } };
    if (key === 'GET /os-hypervisors/detail') {
      return {
        body: {
          hypervisors: this.hypervisors.map((h, n) => ({
            id: mv >= 53 ? uuid(500 + n) : n + 1,
            hypervisor_hostname: h.node,
            state: 'up',
            status: 'enabled',
            service: { host: h.host, id: n + 1, disabled_reason: null },
            ...(mv < 88 ? { vcpus: h.vcpus, memory_mb: h.memory_mb, vcpus_used: h.vcpus_used, memory_mb_used: h.memory_mb_used, running_vms: 1 } : {}),
          })),
        },
      };
    }
    if (key === 'GET /servers/detail') {
      const host = r.query.get('host');
      const all = this.servers.filter((s) => host === null || s.host === host);
      const limit = Number(r.query.get('limit') ?? 1000);
      const marker = r.query.get('marker');
      const start = marker === null ? 0 : all.findIndex((s) => s.id === marker) + 1;
      const page = all.slice(start, start + limit);
      // Nova links a next page whenever this one is full, even if the next one turns out empty.
      const more = page.length > 0 && page.length === limit;
      const next = new URLSearchParams(r.query);
      next.set('marker', page.at(-1)?.id ?? '');
      return { body: { servers: page.map((s) => this.serverJson(s, mv)), ...(more ? { servers_links: [{ rel: 'next', href: `http://public.example:8774/v2.1/servers/detail?${next}` }] } : {}) } };
    }
    const server = /^GET \/servers\/([^/]+)$/.exec(key);
    if (server) {
      const s = this.servers.find((x) => x.id === decodeURIComponent(server[1]!));
      return s ? { body: { server: this.serverJson(s, mv) } } : fault(404, `Instance ${server[1]} could not be found.`);
    }
    const action = /^POST \/servers\/([^/]+)\/action$/.exec(key);
    if (action) {
      const s = this.servers.find((x) => x.id === decodeURIComponent(action[1]!));
      if (!s) return fault(404, `Instance ${action[1]} could not be found.`);
      const name = Object.keys(r.body as object)[0];
      return { status: name === 'evacuate' ? 200 : 202, headers: { 'x-openstack-request-id': `req-action-${s.id}-${name}` } };
    }
    if (key === 'GET /os-migrations') {
      const instance = r.query.get('instance_uuid');
      const type = r.query.get('migration_type');
      const source = r.query.get('source_compute');
      const all = this.migrations
        .filter((m) => (instance === null || m.instance_uuid === instance) && (type === null || m.migration_type === type) && (source === null || m.source_compute === source))
        .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id - a.id);
      const limit = mv >= 59 ? Number(r.query.get('limit') ?? 1000) : all.length;
      const marker = mv >= 59 ? r.query.get('marker') : null;
      const start = marker === null ? 0 : all.findIndex((m) => m.uuid === marker) + 1;
      const page = all.slice(start, start + limit);
      const more = mv >= 59 && page.length > 0 && page.length === limit;
      const json = page.map((m) => ({
        id: m.id,
        instance_uuid: m.instance_uuid,
        source_compute: m.source_compute,
        dest_compute: m.dest_compute,
        status: m.status,
        created_at: m.created_at,
        ...(mv >= 23 ? { migration_type: m.migration_type } : {}),
        ...(mv >= 59 ? { uuid: m.uuid } : {}),
      }));
      const next = new URLSearchParams(r.query);
      next.set('marker', page.at(-1)?.uuid ?? '');
      return { body: { migrations: json, ...(more ? { migrations_links: [{ rel: 'next', href: `${this.computeUrl}/os-migrations?${next}` }] } : {}) } };
    }
    const flavor = /^GET \/flavors\/([^/]+)(\/os-extra_specs)?$/.exec(key);
    if (flavor) {
      const f = this.flavors.get(decodeURIComponent(flavor[1]!));
      if (!f) return fault(404, `Flavor ${flavor[1]} could not be found.`);
      return flavor[2] ? { body: { extra_specs: f.extra_specs } } : { body: { flavor: { id: flavor[1], name: f.name, vcpus: f.vcpus, ram: f.ram, disk: 10 } } };
    }
    const proxyImage = /^GET \/images\/([^/]+)$/.exec(key);
    if (proxyImage) {
      const status = mv <= 35 ? this.images.get(decodeURIComponent(proxyImage[1]!)) : undefined;
      return status === undefined ? fault(404, 'Image not found.') : { body: { image: { id: proxyImage[1], status: status.toUpperCase() } } };
    }
    return fault(404, 'The resource could not be found.');
  }

  private serviceJson(s: StubService, mv: number): Record<string, unknown> {
    return {
      id: mv >= 53 ? s.id : s.intId,
      binary: 'nova-compute',
      host: s.host,
      zone: s.zone,
      status: s.status,
      state: s.state,
      disabled_reason: s.disabled_reason,
      updated_at: s.updated_at,
      ...(mv >= 11 ? { forced_down: s.forced_down } : {}),
    };
  }

  private updateService(id: string, body: Record<string, unknown>, mv: number): StubAnswer {
    if (mv >= 53) {
      const s = this.services.find((x) => x.id === id);
      if (!s) return fault(404, `Service ${id} could not be found.`);
      if (body.status === 'enabled' && 'disabled_reason' in body) return fault(400, "Specifying 'disabled_reason' with status 'enabled' is invalid.");
      if (typeof body.forced_down === 'boolean') {
        s.forced_down = body.forced_down;
        s.state = body.forced_down ? 'down' : 'up';
      }
      if (body.status === 'enabled') {
        s.status = 'enabled';
        s.disabled_reason = null;
      } else if (body.status === 'disabled') {
        s.status = 'disabled';
        s.disabled_reason = typeof body.disabled_reason === 'string' ? body.disabled_reason : null;
      }
      return { body: { service: this.serviceJson(s, mv) } };
    }
    const s = this.services.find((x) => x.host === body.host);
    if (!s || body.binary !== 'nova-compute') return fault(404, `Could not find binary ${String(body.binary)} on host ${String(body.host)}.`);
    if (id === 'force-down' && mv >= 11) {
      s.forced_down = body.forced_down === true;
      s.state = s.forced_down ? 'down' : 'up';
      return { body: { service: { host: s.host, binary: 'nova-compute', forced_down: s.forced_down } } };
    }
    if (id === 'enable') Object.assign(s, { status: 'enabled', disabled_reason: null });
    else if (id === 'disable') Object.assign(s, { status: 'disabled', disabled_reason: null });
    else if (id === 'disable-log-reason') Object.assign(s, { status: 'disabled', disabled_reason: body.disabled_reason });
    else return fault(404, 'Unknown action');
    return { body: { service: { host: s.host, binary: 'nova-compute', status: s.status } } };
  }

  private serverJson(s: StubServer, mv: number): Record<string, unknown> {
    return {
      id: s.id,
      name: s.name,
      status: s.status,
      tenant_id: s.tenant_id,
      user_id: 'u1',
      metadata: s.metadata,
      updated: s.updated,
      image: s.image === '' ? '' : { id: s.image, links: [] },
      flavor: mv >= 47
        ? { original_name: s.flavor.original_name, vcpus: s.flavor.vcpus, ram: s.flavor.ram, disk: 10, ephemeral: 0, swap: 0, extra_specs: s.flavor.extra_specs }
        : { id: s.flavor.id, links: [] },
      'OS-EXT-SRV-ATTR:host': s.host,
      'OS-EXT-STS:vm_state': s.status.toLowerCase(),
      'OS-EXT-STS:task_state': s.task_state,
      'OS-EXT-STS:power_state': s.power_state,
      ...(mv >= 9 && s.locked !== undefined ? { locked: s.locked } : {}),
    };
  }
}

export function stubServer(id: string, name: string, host: string, over: Partial<StubServer>): StubServer {
  return {
    id,
    name,
    host,
    status: 'ACTIVE',
    task_state: null,
    power_state: 1,
    tenant_id: 'p1',
    metadata: {},
    flavor: { id: 'f-medium', original_name: 'medium', vcpus: 2, ram: 4096, extra_specs: { evacuable: 'true' } },
    image: 'img-1',
    updated: '2026-03-01T10:00:00Z',
    ...over,
  };
}

export function fault(status: number, message: string): StubAnswer {
  const names: Record<number, string> = { 400: 'badRequest', 403: 'forbidden', 404: 'itemNotFound', 409: 'conflictingRequest' };
  return { status, body: { [names[status] ?? 'computeFault']: { code: status, message } } };
}

function versionEntry(id: string, version: string, min: string) {
  return { id, status: id === 'v2.1' ? 'CURRENT' : 'DEPRECATED', version, min_version: min, updated: '2013-07-23T11:33:21Z', links: [] };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** A CloudConfig for the stub (password auth, project admin/Default). */
export function stubCloud(stub: OpenStackStub, over: Record<string, unknown> = {}) {
  return {
    clouds: {
      stub: {
        auth: { auth_url: stub.authUrl, username: 'admin', password: STUB_PASSWORD, project_name: 'admin', user_domain_name: 'Default', project_domain_name: 'Default' },
        region_name: 'RegionOne',
        ...over,
      },
    },
  };
}
