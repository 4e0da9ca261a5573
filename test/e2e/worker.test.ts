import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test from 'ava';
import { findFreePort } from '../../src/drivers/redis/locate-redis';
import { useRedis } from '../helpers/redis';

const redis = useRedis(test);
const BIN = resolve(__dirname, '../../bin/resurrect.js');

test('resurrect worker: joins the shared Redis, says where, and stops cleanly on SIGTERM (exit 0)', async (t) => {
  const env = { ...process.env, REDIS_URL: redis.url, RESURRECT_RUNTIME_DIR: mkdtempSync(join(tmpdir(), 'rsr-w-')), RESURRECT_CONFIG: '' };
  const child = spawn(process.execPath, [BIN, 'worker', '--name', 'e2e-worker', '--prefix', redis.newPrefix()], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c) => { output += String(c); });
  child.stderr.on('data', (c) => { output += String(c); });
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  for (let i = 0; i < 200 && !output.includes('worker e2e-worker ready'); i++) await new Promise((r) => setTimeout(r, 50));
  t.regex(output, /worker e2e-worker ready on redis:\/\/127\.0\.0\.1:\d+/);
  t.regex(output, /drives a simulated cloud of its own/, 'warns that a sim-backed worker acts on a private world');
  child.kill('SIGTERM');
  t.is(await exited, 0, output);
  t.regex(output, /worker e2e-worker stopped \(drained\)/);
});

test('resurrect worker: with no Redis to join it refuses in one sentence (exit 1)', async (t) => {
  // No REDIS_URL, no runtime file, and the "local Redis" moved to a port nothing listens on.
  const closed = `redis://127.0.0.1:${await findFreePort()}`;
  const env = { ...process.env, REDIS_URL: '', RESURRECT_RUNTIME_DIR: mkdtempSync(join(tmpdir(), 'rsr-w-')), RESURRECT_CONFIG: '', RESURRECT_LOCAL_REDIS_URL: closed };
  const child = spawn(process.execPath, [BIN, 'worker'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += String(c); });
  const code = await new Promise<number | null>((done) => child.on('exit', (c) => done(c)));
  t.is(code, 1);
  t.regex(stderr, /no running Resurrect found: start it with `npm start`/);
});
