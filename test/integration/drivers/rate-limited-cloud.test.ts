import test from 'ava';
import { Redis } from 'ioredis';
import { buildApp } from '../../../src/container';
import { CLOUD_DRIVER } from '../../../src/drivers/cloud/port';
import type { CloudDriver } from '../../../src/drivers/cloud/port';
import { RateLimitedCloud } from '../../../src/drivers/cloud/rate-limited-cloud';
import type { SimAction } from '../../../src/drivers/cloud/sim/actions';
import { createWorld } from '../../../src/drivers/cloud/sim/inventory';
import { SimCloudDriver } from '../../../src/drivers/cloud/sim/sim-cloud-driver';
import { TokenBucket } from '../../../src/drivers/redis/token-bucket';
import { Keys } from '../../../src/engine/keys';
import { CLOUD_CONTRACT_INVENTORY, cloudDriverContract } from '../../contracts/cloud-driver';
import { smallWorld, testConfig, testLog } from '../../helpers/engine';
import { useRedis } from '../../helpers/redis';

const redis = useRedis(test);
let buckets = 0;
/** A bucket key of its own per test: ava runs a file's tests at once. */
const freshKey = () => new Keys(redis.prefix).tokenBucket(`cloud-api-${++buckets}`);

/** A cloud that records when each call reached it (only `getInstance` is called here). */
function stampingCloud(stamps: number[]): CloudDriver {
  return new Proxy({} as CloudDriver, {
    get: () => async () => {
      stamps.push(Date.now());
      return { requestId: 'req' };
    },
  });
}

/** A client that fails at once, without connecting, if it is ever asked anything. */
const unreachable = () => new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });

test('two workers sharing a bucket: by any time T at most burst + rate·T calls reach the cloud, and the limit does not starve them', async (t) => {
  const rate = 20;
  const burst = 5;
  const runMs = 1_500;
  const key = freshKey();
  const stamps: number[] = [];
  const cloud = stampingCloud(stamps);
  // Two processes' worth: each its own connection and bucket object, sharing only the Redis key.
  const workers = [redis.connection(), redis.connection()].map((client) => new RateLimitedCloud(cloud, new TokenBucket(client, key, { ratePerSecond: rate, burst }), testLog()));
  const started = Date.now();
  const loop = async (driver: CloudDriver) => {
    while (Date.now() - started < runMs) await driver.getInstance('vm-x');
  };
  await Promise.all(workers.flatMap((driver) => [loop(driver), loop(driver), loop(driver), loop(driver)]));

  stamps.sort((a, b) => a - b);
  // Date.now() truncates to the millisecond, so a call stamped at T may have been let through up to 1 ms later.
  const worst = stamps.reduce((max, at, i) => Math.max(max, i + 1 - (burst + rate * (at - started + 1) / 1000)), -Infinity);
  t.true(worst <= 1e-6, `a call beyond burst + rate·T was let through (by ${worst.toFixed(3)} tokens); ${stamps.length} calls`);
  // Liveness only: eight eager callers must get most of what the bucket allows (generous, for a loaded machine).
  const allowed = burst + rate * (stamps[stamps.length - 1]! - started) / 1000;
  t.true(stamps.length >= Math.min(allowed, burst + rate * runMs / 1000) * 0.6, `only ${stamps.length} calls of ~${allowed.toFixed(1)} allowed`);
  t.true(stamps.length > burst, 'the bucket refills');
});

test('a caller waiting for a token stops at once with the reason of its aborted signal, and its call never reaches the cloud', async (t) => {
  const stamps: number[] = [];
  const driver = new RateLimitedCloud(stampingCloud(stamps), new TokenBucket(redis.connection(), freshKey(), { ratePerSecond: 0.5, burst: 1 }), testLog());
  await driver.getInstance('vm-x');
  t.is(stamps.length, 1);

  const controller = new AbortController();
  const reason = new Error('step evacuateInstance timed out');
  setTimeout(() => controller.abort(reason), 50);
  const before = Date.now();
  t.is(await t.throwsAsync(driver.evacuate('vm-x', undefined, { signal: controller.signal })), reason);
  t.true(Date.now() - before < 1_000, 'the wait (about 2 s for the next token) was cut short');

  const aborted = new AbortController();
  aborted.abort(reason);
  t.is(await t.throwsAsync(driver.getInstance('vm-x', { signal: aborted.signal })), reason);
  t.is(stamps.length, 1);
});

test('an abort also cuts short a token request stuck on a Redis that is reconnecting', async (t) => {
  const stamps: number[] = [];
  // Queues its commands until it connects, which it never does.
  const client = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, maxRetriesPerRequest: null, retryStrategy: () => 200 });
  client.on('error', () => undefined);
  const driver = new RateLimitedCloud(stampingCloud(stamps), new TokenBucket(client, freshKey(), { ratePerSecond: 10, burst: 1 }), testLog());
  const controller = new AbortController();
  const reason = new Error('step timed out');
  setTimeout(() => controller.abort(reason), 100);
  const before = Date.now();
  t.is(await t.throwsAsync(driver.getInstance('vm-x', { signal: controller.signal })), reason);
  t.true(Date.now() - before < 2_000);
  t.is(stamps.length, 0);
  client.disconnect();
});

