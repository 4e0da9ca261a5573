/**
 * Redis for ava test files, isolated without FLUSHDB so files can share one server while ava runs them in
 * parallel processes.
 *
 *   const redis = useRedis(test);                      // 'prefix': the Redis ensureRedis finds or starts
 *   const redis = useRedis(test, { mode: 'private' }); // a redis-server of this file's own, to kill/restart
 *
 * In 'prefix' mode every key a test writes must start with `redis.prefix` or with a `redis.newPrefix()`
 * (bull: `{ prefix }`; ioredis: `{ keyPrefix }`); after the file, the keys under every prefix handed out are
 * SCANned and UNLINKed, so a shared server is left as it was found.
 */
import { randomBytes } from 'node:crypto';
import type { TestFn } from 'ava';
import Redis, { type RedisOptions } from 'ioredis';
import pino, { type Logger } from 'pino';
import { ensureRedis, startPrivateRedis, type LocatedRedis, type PrivateRedis } from '../../src/drivers/redis/locate-redis';

export type RedisMode = 'prefix' | 'private';

export interface RedisFixture {
  readonly url: string;
  /** This file's key prefix, `rsr-t-<8 hex>`. */
  readonly prefix: string;
  /** A fresh prefix (same form), for a test that must not see its neighbours' keys; cleaned up too. */
  newPrefix(): string;
  /** A new client, disconnected after the file. */
  connection(options?: RedisOptions): Redis;
}

export interface PrivateRedisFixture extends RedisFixture {
  /** The file's own server: `server.kill('SIGKILL')`, then `startPrivateRedis({ port, dir, appendonly })`. */
  readonly server: PrivateRedis;
}

export interface RedisFixtureOptions {
  readonly mode?: RedisMode;
  /** 'private' mode only: AOF on, so a restart on `server.dir` finds the data. */
  readonly appendonly?: boolean;
  /** Passed to ensureRedis ('prefix' mode). */
  readonly env?: NodeJS.ProcessEnv;
  readonly localUrl?: string;
  readonly log?: Logger;
}

export interface RedisFixtureLifecycle<F extends RedisFixture> {
  readonly fixture: F;
  setup(): Promise<void>;
  teardown(): Promise<void>;
}

export function useRedis<C>(test: TestFn<C>, options?: RedisFixtureOptions & { mode?: 'prefix' }): RedisFixture;
export function useRedis<C>(test: TestFn<C>, options: RedisFixtureOptions & { mode: 'private' }): PrivateRedisFixture;
export function useRedis<C>(test: TestFn<C>, options: RedisFixtureOptions = {}): RedisFixture {
  const lifecycle = buildFixture(options);
  test.before(() => lifecycle.setup());
  test.after.always(() => lifecycle.teardown());
  return lifecycle.fixture;
}

/** useRedis without ava: what it registers in test.before / test.after.always (tests of the helper use it). */
export function createRedisFixture(options?: RedisFixtureOptions & { mode?: 'prefix' }): RedisFixtureLifecycle<RedisFixture>;
export function createRedisFixture(options: RedisFixtureOptions & { mode: 'private' }): RedisFixtureLifecycle<PrivateRedisFixture>;
export function createRedisFixture(options: RedisFixtureOptions = {}): RedisFixtureLifecycle<RedisFixture> {
  return buildFixture(options);
}

// The overloads above only narrow the fixture's type by mode; in 'prefix' mode reading `server` throws.
function buildFixture(options: RedisFixtureOptions): RedisFixtureLifecycle<PrivateRedisFixture> {
  const mode = options.mode ?? 'prefix';
  const log = options.log ?? pino({ name: 'test-redis', level: process.env.LOG_LEVEL ?? 'warn' });
  const prefix = uniquePrefix();
  const prefixes = [prefix];
  const connections = new Set<Redis>();
  let located: LocatedRedis | undefined;
  let server: PrivateRedis | undefined;

  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`useRedis: ${what} is only available once test.before has run`);
    return value;
  };

  const fixture: PrivateRedisFixture = {
    get url() {
      return ready(server?.url ?? located?.url, 'url');
    },
    prefix,
    newPrefix() {
      const fresh = uniquePrefix();
      prefixes.push(fresh);
      return fresh;
    },
    connection(clientOptions: RedisOptions = {}) {
      const client = new Redis(ready(server?.url ?? located?.url, 'connection()'), clientOptions);
      connections.add(client);
      client.once('end', () => connections.delete(client));
      return client;
    },
    get server() {
      if (mode !== 'private') throw new Error("useRedis: `server` exists in mode 'private' only");
      return ready(server, 'server');
    },
  };

  const setup = async () => {
    if (mode === 'private') server = await startPrivateRedis({ log, appendonly: options.appendonly, appendfsync: options.appendonly ? 'always' : undefined });
    else located = await ensureRedis({ log, env: options.env, localUrl: options.localUrl });
  };

  // Every step runs even when one fails, so a failed cleanup never leaves a server or a client behind.
  const teardown = async () => {
    const failures: unknown[] = [];
    const attempt = async (step: () => Promise<unknown>) => {
      try {
        await step();
      } catch (err) {
        failures.push(err);
      }
    };
    for (const client of connections) client.disconnect();
    connections.clear();
    // A private server's data dies with it (and a chaos test may have killed it): only a shared one is cleaned.
    if (located !== undefined) {
      const url = located.url;
      await attempt(async () => {
        const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
        try {
          for (const each of prefixes) await deleteKeysWithPrefix(admin, each);
        } finally {
          admin.disconnect();
        }
      });
    }
    await attempt(async () => located?.stop());
    await attempt(async () => server?.stop());
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, 'useRedis: cleanup failed');
  };

  return { fixture, setup, teardown };
}

/** UNLINKs every key starting with `prefix` (SCAN, so a large or shared keyspace is never blocked). */
export async function deleteKeysWithPrefix(client: Redis, prefix: string): Promise<number> {
  if (prefix === '') throw new Error('deleteKeysWithPrefix: an empty prefix would match every key');
  const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await client.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

function uniquePrefix(): string {
  return `rsr-t-${randomBytes(4).toString('hex')}`;
}
