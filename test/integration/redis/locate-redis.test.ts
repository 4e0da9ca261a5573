import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import Redis from 'ioredis';
import pino from 'pino';
import { ResurrectError } from '../../../src/domain/errors';
import {
  NO_REDIS_MESSAGE,
  ensureRedis,
  findFreePort,
  pingRedis,
  redactRedisUrl,
  startPrivateRedis,
} from '../../../src/drivers/redis/locate-redis';
import { createRedisFixture, useRedis } from '../../helpers/redis';

const log = pino({ level: 'silent' });
// The helper under test also provides the server the other tests point REDIS_URL at.
const redis = useRedis(test, { mode: 'private' });

/** A port nothing listens on, standing in for "no Redis on 127.0.0.1:6379" whatever this machine runs. */
async function closedUrl(): Promise<string> {
  return `redis://127.0.0.1:${await findFreePort()}`;
}

function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

test('REDIS_URL is used when it answers', async (t) => {
  const located = await ensureRedis({ log, env: { REDIS_URL: redis.url }, localUrl: await closedUrl() });
  t.is(located.origin, 'env');
  t.is(located.url, redis.url);
  await located.stop(); // not ours: must leave it running
  await t.notThrowsAsync(pingRedis(redis.url, 1_000));
});

test('REDIS_URL that does not answer fails naming it, without falling back to a local Redis', async (t) => {
  const port = await findFreePort();
  const err = await t.throwsAsync(
    // localUrl answers: a silent fall-through would succeed here.
    ensureRedis({ log, env: { REDIS_URL: `redis://resurrect:s3cret@127.0.0.1:${port}/0` }, localUrl: redis.url }),
    { instanceOf: ResurrectError },
  );
  t.is(err?.code, 'RSR_REDIS_UNAVAILABLE');
  t.true(err?.message.includes(`REDIS_URL (redis://***@127.0.0.1:${port}/0)`), err?.message);
  t.false(JSON.stringify(err?.toJSON()).includes('s3cret'));
});

test('without REDIS_URL, a local Redis, redis-server or apt-get, the error says how to get Redis', async (t) => {
  const emptyBin = await mkdtemp(path.join(os.tmpdir(), 'rsr-empty-path-'));
  t.teardown(() => rm(emptyBin, { recursive: true, force: true }));
  const localUrl = await closedUrl();
  for (const options of [{ env: { PATH: emptyBin, RESURRECT_NO_INSTALL: '1' } }, { env: { PATH: emptyBin }, allowInstall: false }]) {
    const err = await t.throwsAsync(ensureRedis({ log, localUrl, ...options }), { instanceOf: ResurrectError });
    t.is(err?.code, 'RSR_REDIS_UNAVAILABLE');
    t.is(err?.message, NO_REDIS_MESSAGE);
  }
});

test('a private redis-server is started from the PATH and stop() kills its pid and removes its directory', async (t) => {
  const located = await ensureRedis({ log, env: { PATH: process.env.PATH }, localUrl: await closedUrl() });
  t.teardown(() => located.stop());
  t.is(located.origin, 'private');
  const server = located.server;
  if (server === undefined) return t.fail('a private origin comes with its server');
  t.regex(located.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
  await t.notThrowsAsync(pingRedis(located.url, 1_000));
  t.false(isGone(server.pid));
  t.true(existsSync(server.dir));

  await located.stop();
  t.true(isGone(server.pid));
  t.false(existsSync(server.dir));
  await t.notThrowsAsync(located.stop(), 'stop() twice is harmless');
});

test('an AOF server killed with SIGKILL restarts on its directory with its data', async (t) => {
  const first = await startPrivateRedis({ log, appendonly: true });
  t.teardown(() => first.stop());
  const client = new Redis(first.url);
  await client.set('rsr:survivor', 'yes');
  client.disconnect();

  first.kill('SIGKILL');
  await first.exited;
  t.true(isGone(first.pid));

  const second = await startPrivateRedis({ log, appendonly: true, port: first.port, dir: first.dir });
  t.teardown(() => second.stop()); // teardowns run in reverse: this one before first.stop() removes the dir
  const again = new Redis(second.url);
  t.is(await again.get('rsr:survivor'), 'yes');
  again.disconnect();
});

test('a redis-server that cannot start reports its own output', async (t) => {
  const taken = new URL(redis.url).port;
  const err = await t.throwsAsync(startPrivateRedis({ log, port: Number(taken) }), { instanceOf: ResurrectError });
  t.is(err?.code, 'RSR_REDIS_UNAVAILABLE');
  // The neighbour on that port answers PING: only the pid check tells it apart from the server that died.
  t.regex(err?.message ?? '', /exited with code \d+; its last output: .*Address already in use/s);
});

test('the prefix fixture deletes the keys of every prefix it handed out, and nothing else', async (t) => {
  const { fixture, setup, teardown } = createRedisFixture({ log, env: { REDIS_URL: redis.url } });
  await setup();
  const perTest = fixture.newPrefix();
  t.regex(fixture.prefix, /^rsr-t-[0-9a-f]{8}$/);
  t.regex(perTest, /^rsr-t-[0-9a-f]{8}$/);
  t.not(perTest, fixture.prefix);

  const writer = fixture.connection();
  for (let i = 0; i < 2_500; i++) await writer.set(`${fixture.prefix}:key:${i}`, i); // more than one SCAN page
  await writer.hset(`${perTest}:hash`, 'field', 'value');
  const observer = redis.connection();
  const bystander = `${redis.newPrefix()}:other-file`;
  await observer.set(bystander, 'keep');

  await teardown();
  t.is(writer.status, 'end', 'tracked connections are disconnected');
  t.deepEqual(await observer.keys(`${fixture.prefix}*`), []);
  t.deepEqual(await observer.keys(`${perTest}*`), []);
  t.is(await observer.get(bystander), 'keep');
});

test('URLs are redacted for logs', (t) => {
  t.is(redactRedisUrl('redis://user:pw@redis.example:6380/2'), 'redis://***@redis.example:6380/2');
  t.is(redactRedisUrl('rediss://:pw@redis.example:6380'), 'rediss://***@redis.example:6380');
  t.is(redactRedisUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
  t.is(redactRedisUrl('redis://127.0.0.1:6379/0?password=pw'), 'redis://127.0.0.1:6379/0');
});
