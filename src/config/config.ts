import { readFileSync } from 'node:fs';
import * as t from 'io-ts';
import YAML from 'yaml';
import { decodeOrThrow, InputError, unknownKeys } from '../domain';
import type { FailureKind } from '../domain';

const Notifier = t.union([
  t.type({ type: t.literal('log') }),
  t.intersection([t.type({ type: t.literal('webhook'), url: t.string }), t.partial({ headers: t.record(t.string, t.string), timeoutMs: t.number })]),
  /** A notifier contributed by a plugin (`definePlugin({notifiers})`), created with `options`. */
  t.intersection([t.type({ type: t.literal('plugin'), name: t.string }), t.partial({ options: t.record(t.string, t.unknown) })]),
]);

export const ConfigCodec = t.type({
  redis: t.partial({ url: t.string, prefix: t.string }),
  cloud: t.type({
    /** `sim`, or the name of a cloud driver a plugin contributes (created with `options`). */
    driver: t.string,
    options: t.record(t.string, t.unknown),
    sim: t.type({
      seed: t.number,
      /** Multiplies every simulated latency; 0 makes the cloud instant (tests), 1 is realistic (demo). */
      timeScale: t.number,
      inventory: t.literal('demo'),
    }),
  }),
  /** `sim` fences the simulated hosts; otherwise the name of a fencing driver a plugin contributes. */
  fencing: t.type({ driver: t.string, options: t.record(t.string, t.unknown) }),
  notifiers: t.array(Notifier),
  plugins: t.type({ dirs: t.array(t.string) }),
  /** A policy file (YAML, src/policy): when set, its rules choose workflow, SLA and params per event and subject. */
  policy: t.partial({ file: t.string }),
  workflows: t.type({ 'host-down': t.string, 'service-down': t.string, 'instance-down': t.string, 'host-degraded': t.string }),
  params: t.record(t.string, t.unknown),
  paramsByKind: t.partial({ 'host-down': t.record(t.string, t.unknown), 'service-down': t.record(t.string, t.unknown), 'instance-down': t.record(t.string, t.unknown), 'host-degraded': t.record(t.string, t.unknown) }),
  incidents: t.type({ dedupeWindowSeconds: t.number }),
  worker: t.type({
    /** Run a worker inside `start`; separate `resurrect worker` processes come with the multi-worker issue. */
    embedded: t.boolean,
    concurrency: t.number,
    lockDurationMs: t.number,
    stalledIntervalMs: t.number,
    maxStalledCount: t.number,
    /** On SIGTERM, how long jobs in flight may run on before they are handed back to other workers. */
    shutdownGraceMs: t.number,
    /**
     * Polls of the cloud (waiting for an instance, a service) per second from this process, all recoveries
     * together; 0 = each polls at its own `params.pollIntervalMs`. Size it to the cloud's API workers.
     */
    pollsPerSecond: t.number,
  }),
  retry: t.type({ attempts: t.number, backoffMs: t.number }),
  /** Shared by every worker through Redis (docs/reference/configuration.md). 0 = no limit. */
  limits: t.type({
    /** Per-VM recoveries acting at once, across all workers; admitted earliest deadline first, then priority. */
    global: t.number,
    /** Recoveries landing on one target host at once (when placement chose the target). */
    perTargetHost: t.number,
    /** Calls to the cloud API per second (a token bucket shared by all workers), and the burst it allows. */
    cloudApi: t.type({ ratePerSecond: t.number, burst: t.number }),
  }),
  /** The mass-failure breaker: too many hosts of one scope failing at once holds fencing and evacuation. */
  breaker: t.type({
    enabled: t.boolean,
    /** What groups hosts: their availability zone, host aggregate, or Masakari segment (host tag `segment:<name>`). */
    scope: t.keyof({ zone: null, aggregate: null, segment: null }),
    windowSeconds: t.number,
    /** Opens when more than this many hosts of one scope failed within the window (0 = this test is off)… */
    maxHosts: t.number,
    /** …or more than this share (0–1) of the scope's hosts (0 = off), counted only in scopes of at least `minScopeHosts`. */
    maxShare: t.number,
    minScopeHosts: t.number,
  }),
  /** `resurrect serve`: the REST API (docs/api.md). */
  api: t.type({
    host: t.string,
    port: t.number,
    /**
     * Bearer tokens and their roles (viewer < operator < admin). Give `sha256` (hex of the token) rather than
     * `token` in files: only hashes are kept in memory either way. Also from RESURRECT_API_TOKENS.
     */
    tokens: t.array(t.intersection([
      t.type({ name: t.string, role: t.keyof({ viewer: null, operator: null, admin: null }) }),
      t.partial({ token: t.string, sha256: t.string }),
    ])),
    /** Larger request bodies get 413. */
    bodyLimitBytes: t.number,
    /** Requests per token (or per client address without one) per window; more get 429. */
    rateLimit: t.type({ max: t.number, windowMs: t.number }),
  }),
  log: t.type({ level: t.string }),
}, 'Config');
export type Config = t.TypeOf<typeof ConfigCodec>;

