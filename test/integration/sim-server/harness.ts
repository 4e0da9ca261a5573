import pino from 'pino';
import { startSimServer, type SimServer, type SimServerOptions } from '../../../src/drivers/cloud/sim/http/server';
import { createWorld, type WorldSpecInput } from '../../../src/drivers/cloud/sim/inventory';
import type { SimWorld, SimWorldOptions } from '../../../src/drivers/cloud/sim/world';

/** A small world: two busy hosts and a spare, instances of two projects, one image. */
export const SMALL: WorldSpecInput = {
  flavors: { small: { vcpus: 1, ramMb: 2048 }, medium: { vcpus: 2, ramMb: 4096, extraSpecs: { evacuable: 'true' } } },
  images: ['img-a'],
  hosts: [
    { name: 'compute-1', zone: 'az-1', vcpus: 16, ramMb: 32768 },
    { name: 'compute-2', zone: 'az-1', vcpus: 16, ramMb: 32768 },
    { name: 'compute-3', zone: 'az-2', vcpus: 16, ramMb: 32768 },
  ],
  instances: [
    { id: '11111111-1111-4111-8111-000000000001', name: 'web-1', host: 'compute-1', project: 'p1', flavor: 'medium', image: 'img-a', sharedStorage: true, metadata: { HA_Enabled: 'True' } },
    { id: '11111111-1111-4111-8111-000000000002', name: 'web-2', host: 'compute-1', project: 'p1', flavor: 'small', image: '', sharedStorage: true },
    { id: '11111111-1111-4111-8111-000000000003', name: 'db-1', host: 'compute-1', project: 'p2', flavor: 'medium', image: 'img-a', sharedStorage: false, status: 'SHUTOFF' },
    { id: '11111111-1111-4111-8111-000000000004', name: 'admin-vm', host: 'compute-2', project: 'admin', flavor: 'small', image: 'img-a', sharedStorage: true },
  ],
};

export const VM1 = '11111111-1111-4111-8111-000000000001';
export const VM2 = '11111111-1111-4111-8111-000000000002';
export const VM3 = '11111111-1111-4111-8111-000000000003';
export const VM4 = '11111111-1111-4111-8111-000000000004';

export interface Answer<T = any> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
  readonly text: string;
}

export interface Served {
  readonly world: SimWorld;
  readonly server: SimServer;
  /** A project-scoped token for the default admin. */
  token(): Promise<string>;
  /** A Nova call: path under /compute/v2.1, microversion `2.NN` (default 2.1), JSON body. */
  nova<T = any>(method: string, path: string, options?: { mv?: string; body?: unknown; token?: string | null; headers?: Record<string, string> }): Promise<Answer<T>>;
  http<T = any>(method: string, url: string, options?: { body?: unknown; headers?: Record<string, string> }): Promise<Answer<T>>;
  close(): Promise<void>;
}

export async function serve(
  spec: WorldSpecInput = SMALL,
  options: { world?: SimWorldOptions; server?: Omit<SimServerOptions, 'world' | 'log'> } = {},
): Promise<Served> {
  const world = createWorld(spec, { seed: 1, timeScale: 0, ...options.world });
  const server = await startSimServer({ world, log: pino({ level: 'silent' }), ...options.server });
  let cached: string | undefined;

  const http = async <T>(method: string, url: string, o: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer<T>> => {
    const response = await fetch(url, {
      method,
      headers: { ...(o.body === undefined ? {} : { 'content-type': 'application/json' }), ...o.headers },
      ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: response.status, headers: response.headers, body: body as T, text };
  };

  const token = async () => {
    if (cached) return cached;
    const answer = await http('POST', `${server.authUrl}/v3/auth/tokens`, { body: passwordAuth() });
    if (answer.status !== 201) throw new Error(`auth failed: ${answer.status} ${answer.text}`);
    return (cached = answer.headers.get('x-subject-token') ?? '');
  };

  return {
    world,
    server,
    token,
    http,
    nova: async (method, path, o = {}) => {
      const t = o.token === undefined ? await token() : o.token;
      return http(method, `${server.computeUrl}${path}`, {
        body: o.body,
        headers: { ...(t === null ? {} : { 'x-auth-token': t }), 'openstack-api-version': `compute ${o.mv ?? '2.1'}`, ...o.headers },
      });
    },
    close: async () => {
      await server.close();
      world.dispose();
    },
  };
}

export function passwordAuth(overrides: { user?: unknown; password?: string; scope?: unknown } = {}) {
  return {
    auth: {
      identity: {
        methods: ['password'],
        password: { user: { name: 'admin', domain: { name: 'Default' }, password: overrides.password ?? 'secret', ...(overrides.user as object) } },
      },
      scope: overrides.scope ?? { project: { name: 'admin', domain: { name: 'Default' } } },
    },
  };
}

/** Polls until `predicate` holds (every 20 ms, 5 s at most). */
export async function until(predicate: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`condition not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
