import test from 'ava';
import type { Authenticator } from '../../../src/api/auth';
import { sha256, StaticTokenAuthenticator } from '../../../src/api/auth';
import { operationId } from '../../../src/api/openapi';
import type { Role } from '../../../src/api/route';
import { ROLES } from '../../../src/api/route';
import { ROUTES } from '../../../src/api/routes';
import { createRedisFixture } from '../../helpers/redis';
import type { ApiHarness } from './harness';
import { apiConfig, NAMES, sampleOf, startApi, TOKENS } from './harness';

// One hook sets Redis up, then the app: ava runs separate `before` hooks concurrently.
const lifecycle = createRedisFixture();
const redis = lifecycle.fixture;

/** Counts the constant-time comparisons the server's authenticator makes. */
const comparisons: { a: number; b: number }[] = [];
let api: ApiHarness;

test.before(async () => {
  await lifecycle.setup();
  const { timingSafeEqual } = await import('node:crypto');
  const authenticator: Authenticator = new StaticTokenAuthenticator(apiConfig().tokens, {
    compare: (a, b) => {
      comparisons.push({ a: a.length, b: b.length });
      return timingSafeEqual(a, b);
    },
  });
  api = await startApi(redis, { authenticator });
});
test.after.always(async () => {
  await api?.close();
  await lifecycle.teardown();
});

const below = (role: Role): Role | undefined => ROLES[ROLES.indexOf(role) - 1];
const atOrAbove = (role: Role): Role[] => ROLES.slice(ROLES.indexOf(role));

function request(route: (typeof ROUTES)[number], token?: string) {
  const sample = sampleOf(route);
  if (!sample) throw new Error(`test/integration/api/harness.ts SAMPLES has no request for ${operationId(route)}: add one`);
  return api.request(route.method, sample.url, { ...(token ? { token } : {}), ...(sample.body !== undefined ? { body: sample.body } : {}) });
}

test('every route has a sample request (a new route must add one)', (t) => {
  const missing = ROUTES.filter((r) => !sampleOf(r)).map(operationId);
  t.deepEqual(missing, []);
});

for (const route of ROUTES) {
  const name = `${route.method} ${route.url} (${route.access})`;
  if (route.access === 'public') {
    test(`${name}: answers without a token`, async (t) => {
      const res = await request(route);
      t.false([401, 403].includes(res.statusCode), `${res.statusCode} ${res.body}`);
      t.true(res.statusCode < 500 || res.statusCode === 503, `${res.statusCode} ${res.body}`);
    });
    continue;
  }
  const access = route.access;

  test(`${name}: no token → 401 with a Bearer challenge`, async (t) => {
    const res = await request(route);
    t.is(res.statusCode, 401, res.body);
    t.is(res.json().error.code, 'RSR_API_UNAUTHENTICATED');
    t.regex(String(res.headers['www-authenticate']), /^Bearer realm="resurrect"$/);
  });

  test(`${name}: unknown token, or another scheme → 401`, async (t) => {
    const unknown = await request(route, `${TOKENS.admin}x`);
    t.is(unknown.statusCode, 401, unknown.body);
    t.regex(String(unknown.headers['www-authenticate']), /error="invalid_token"/);
    t.false(unknown.body.includes(TOKENS.admin), 'the presented token is not echoed');
    const sample = sampleOf(route)!;
    const basic = await api.request(route.method, sample.url, { headers: { authorization: `Basic ${Buffer.from(`x:${TOKENS.admin}`).toString('base64')}` } });
    t.is(basic.statusCode, 401, basic.body);
  });

  const weaker = below(access);
  if (weaker) {
    test(`${name}: a token of role ${weaker} → 403`, async (t) => {
      const res = await request(route, TOKENS[weaker]);
      t.is(res.statusCode, 403, res.body);
      t.is(res.json().error.code, 'RSR_API_FORBIDDEN');
      t.regex(res.json().error.message, new RegExp(`${NAMES[weaker]} has role ${weaker}; this route needs ${access}`));
      t.false(res.body.includes(TOKENS[weaker]));
    });
  }

  test(`${name}: ${atOrAbove(access).join(', ')} pass authentication`, async (t) => {
    for (const role of atOrAbove(access)) {
      const res = await request(route, TOKENS[role]);
      t.false([401, 403].includes(res.statusCode), `${role}: ${res.statusCode} ${res.body}`);
      t.true(res.statusCode < 500, `${role}: ${res.statusCode} ${res.body}`);
      for (const token of Object.values(TOKENS)) t.false(res.body.includes(token) || JSON.stringify(res.headers).includes(token), 'no token echoed');
    }
  });
}

test('the token check compares SHA-256 digests in constant time against every configured token, match or not', async (t) => {
  // Serial within this test: count the comparisons of one request at a time.
  const route = ROUTES.find((r) => r.access === 'viewer')!;
  for (const token of [TOKENS.viewer, TOKENS.admin, 'not-a-token', 'x'.repeat(4096)]) {
    const before = comparisons.length;
    await request(route, token);
    const made = comparisons.slice(before);
    // Other tests of this file run concurrently: at least one full round, each over equal-length digests.
    t.true(made.length >= 3 && made.length % 3 === 0, `${made.length} comparisons`);
    t.true(made.every((c) => c.a === 32 && c.b === 32), 'equal-length SHA-256 digests');
  }
});

test('the static authenticator: clear and hashed tokens, the first match wins, no early exit', (t) => {
  let calls = 0;
  const auth = new StaticTokenAuthenticator([
    { name: 'a', role: 'viewer', token: 'alpha' },
    { name: 'b', role: 'admin', sha256: sha256('bravo').toString('hex') },
    { name: 'c', role: 'operator', sha256: sha256('alpha').toString('hex').toUpperCase() },
  ], { compare: (x, y) => { calls++; return x.equals(y); } });
  t.deepEqual(auth.authenticate('alpha'), { name: 'a', role: 'viewer' });
  t.is(calls, 3, 'every digest compared although the first matched');
  t.deepEqual(auth.authenticate('bravo'), { name: 'b', role: 'admin' });
  t.is(auth.authenticate('charlie'), undefined);
  t.is(auth.authenticate(''), undefined);
  t.is(calls, 12);
});
