import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { findFreePort } from '../../src/drivers/redis/locate-redis';
import { BIN } from '../helpers/cli';
import { useRedis } from '../helpers/redis';

const redis = useRedis(test);

test('resurrect serve: listens on the given port, answers /healthz and an authenticated route over HTTP, exits 0 on SIGTERM', async (t) => {
  const port = await findFreePort();
  const token = `e2e-${Date.now()}-token`;
  const env = {
    ...process.env,
    REDIS_URL: redis.url,
    RESURRECT_RUNTIME_DIR: mkdtempSync(join(tmpdir(), 'rsr-serve-')),
    RESURRECT_CONFIG: '',
    RESURRECT_API_TOKENS: `e2e:viewer:${token}`,
  };
  const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--prefix', redis.newPrefix()], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c) => { output += String(c); });
  child.stderr.on('data', (c) => { output += String(c); });
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });

  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300 && !output.includes(`API listening on ${base}`); i++) await new Promise((r) => setTimeout(r, 50));
  t.true(output.includes(`API listening on ${base}`), output);

  const health = await fetch(`${base}/healthz`);
  t.is(health.status, 200);
  t.is(((await health.json()) as { status: string }).status, 'ok');
  const anonymous = await fetch(`${base}/api/v1/breaker`);
  t.is(anonymous.status, 401);
  t.is(anonymous.headers.get('www-authenticate'), 'Bearer realm="resurrect"');
  const breaker = await fetch(`${base}/api/v1/breaker`, { headers: { authorization: `Bearer ${token}` } });
  t.is(breaker.status, 200);
  t.true(Array.isArray(((await breaker.json()) as { scopes: unknown[] }).scopes));
  const ready = await fetch(`${base}/readyz`);
  t.is(ready.status, 503, 'no worker without --worker');
  const openapi = await fetch(`${base}/openapi.json`);
  t.is(((await openapi.json()) as { openapi: string }).openapi, '3.0.3');

  child.kill('SIGTERM');
  t.is(await exited, 0, output);
  t.regex(output, /API stopped/);
  t.false(output.includes(token), 'the token is never logged');
});
