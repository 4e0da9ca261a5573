import type { Logger } from 'pino';
import { loadConfig } from '../config/config';
import type { Config } from '../config/config';
import { nonRetryable } from '../domain';
import { DEFAULT_LOCAL_REDIS_URL, pingRedis } from '../drivers/redis/locate-redis';
import { readRuntimeFile } from './runtime-file';

export interface GlobalOptions {
  readonly config?: string;
  readonly prefix?: string;
  readonly json?: boolean;
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
