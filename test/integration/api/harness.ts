/**
 * The API on a real app (real Redis under the file's prefix, the small simulated cloud of
 * test/helpers/engine.ts), driven through fastify's `inject()`: real HTTP semantics without a socket.
 * Also: the tokens of each role, a valid request for every route (the tests iterate over the route table
 * and fail for a route that has none, so a new route cannot go untested), and a snapshot of the app's
 * Redis keys.
 *
 * A streaming route (server-sent events) never ends by itself: `request` reads its stream for `streamMs`
 * (300 ms by default), then disconnects as a client would, and answers with what it read as the body.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Logger } from 'pino';
import type { Authenticator } from '../../../src/api/auth';
import { operationId } from '../../../src/api/openapi';
import type { AnyRoute, Role } from '../../../src/api/route';
import { ROUTES } from '../../../src/api/routes';
import { buildServer } from '../../../src/api/server';
import type { ServerOptions } from '../../../src/api/server';
import type { Config } from '../../../src/config/config';
import { buildApp } from '../../../src/container';
import type { App } from '../../../src/container';
import type { SimWorld } from '../../../src/drivers/cloud/sim/world';
import { smallWorld, testConfig, testLog } from '../../helpers/engine';
import type { RedisFixture } from '../../helpers/redis';

export const TOKENS: Readonly<Record<Role, string>> = {
  viewer: `tok-viewer-${randomBytes(12).toString('hex')}`,
  operator: `tok-operator-${randomBytes(12).toString('hex')}`,
  admin: `tok-admin-${randomBytes(12).toString('hex')}`,
};
export const NAMES: Readonly<Record<Role, string>> = { viewer: 'vera', operator: 'otto', admin: 'ada' };

export function apiConfig(over: Partial<Config['api']> = {}): Config['api'] {
  return {
    host: '127.0.0.1',
    port: 0,
    tokens: (Object.keys(TOKENS) as Role[]).map((role) => ({ name: NAMES[role], role, token: TOKENS[role] })),
    bodyLimitBytes: 64 * 1024,
    rateLimit: { max: 100_000, windowMs: 60_000 },
    ...over,
  };
}

export interface ApiHarness {
  readonly app: App;
  readonly server: FastifyInstance;
  readonly world: SimWorld;
  readonly prefix: string;
  request(method: string, url: string, options?: RequestOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export interface RequestOptions {
  readonly token?: string;
  readonly body?: unknown;
  readonly raw?: string;
  readonly headers?: Record<string, string>;
  /** A streaming route: how long to read its stream before disconnecting (default 300 ms). */
  readonly streamMs?: number;
  /** A streaming route: stop reading as soon as the text read so far satisfies this. */
  readonly until?: (text: string) => boolean;
}

/** The streaming routes (server-sent events), by method and path pattern. */
const STREAMING = ROUTES.filter((r) => r.response.events).map((r) => ({ method: r.method, path: new RegExp(`^${r.url.replace(/:\w+/g, '[^/]+')}$`) }));

export function isStreaming(method: string, url: string): boolean {
  const path = url.split('?')[0] ?? '';
  return STREAMING.some((s) => s.method === method && s.path.test(path));
}

export async function startApi(redis: RedisFixture, options: {
  config?: Partial<Config>; api?: Partial<Config['api']>; worker?: boolean; log?: Logger; authenticator?: Authenticator; env?: NodeJS.ProcessEnv; world?: SimWorld;
  heartbeatMs?: ServerOptions['heartbeatMs'];
} = {}): Promise<ApiHarness> {
  const prefix = redis.newPrefix();
  const world = options.world ?? smallWorld();
  const api = apiConfig(options.api);
  const config = testConfig(prefix, { ...options.config, api });
  const app = await buildApp({ config, redisUrl: redis.url, log: options.log ?? testLog(), overrides: { world }, workerName: 'api-test' });
  if (options.worker) app.worker().start(4);
  const server = await buildServer(app, api, {
    env: options.env ?? {},
    ...(options.authenticator ? { authenticator: options.authenticator } : {}),
    ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
  });
  return {
    app, server, world, prefix,
    async request(method, url, o = {}) {
      const request = {
        method: method as 'GET',
        url,
        headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(o.raw !== undefined || o.body !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers },
        ...(o.raw !== undefined ? { payload: o.raw } : o.body !== undefined ? { payload: JSON.stringify(o.body) } : {}),
      };
      if (!isStreaming(method, url)) return server.inject(request);
      return readStream(await server.inject({ ...request, payloadAsStream: true }), o.streamMs ?? 300, o.until);
    },
    async close() {
      await server.close();
      await app.close();
    },
  };
}

/**
 * The answer of a streaming route read as a client would: an event stream for `ms` (or until `until`), then
 * disconnected (the server sees the response close); anything else (a refusal) to its end. The text read is
 * the body.
 */