test('rate 0 means no limit and no Redis at all: a client that cannot connect does not matter', async (t) => {
  const stamps: number[] = [];
  const client = unreachable();
  const driver = new RateLimitedCloud(stampingCloud(stamps), new TokenBucket(client, freshKey(), { ratePerSecond: 0, burst: 0 }), testLog());
  for (let i = 0; i < 50; i++) await driver.getInstance('vm-x');
  t.is(stamps.length, 50);
  t.is(client.status, 'wait', 'the client was never asked to connect');
  client.disconnect();
});

test('with a rate set and Redis unreachable, a call fails retryable (RSR_DRIVER_UNAVAILABLE) without reaching the cloud', async (t) => {
  const stamps: number[] = [];
  const client = unreachable();
  const driver = new RateLimitedCloud(stampingCloud(stamps), new TokenBucket(client, freshKey(), { ratePerSecond: 10, burst: 1 }), testLog());
  const error = await t.throwsAsync(driver.getInstance('vm-x'));
  t.like(error, { code: 'RSR_DRIVER_UNAVAILABLE', retryable: true });
  t.is(stamps.length, 0);
  client.disconnect();
});

test('every read the port has takes a token, listEvacuations too: past the burst it waits, and an abort stops it before the cloud', async (t) => {
  const calls: string[] = [];
  const inner = new Proxy({} as CloudDriver, {
    get: (_, name) => async (...args: unknown[]) => {
      calls.push(`${String(name)}(${String(args[0])})`);
      return [];
    },
  });
  const driver = new RateLimitedCloud(inner, new TokenBucket(redis.connection(), freshKey(), { ratePerSecond: 0.5, burst: 1 }), testLog());
  t.deepEqual(await driver.listEvacuations('compute-1'), []);
  t.deepEqual(calls, ['listEvacuations(compute-1)']);
  const aborted = new AbortController();
  const reason = new Error('step liftForcedDown timed out');
  setTimeout(() => aborted.abort(reason), 50);
  t.is(await t.throwsAsync(driver.listEvacuations('compute-1', { signal: aborted.signal })), reason);
  t.is(calls.length, 1, 'the second call waited for a token and never reached the cloud');
});

test('buildApp puts the limit in front of the cloud driver when limits.cloudApi.ratePerSecond > 0, and only then', async (t) => {
  const limits = (ratePerSecond: number) => ({ limits: { global: 0, perTargetHost: 0, cloudApi: { ratePerSecond, burst: 10 } } });
  for (const [rate, limited] of [[50, true], [0, false]] as const) {
    const prefix = redis.newPrefix();
    const world = smallWorld();
    const app = await buildApp({ config: testConfig(prefix, limits(rate)), redisUrl: redis.url, log: testLog(), overrides: { world } });
    try {
      const cloud = app.container.get<CloudDriver>(CLOUD_DRIVER);
      t.is(cloud instanceof RateLimitedCloud, limited);
      t.is(String((await cloud.getInstance('vm-a')).id), 'vm-a');
      t.is(await app.redis.exists(new Keys(prefix).tokenBucket('cloud-api')), limited ? 1 : 0);
    } finally {
      await app.close();
      world.dispose();
    }
  }
});

test('getService passes the reading through whole: observedAt (the cloud\'s clock) included', async (t) => {
  const world = createWorld(CLOUD_CONTRACT_INVENTORY, { seed: 'contract', timeScale: 0, clock: { now: () => Date.UTC(2026, 2, 1, 10, 0, 14), sleep: async () => {} } });
  t.teardown(() => world.dispose());
  const driver = new RateLimitedCloud(new SimCloudDriver(world), new TokenBucket(redis.connection(), freshKey(), { ratePerSecond: 200, burst: 10 }), testLog());
  const host = world.hostNames()[0]!;
  t.like(await driver.getService(host), { host, updatedAt: '2026-03-01T10:00:14.000Z', observedAt: '2026-03-01T10:00:14.000Z' });
});

cloudDriverContract(test, 'rate-limited in-process sim', async () => {
  const world = createWorld(CLOUD_CONTRACT_INVENTORY, { seed: 'contract', timeScale: 0 });
  return {
    // Tight enough that the contract's polling waits for tokens, loose enough for its 5 s waits.
    driver: new RateLimitedCloud(new SimCloudDriver(world), new TokenBucket(redis.connection(), freshKey(), { ratePerSecond: 200, burst: 10 }), testLog()),
    world: {
      failHost: (host, mode) => world.failHost(host, mode),
      recoverHost: (host) => world.recoverHost(host),
      hostPower: (host) => world.hostState(host).power,
      injectFault: (spec) => world.injectFault(spec),
      count: (action, subject, outcome) => world.count(action as SimAction, subject, outcome),
    },
    teardown: async () => world.dispose(),
  };
});
