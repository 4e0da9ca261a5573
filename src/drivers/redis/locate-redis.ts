/**
 * Finds the Redis the engine (and its test suite) runs on, always in the same order so the outcome is
 * predictable:
 *   (a) REDIS_URL when set. It must answer, or we fail naming it: silently falling back to another server
 *       would split incidents and recoveries across two Redis instances.
 *   (b) a Redis already answering on 127.0.0.1:6379.
 *   (c) a private, throwaway `redis-server` from the PATH on a free 127.0.0.1 port (no RDB, no AOF), stopped
 *       with us.
 *   (d) as root on Debian (unless RESURRECT_NO_INSTALL=1), Debian's redis-server installed with apt-get,
 *       then (c).
 *   (e) otherwise RSR_REDIS_UNAVAILABLE, whose message says how to get one.
 *
 * Step (c) is `startPrivateRedis` in ./private-redis (re-exported here), usable on its own by tests that kill
 * or restart their Redis; step (d) is in ./redis-server-binary.
 */
import type { Logger } from 'pino';
import { ResurrectError } from '../../domain/errors';
import { startPrivateRedis, type PrivateRedis } from './private-redis';
import { withClient } from './redis-client';
import { redisServerBinary } from './redis-server-binary';

export { findFreePort, startPrivateRedis } from './private-redis';
export type { PrivateRedis, PrivateRedisOptions } from './private-redis';

export const DEFAULT_LOCAL_REDIS_URL = 'redis://127.0.0.1:6379';

export const NO_REDIS_MESSAGE =
  'No Redis found: set REDIS_URL, start one on 127.0.0.1:6379, or install redis-server (Debian/Ubuntu: sudo apt-get install redis-server).';

const ENV_PING_TIMEOUT_MS = 3_000;
// Short: on most machines nothing listens on 6379 and the refusal is immediate; this only bounds a black hole.
const LOCAL_PING_TIMEOUT_MS = 500;

export type RedisOrigin = 'env' | 'local' | 'private' | 'installed';

export interface LocatedRedis {
  readonly url: string;
  readonly origin: RedisOrigin;
  /** The server we started, when origin is 'private' or 'installed'. */
  readonly server?: PrivateRedis;
  /** Stops the server if we started it; a no-op for a Redis we only found. */
  stop(): Promise<void>;
}

export interface EnsureRedisOptions {
  /** Where REDIS_URL, PATH and RESURRECT_NO_INSTALL are read; defaults to process.env. */
  readonly env?: NodeJS.ProcessEnv;
  readonly log: Logger;
  /** Step (d); default true. RESURRECT_NO_INSTALL=1 in `env` also turns it off. */
  readonly allowInstall?: boolean;
  /** The "already running locally" candidate of step (b); injectable so tests do not depend on 6379. */
  readonly localUrl?: string;
}

export async function ensureRedis(options: EnsureRedisOptions): Promise<LocatedRedis> {
  const env = options.env ?? process.env;
  const { log } = options;

  const fromEnv = env.REDIS_URL;
  if (fromEnv !== undefined && fromEnv !== '') {
    const shown = redactRedisUrl(fromEnv);
    try {
      await pingRedis(fromEnv, ENV_PING_TIMEOUT_MS);
    } catch (err) {
      throw new ResurrectError(
        'RSR_REDIS_UNAVAILABLE',
        `REDIS_URL (${shown}) did not answer PING within ${ENV_PING_TIMEOUT_MS / 1000}s: ${messageOf(err)}`,
        { details: { url: shown }, cause: err },
      );
    }
    return found(fromEnv, 'env', log);
  }

  const localUrl = options.localUrl ?? DEFAULT_LOCAL_REDIS_URL;
  if (await answersPing(localUrl, LOCAL_PING_TIMEOUT_MS)) return found(localUrl, 'local', log);

  const { binary, installed } = await redisServerBinary(env, options.allowInstall ?? true, log, NO_REDIS_MESSAGE);
  const origin: 'private' | 'installed' = installed ? 'installed' : 'private';
  const server = await startPrivateRedis({ log, binary, env });
  log.info({ url: server.url, origin, redisPid: server.pid, dir: server.dir }, 'started a private redis-server');
  return { url: server.url, origin, server, stop: () => server.stop() };
}

/** Resolves when `url` answers PING within `timeoutMs`; rejects with the client's reason otherwise. */
export async function pingRedis(url: string, timeoutMs: number): Promise<void> {
  await withClient(url, timeoutMs, async (client) => {
    const answer = await client.ping();
    if (answer !== 'PONG') throw new Error(`unexpected answer to PING: ${answer}`);
  });
}

/** A Redis URL fit for logs: credentials become `***` and the query (which may carry a password) is dropped. */
export function redactRedisUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url.replace(/^(.*\/\/)?[^/@]*@/, '$1***@').replace(/\?.*$/, '');
  }
  const credentials = parsed.username !== '' || parsed.password !== '' ? '***@' : '';
  const dbPath = parsed.pathname === '/' ? '' : parsed.pathname;
  return `${parsed.protocol}//${credentials}${parsed.host}${dbPath}`;
}

function found(url: string, origin: 'env' | 'local', log: Logger): LocatedRedis {
  log.info({ url: redactRedisUrl(url), origin }, 'using Redis');
  return { url, origin, stop: async () => undefined };
}

async function answersPing(url: string, timeoutMs: number): Promise<boolean> {
  try {
    await pingRedis(url, timeoutMs);
    return true;
  } catch {
    return false;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
