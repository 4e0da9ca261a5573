/**
 * Secrets never leave: API tokens (from the configuration, in clear and as SHA-256, and from
 * RESURRECT_API_TOKENS) and a BMC password from the fencing options. A recovery is driven over HTTP, with
 * refusals of every kind on the way; then everything the run produced — every log line (the real logger,
 * at debug), every audit record (the global stream and each trail), every API response with its headers —
 * is searched for each secret and for each token's hash.
 */
import { randomBytes } from 'node:crypto';
import test from 'ava';
import { sha256, TOKENS_ENV } from '../../../src/api/auth';
import { buildServer } from '../../../src/api/server';
import { createLogger } from '../../../src/config/logger';
import { buildApp } from '../../../src/container';
import { TOKENS as DI } from '../../../src/container';
import type { Keys } from '../../../src/engine/keys';
import { smallWorld, testConfig } from '../../helpers/engine';
import { createRedisFixture } from '../../helpers/redis';
import { until } from '../../helpers/wait';

const lifecycle = createRedisFixture();
test.before(() => lifecycle.setup());
test.after.always(() => lifecycle.teardown());

const secret = (what: string) => `${what}-${randomBytes(16).toString('hex')}`;

test('tokens and BMC passwords appear in no log line, audit record or API response of a whole run', async (t) => {
  const viewerToken = secret('viewer-token');
  const operatorToken = secret('operator-token');
  const adminToken = secret('admin-token');
  const bmcPassword = secret('bmc-password');
  const secrets = [viewerToken, operatorToken, adminToken, bmcPassword];
  const hashes = [viewerToken, operatorToken, adminToken].map((token) => sha256(token).toString('hex'));

  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (line: string) => { lines.push(line); return true; } } as unknown as NodeJS.WritableStream });
  const prefix = lifecycle.fixture.newPrefix();
  const api = {
    host: '127.0.0.1', port: 0, bodyLimitBytes: 64 * 1024, rateLimit: { max: 1_000, windowMs: 60_000 },
    tokens: [
      { name: 'vera', role: 'viewer' as const, sha256: hashes[0]! },
      { name: 'otto', role: 'operator' as const, token: operatorToken },
    ],
  };
  const config = testConfig(prefix, { api, fencing: { driver: 'sim', options: { user: 'admin', password: bmcPassword } } });
  const app = await buildApp({ config, redisUrl: lifecycle.fixture.url, log, overrides: { world: smallWorld() }, workerName: 'secrets' });
  app.worker().start(4);
  const server = await buildServer(app, api, { env: { [TOKENS_ENV]: `ada:admin:${adminToken}` } });
  t.teardown(async () => {
    await server.close();
    await app.close();
  });

  const responses: string[] = [];
  const call = async (method: string, url: string, token?: string, body?: unknown) => {
    const res = await server.inject({
      method: method as 'GET', url,
      headers: { ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    responses.push(`${res.statusCode} ${JSON.stringify(res.headers)} ${res.body}`);
    return res;
  };

  // A recovery, driven over HTTP.
  const opened = await call('POST', '/api/v1/incidents', operatorToken, { kind: 'host-down', host: 'compute-1' });
  t.is(opened.statusCode, 201, opened.body);
  const { incident } = opened.json();
  await until(async () => (await call('GET', `/api/v1/incidents/${incident.id}`, viewerToken)).json().incident.status !== 'open', 20_000);
  t.is((await call('GET', `/api/v1/incidents/${incident.id}`, viewerToken)).json().incident.status, 'resolved');
  await call('GET', `/api/v1/recoveries/${incident.recoveryId}`, adminToken);
  await call('POST', '/api/v1/incidents', adminToken, { kind: 'host-down', host: 'compute-1' });
  for (const url of ['/api/v1/incidents', '/api/v1/breaker', '/api/v1/workflows', '/api/v1/slas', '/api/v1/policy', '/api/v1/plugins/errors', '/metrics', '/openapi.json', '/readyz', '/healthz']) {
    await call('GET', url, adminToken);
  }
  await call('POST', '/api/v1/plans', viewerToken, { failedHosts: ['compute-2'] });
  // Refusals: a wrong role, near misses of real tokens, a token in the wrong scheme, bad input, unknown routes.
  await call('POST', '/api/v1/incidents', viewerToken, { kind: 'host-down', host: 'compute-2' });
  await call('GET', '/api/v1/breaker', `${adminToken.slice(0, -1)}0`);
  await call('GET', '/api/v1/breaker', hashes[0]);
  await call('GET', '/api/v1/breaker', ` ${operatorToken} extra`);
  await server.inject({ method: 'GET', url: '/api/v1/breaker', headers: { authorization: `Basic ${operatorToken}` } }).then((r) => responses.push(r.body));
  await call('POST', '/api/v1/recoveries/nope/decision', operatorToken, { decision: 'perhaps' });
  await call('POST', '/api/v1/policy/reload', operatorToken);
  await call('GET', `/api/v1/nothing-here`, operatorToken);

  const audit: string[] = [];
  const keys = app.container.get<Keys>(DI.keys);
  for (const [, fields] of await app.redis.xrange(keys.globalAudit(), '-', '+')) audit.push(fields.join(' '));
  for (const id of [incident.id, incident.recoveryId]) audit.push(...(await app.engine.audit(id)).map((e) => JSON.stringify(e.record)));

  const logs = lines.join('');
  t.true(logs.includes('incident opened') || logs.includes(`incident ${incident.id} opened`), 'the engine logged the run');
  t.true(logs.includes('incoming request'), 'fastify logged the requests');
  t.true(audit.length > 10 && audit.join('\n').includes('api:otto'), 'the audit trail names who reported it');
  t.true(responses.length > 20);

  for (const [name, text] of [['logs', logs], ['audit', audit.join('\n')], ['responses', responses.join('\n')]] as const) {
    for (const value of [...secrets, ...hashes]) {
      t.false(text.includes(value), `${name} contain ${value.split('-').slice(0, 2).join('-')}…`);
    }
  }
});
