import test from 'ava';
import { passwordAuth, serve } from './harness';

test('keystone: discovery at the root (300) and /v3, links to the served v3', async (t) => {
  const s = await serve();
  try {
    const root = await s.http('GET', s.server.authUrl);
    t.is(root.status, 300);
    t.is(root.body.versions.values[0].id, 'v3.14');
    t.is(root.body.versions.values[0].links[0].href, `${s.server.authUrl}/v3/`);
    const v3 = await s.http('GET', `${s.server.authUrl}/v3`);
    t.is(v3.status, 200);
    t.is(v3.body.version.status, 'stable');
  } finally {
    await s.close();
  }
});

test('keystone: password auth → 201, token in X-Subject-Token, project-scoped admin token with the catalog', async (t) => {
  const s = await serve();
  try {
    const before = Date.now();
    const answer = await s.http('POST', `${s.server.authUrl}/v3/auth/tokens`, { body: passwordAuth() });
    t.is(answer.status, 201);
    const token = answer.headers.get('x-subject-token');
    t.truthy(token);
    t.regex(answer.headers.get('x-openstack-request-id') ?? '', /^req-[0-9a-f-]{36}$/);
    const body = answer.body.token;
    t.deepEqual(body.methods, ['password']);
    t.like(body.user, { name: 'admin', domain: { id: 'default', name: 'Default' } });
    t.like(body.project, { name: 'admin', domain: { id: 'default', name: 'Default' } });
    t.true(body.roles.some((r: { name: string }) => r.name === 'admin'));
    const expires = Date.parse(body.expires_at);
    t.true(expires > before + 3590_000 && expires < Date.now() + 3610_000, body.expires_at);
    t.regex(body.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const compute = body.catalog.find((c: { type: string }) => c.type === 'compute');
    t.is(compute.name, 'nova');
    t.deepEqual(compute.endpoints.map((e: { interface: string }) => e.interface).sort(), ['admin', 'internal', 'public']);
    for (const e of compute.endpoints) t.like(e, { region: 'RegionOne', region_id: 'RegionOne', url: s.server.computeUrl });
    const image = body.catalog.find((c: { type: string }) => c.type === 'image');
    t.is(image.endpoints[0].url, s.server.imageUrl);

    // The token works on Nova; ?nocatalog leaves the catalog out; a project given by id scopes the same.
    const services = await s.nova('GET', '/os-services', { token });
    t.is(services.status, 200);
    const bare = await s.http('POST', `${s.server.authUrl}/v3/auth/tokens?nocatalog`, { body: passwordAuth() });
    t.is(bare.status, 201);
    t.false('catalog' in bare.body.token);
    const byId = await s.http('POST', `${s.server.authUrl}/v3/auth/tokens`, { body: passwordAuth({ scope: { project: { id: body.project.id } } }) });
    t.is(byId.status, 201);
    t.is(byId.body.token.project.id, body.project.id);
  } finally {
    await s.close();
  }
});

test('keystone: application credentials (id + secret) → 201 scoped to the project; a wrong secret → 401', async (t) => {
  const s = await serve(undefined, { server: { appCredentials: [{ id: 'ac-1', secret: 's3cret' }] } });
  try {
    const auth = (secret: string) => ({ auth: { identity: { methods: ['application_credential'], application_credential: { id: 'ac-1', secret } } } });
    const ok = await s.http('POST', `${s.server.authUrl}/v3/auth/tokens`, { body: auth('s3cret') });
    t.is(ok.status, 201);
    t.deepEqual(ok.body.token.methods, ['application_credential']);
    t.is(ok.body.token.application_credential.id, 'ac-1');
    t.is(ok.body.token.project.name, 'admin');
    t.is((await s.nova('GET', '/os-services', { token: ok.headers.get('x-subject-token') })).status, 200);
    const bad = await s.http('POST', `${s.server.authUrl}/v3/auth/tokens`, { body: auth('nope') });
    t.is(bad.status, 401);
    t.falsy(bad.headers.get('x-subject-token'));
  } finally {
    await s.close();
  }
});

test("keystone: bad password, unknown user, other domain or project → 401 with Keystone's body", async (t) => {
  const s = await serve();
  try {
    const expected = { error: { code: 401, message: 'The request you have made requires authentication.', title: 'Unauthorized' } };
    for (const body of [
      passwordAuth({ password: 'wrong' }),
      passwordAuth({ user: { name: 'mallory' } }),
      passwordAuth({ user: { domain: { name: 'Other' } } }),
      passwordAuth({ scope: { project: { name: 'demo', domain: { name: 'Default' } } } }),
      passwordAuth({ scope: { system: { all: true } } }),
    ]) {
      const answer = await s.http('POST', `${s.server.authUrl}/v3/auth/tokens`, { body });
      t.is(answer.status, 401, JSON.stringify(body));
      t.deepEqual(answer.body, expected);
    }
  } finally {
    await s.close();
  }
});

test('keystone: Nova and Glance refuse a missing, unknown or expired token with 401 (and WWW-Authenticate)', async (t) => {
  const s = await serve();
  try {
    const none = await s.nova('GET', '/servers/detail', { token: null });
    t.is(none.status, 401);
    t.deepEqual(none.body, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
    t.is(none.headers.get('www-authenticate'), `Keystone uri="${s.server.authUrl}"`);
    t.is((await s.nova('GET', '/servers/detail', { token: 'gAAAAAforged' })).status, 401);
    t.is((await s.nova('POST', '/servers/x/action', { token: null, body: { 'os-stop': null } })).status, 401);
    t.is((await s.nova('GET', '/no-such-thing', { token: null })).status, 401, 'even unknown routes need a token');
    t.is((await s.http('GET', `${s.server.imageUrl}/v2/images/img-a`)).status, 401);
    // The version documents need none.
    t.is((await s.http('GET', s.server.computeUrl)).status, 200);

    const token = await s.token();
    t.is((await s.nova('GET', '/servers/detail', { token })).status, 200);
    const expire = await s.http('POST', `${s.server.controlUrl}/keystone/expire-tokens`);
    t.deepEqual(expire.body, { ok: true, result: { expired: 1 } });
    t.is((await s.nova('GET', '/servers/detail', { token })).status, 401, 'expired');
    const fresh = (await s.http('POST', `${s.server.authUrl}/v3/auth/tokens`, { body: passwordAuth() })).headers.get('x-subject-token') ?? '';
    t.is((await s.http('GET', `${s.server.authUrl}/v3/auth/tokens`, { headers: { 'x-auth-token': fresh, 'x-subject-token': token } })).status, 404, 'Keystone no longer describes it');
    t.is((await s.nova('GET', '/servers/detail', { token: fresh })).status, 200, 'tokens issued after the expiry are valid');
    t.is(s.world.count('listInstances'), 2, 'refused calls never reach the sim');
  } finally {
    await s.close();
  }
});
