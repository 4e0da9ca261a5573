import type { Logger } from 'pino';
import { loadConfig } from '../config/config';
import type { Config } from '../config/config';
import { nonRetryable } from '../domain';
import { DEFAULT_LOCAL_REDIS_URL, pingRedis } from '../drivers/redis/locate-redis';
import { ApiClient, resolveEndpoint } from './api-client';
import { readRuntimeFile } from './runtime-file';

export interface GlobalOptions {
  readonly config?: string;
  readonly prefix?: string;
  readonly json?: boolean;
  /** The API's base URL (else RESURRECT_URL, the runtime file, `api.host:api.port`). */
  readonly url?: string;
  /** The API's bearer token (else RESURRECT_TOKEN, the runtime file's token for its own URL). */
  readonly token?: string;
}

export function configFrom(options: GlobalOptions): Config {
  const config = loadConfig({ file: options.config ?? process.env.RESURRECT_CONFIG });
  return options.prefix ? { ...config, redis: { ...config.redis, prefix: options.prefix } } : config;
}

/**
 * Where the running engine's Redis is, for commands typed in a second terminal: REDIS_URL, else the
 * runtime file `npm start` wrote, else a local Redis on 6379. These commands never start a Redis: an empty
 * one would hold no incidents.
 */
export async function locateRunningRedis(config: Config, log: Logger): Promise<{ url: string; prefix: string }> {
  if (config.redis.url) return { url: config.redis.url, prefix: config.redis.prefix ?? 'rsr' };
  const runtime = readRuntimeFile();
  if (runtime) return { url: runtime.redisUrl, prefix: config.redis.prefix !== 'rsr' && config.redis.prefix ? config.redis.prefix : runtime.prefix };
  // RESURRECT_LOCAL_REDIS_URL moves the "local Redis" these commands try last (tests, odd ports).
  const local = process.env.RESURRECT_LOCAL_REDIS_URL || DEFAULT_LOCAL_REDIS_URL;
  try {
    await pingRedis(local, 1000);
    return { url: local, prefix: config.redis.prefix ?? 'rsr' };
  } catch {
    log.debug(`no Redis on ${local}`);
  }
  throw nonRetryable('RSR_REDIS_UNAVAILABLE', 'no running Resurrect found: start it with `npm start` (or set REDIS_URL to its Redis)');
}

/** The API for a command that has no other way: where `resolveEndpoint` says (api-client.ts). */
export function apiClient(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): ApiClient {
  return new ApiClient(resolveEndpoint(options, env, configFrom(options)));
}

/**
 * The API for a command that can also talk to Redis directly (trigger, plan, audit, decide, breaker), or
 * undefined when that command should take its Redis path:
 * - `--url` or RESURRECT_URL: the API, whatever happens (no fallback: you named it);
 * - `--prefix` without them: Redis (a key prefix is a Redis notion; an API serves the one it was started with);
 * - the runtime file of a `resurrect start` that serves the API: the API;
 * - otherwise the configured `api.host:api.port`, only with a token and only if it answers `/healthz`.
 */
export async function apiIfAvailable(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Promise<ApiClient | undefined> {
  const explicit = options.url !== undefined || Boolean(env.RESURRECT_URL?.trim());
  if (!explicit && options.prefix !== undefined) return undefined;
  const endpoint = resolveEndpoint(options, env, configFrom(options));
  const client = new ApiClient(endpoint);
  if (endpoint.source !== 'config') return client;
  if (endpoint.token === undefined) return undefined;
  return (await client.answers()) ? client : undefined;
}