async function readStream(res: LightMyRequestResponse, ms: number, until?: (text: string) => boolean): Promise<LightMyRequestResponse> {
  const stream = res.stream();
  const events = String(res.headers['content-type'] ?? '').startsWith('text/event-stream');
  let text = '';
  await new Promise<void>((resolve) => {
    const timer = events ? setTimeout(finish, ms) : undefined;
    function finish() {
      clearTimeout(timer);
      stream.removeAllListeners('data');
      resolve();
    }
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (events && until?.(text)) finish();
    });
    stream.once('end', finish);
    stream.once('error', finish);
  });
  // The client goes away: the server's response closes, which ends the stream and frees its feed.
  if (events) (res.raw.res as unknown as { destroy(): void }).destroy();
  stream.on('error', () => undefined);
  return { ...res, body: text, payload: text, rawPayload: Buffer.from(text), json: () => JSON.parse(text) } as LightMyRequestResponse;
}

export interface Sample {
  readonly url: string;
  readonly body?: unknown;
}

/**
 * A well-formed request for every route (by operation id), on the small world. Ids that do not exist are
 * fine for auth tests: the route answers 404, past authentication.
 */
export const SAMPLES: Readonly<Record<string, Sample>> = {
  get_healthz: { url: '/healthz' },
  get_readyz: { url: '/readyz' },
  get_openapi_json: { url: '/openapi.json' },
  get_metrics: { url: '/metrics' },
  post_api_v1_incidents: { url: '/api/v1/incidents', body: { kind: 'host-degraded', host: 'compute-4' } },
  get_api_v1_incidents: { url: '/api/v1/incidents?limit=5&status=open' },
  get_api_v1_recoveries: { url: '/api/v1/recoveries?limit=5&root=true' },
  get_api_v1_incidents_id: { url: '/api/v1/incidents/inc-none-000000' },
  get_api_v1_recoveries_id: { url: '/api/v1/recoveries/rec-none-000000' },
  post_api_v1_recoveries_id_decision: { url: '/api/v1/recoveries/rec-none-000000/decision', body: { decision: 'resolve', comment: 'checked' } },
  post_api_v1_recoveries_id_cancel: { url: '/api/v1/recoveries/rec-none-000000/cancel', body: { reason: 'false alarm' } },
  post_api_v1_recoveries_id_retry: { url: '/api/v1/recoveries/rec-none-000000/retry' },
  // compute-1 of the small world is not forced down: past authentication, the engine refuses it (409).
  post_api_v1_hosts_host_return: { url: '/api/v1/hosts/compute-1/return', body: { reenable: true, comment: 'PSU replaced' } },
  get_api_v1_events: { url: '/api/v1/events?types=transition,incident&replay=true' },
  get_api_v1_breaker: { url: '/api/v1/breaker' },
  post_api_v1_breaker_scope_approve: { url: '/api/v1/breaker/az-1/approve', body: { hosts: ['compute-1'] } },
  post_api_v1_breaker_scope_close: { url: '/api/v1/breaker/az-1/close', body: { comment: 'partition healed' } },
  get_api_v1_workflows: { url: '/api/v1/workflows' },
  get_api_v1_slas: { url: '/api/v1/slas' },
  get_api_v1_plugins_errors: { url: '/api/v1/plugins/errors' },
  get_api_v1_policy: { url: '/api/v1/policy' },
  post_api_v1_policy_reload: { url: '/api/v1/policy/reload' },
  post_api_v1_plans: { url: '/api/v1/plans', body: { failedHosts: ['compute-1'] } },
};

export function sampleOf(route: AnyRoute): Sample | undefined {
  return SAMPLES[operationId(route)];
}

/**
 * Every key under `prefix` with its content, read by type (hash fields sorted, sets sorted, zsets with
 * scores, streams with their entry ids): equal snapshots, equal state. Not DUMP: a read can make Redis
 * rehash a large hash, which changes the order DUMP writes its fields in without changing the data.
 */
export async function snapshotKeys(app: App, prefix: string): Promise<Map<string, string>> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await app.redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  keys.sort();
  const snapshot = new Map<string, string>();
  for (const key of keys) snapshot.set(key, await contentOf(app, key));
  return snapshot;
}

async function contentOf(app: App, key: string): Promise<string> {
  const { redis } = app;
  const type = await redis.type(key);
  switch (type) {
    case 'string':
      return `string:${await redis.get(key)}`;
    case 'hash':
      return `hash:${JSON.stringify(Object.entries(await redis.hgetall(key)).sort(([a], [b]) => a.localeCompare(b)))}`;
    case 'list':
      return `list:${JSON.stringify(await redis.lrange(key, 0, -1))}`;
    case 'set':
      return `set:${JSON.stringify((await redis.smembers(key)).sort())}`;
    case 'zset':
      return `zset:${JSON.stringify(await redis.zrange(key, 0, -1, 'WITHSCORES'))}`;
    case 'stream':
      return `stream:${JSON.stringify(await redis.xrange(key, '-', '+'))}`;
    default:
      return type;
  }
}