export const DEFAULT_WORKFLOWS: Readonly<Record<FailureKind, string>> = {
  'host-down': 'fence-then-evacuate',
  'service-down': 'live-migrate-first',
  'instance-down': 'restart-in-place',
  'host-degraded': 'live-migrate-first',
};

export const DEFAULT_CONFIG: Config = {
  redis: { prefix: 'rsr' },
  cloud: { driver: 'sim', options: {}, sim: { seed: 42, timeScale: 1, inventory: 'demo' } },
  fencing: { driver: 'sim', options: {} },
  notifiers: [{ type: 'log' }],
  plugins: { dirs: [] },
  policy: {},
  workflows: { ...DEFAULT_WORKFLOWS },
  params: { pollIntervalMs: 250, activeTimeoutSeconds: 600, serviceWaitSeconds: 60, livenessWaitSeconds: 12 },
  paramsByKind: {},
  incidents: { dedupeWindowSeconds: 300 },
  worker: { embedded: true, concurrency: 16, lockDurationMs: 10_000, stalledIntervalMs: 5_000, maxStalledCount: 5, shutdownGraceMs: 20_000, pollsPerSecond: 0 },
  retry: { attempts: 5, backoffMs: 2_000 },
  limits: { global: 64, perTargetHost: 8, cloudApi: { ratePerSecond: 0, burst: 0 } },
  breaker: { enabled: true, scope: 'zone', windowSeconds: 120, maxHosts: 0, maxShare: 0.5, minScopeHosts: 4 },
  api: { host: '127.0.0.1', port: 8790, tokens: [], bodyLimitBytes: 1_048_576, rateLimit: { max: 600, windowMs: 60_000 } },
  log: { level: 'info' },
};

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };
export type ConfigOverrides = DeepPartial<Config>;

function merge<T>(base: T, over: unknown): T {
  if (over === undefined) return base;
  if (typeof base !== 'object' || base === null || Array.isArray(base) || typeof over !== 'object' || over === null || Array.isArray(over)) {
    return over as T;
  }
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(over)) out[key] = merge((base as Record<string, unknown>)[key], value);
  return out as T;
}

/** Reports keys the codec does not know, at any depth, so a typo in a config file is not silently ignored. */
function strayKeys(codec: t.Mixed, value: unknown, path: string): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  const stray = unknownKeys(codec, value).map((k) => `${path}${k}`);
  const props = (codec as unknown as { props?: Record<string, t.Mixed> }).props;
  if (props) {
    for (const [key, sub] of Object.entries(props)) {
      if (key in (value as object)) stray.push(...strayKeys(sub, (value as Record<string, unknown>)[key], `${path}${key}.`));
    }
  }
  return stray;
}

/**
 * Defaults, then the YAML file (if any), then `overrides`, then the environment (REDIS_URL, RESURRECT_LOG_LEVEL).
 * The result is validated; an error names the file and every bad field path.
 */
export function loadConfig(options: { file?: string; overrides?: ConfigOverrides; env?: NodeJS.ProcessEnv } = {}): Config {
  const env = options.env ?? process.env;
  let fromFile: unknown = {};
  const source = options.file ?? 'configuration';
  if (options.file) {
    try {
      fromFile = YAML.parse(readFileSync(options.file, 'utf8')) ?? {};
    } catch (err) {
      throw new InputError(`${options.file}: ${(err as Error).message}`, [{ path: '(file)', message: (err as Error).message }], 'RSR_CONFIG_INVALID');
    }
  }
  const stray = strayKeys(ConfigCodec, fromFile, '');
  if (stray.length > 0) {
    throw new InputError(`${source}: unknown key${stray.length > 1 ? 's' : ''} ${stray.join(', ')}`, stray.map((p) => ({ path: p, message: 'unknown key' })), 'RSR_CONFIG_INVALID');
  }
  let merged = merge(merge(DEFAULT_CONFIG, fromFile), options.overrides ?? {});
  if (env.REDIS_URL) merged = merge(merged, { redis: { url: env.REDIS_URL } });
  if (env.RESURRECT_LOG_LEVEL) merged = merge(merged, { log: { level: env.RESURRECT_LOG_LEVEL } });
  try {
    return decodeOrThrow(ConfigCodec, merged, source);
  } catch (err) {
    if (err instanceof InputError) throw new InputError(err.message, err.paths, 'RSR_CONFIG_INVALID');
    throw err;
  }
}
