import test, { type ExecutionContext } from 'ava';
import { systemClock, type Clock, type ResurrectError } from '../../../src/domain';
import { loadCloudConfig } from '../../../src/drivers/cloud/openstack/clouds';
import { OpenStackCloudDriver } from '../../../src/drivers/cloud/openstack/openstack-cloud-driver';
import { OpenStackStub, STUB_APP_SECRET, STUB_PASSWORD, type StubOptions } from '../../helpers/openstack-stub';

const passwordEnv = (authUrl: string, over: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  OS_AUTH_URL: authUrl, OS_USERNAME: 'admin', OS_PASSWORD: STUB_PASSWORD, OS_PROJECT_NAME: 'admin', OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_NAME: 'Default', ...over,
});

/** A clock the test moves by hand (sleeps still take real time: backoff is not under test here). */
class SteppedClock implements Clock {
  offset = 0;
  now = () => Date.now() + this.offset;
  sleep = systemClock.sleep;
}

async function stubbed(t: ExecutionContext, options: StubOptions = {}) {
  const stub = await new OpenStackStub(options).start();
  t.teardown(() => stub.close());
  return stub;
}

test('openstack keystone: auth_url with or without /v3 (and a trailing slash) posts to {auth_url}/v3/auth/tokens', async (t) => {
  const stub = await stubbed(t);
  for (const authUrl of [stub.authUrl, `${stub.authUrl}/`, `${stub.authUrl}/v3`, `${stub.authUrl}/v3/`]) {
    const driver = new OpenStackCloudDriver(loadCloudConfig({ env: passwordEnv(authUrl) }));
    await driver.microversion();
  }
  t.deepEqual(stub.calls('identity').map((r) => `${r.method} ${r.path}`), Array(4).fill('POST /identity/v3/auth/tokens'));
});

test('openstack keystone: the password request is the v3 body with user and project scope by name and domain', async (t) => {
  const stub = await stubbed(t);
  await new OpenStackCloudDriver(loadCloudConfig({ env: passwordEnv(stub.authUrl) })).microversion();
  t.deepEqual(stub.calls('identity')[0]?.body, {
    auth: {
      identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password: STUB_PASSWORD } } },
      scope: { project: { name: 'admin', domain: { name: 'Default' } } },
    },
  });
  t.is(stub.calls('identity')[0]?.headers['content-type'], 'application/json');
});

test('openstack keystone: ids instead of names, and a domain default, go into the body as ids', async (t) => {
  const stub = await stubbed(t);
  const env = { OS_AUTH_URL: stub.authUrl, OS_USER_ID: 'u1', OS_PASSWORD: STUB_PASSWORD, OS_PROJECT_ID: 'p1' };
  await new OpenStackCloudDriver(loadCloudConfig({ env })).microversion();
  t.deepEqual(stub.calls('identity')[0]?.body, {
    auth: { identity: { methods: ['password'], password: { user: { id: 'u1', password: STUB_PASSWORD } } }, scope: { project: { id: 'p1' } } },
  });
});

test('openstack keystone: an application credential authenticates without a scope', async (t) => {
  const stub = await stubbed(t);
  const env = { OS_AUTH_URL: stub.authUrl, OS_AUTH_TYPE: 'v3applicationcredential', OS_APPLICATION_CREDENTIAL_ID: 'ac-1', OS_APPLICATION_CREDENTIAL_SECRET: STUB_APP_SECRET };
  const driver = new OpenStackCloudDriver(loadCloudConfig({ env }));
  t.like(await driver.getInstance('vm-1'), { id: 'vm-1' });
  t.deepEqual(stub.calls('identity')[0]?.body, {
    auth: { identity: { methods: ['application_credential'], application_credential: { id: 'ac-1', secret: STUB_APP_SECRET } } },
  });
});

test('openstack keystone: the token (X-Subject-Token) is reused until shortly before expires_at', async (t) => {
  const stub = await stubbed(t, { tokenLifetimeMs: 3600_000 });
  const clock = new SteppedClock();
  const driver = new OpenStackCloudDriver(loadCloudConfig({ env: passwordEnv(stub.authUrl) }), { clock });
  await driver.getInstance('vm-1');
  await driver.getService('compute-a');
  clock.offset = 58 * 60_000;
  await driver.getInstance('vm-1');
  t.is(stub.authCount(), 1);
  const tokens = new Set(stub.calls('compute').map((r) => r.headers['x-auth-token']));
  t.is(tokens.size, 1);
  t.true(stub.tokens.has([...tokens][0] as string), 'X-Auth-Token is the X-Subject-Token Keystone issued');
  clock.offset = 59 * 60_000 + 30_000; // inside the last minute
  await driver.getInstance('vm-1');
  t.is(stub.authCount(), 2);
});

test('openstack keystone: a short-lived token is renewed in the last quarter of its life', async (t) => {
  // The stub's token times are real time, our clock real time plus an offset: the lifetime is long enough that
  // the real seconds a loaded machine spends between the calls cannot push the first renewal check past 3/4.
  const stub = await stubbed(t, { tokenLifetimeMs: 80_000 });
  const clock = new SteppedClock();
  const driver = new OpenStackCloudDriver(loadCloudConfig({ env: passwordEnv(stub.authUrl) }), { clock });
  await driver.getInstance('vm-1');
  clock.offset = 50_000;
  await driver.getInstance('vm-1');
  t.is(stub.authCount(), 1);
  clock.offset = 65_000;
  await driver.getInstance('vm-1');
  t.is(stub.authCount(), 2);
});

test('openstack keystone: the lifetime counts from Keystone\'s issued_at, not our clock (skew-proof)', async (t) => {
  const stub = await stubbed(t, { tokenLifetimeMs: 3600_000 });
  const clock = new SteppedClock();
  clock.offset = 2 * 3600_000; // our clock runs two hours ahead of Keystone's
  const driver = new OpenStackCloudDriver(loadCloudConfig({ env: passwordEnv(stub.authUrl) }), { clock });
  await driver.getInstance('vm-1');
  await driver.getInstance('vm-2');
  t.is(stub.authCount(), 1);
});

test('openstack keystone: callers arriving together share one authentication', async (t) => {
  const stub = await stubbed(t);
  const driver = new OpenStackCloudDriver(loadCloudConfig({ env: passwordEnv(stub.authUrl) }));
  await Promise.all(['vm-1', 'vm-2', 'vm-3', 'vm-9', 'vm-1'].map((id) => driver.getInstance(id)));
  t.is(stub.authCount(), 1);
  t.is(stub.calls('compute', 'GET').filter((r) => r.path === '/compute/v2.1').length, 1, 'and one negotiation');
});

test('openstack keystone: bad credentials are a final RSR_CLOUD_REJECTED, asked once', async (t) => {
  const stub = await stubbed(t);
  const driver = new OpenStackCloudDriver(loadCloudConfig({ env: passwordEnv(stub.authUrl, { OS_PASSWORD: 'wrong-password-1' }) }), { retryBaseMs: 1 });
  const error = (await t.throwsAsync(driver.getInstance('vm-1'))) as ResurrectError;
  t.like(error, { code: 'RSR_CLOUD_REJECTED', retryable: false });
  t.regex(error.message, /Keystone refused to authenticate cloud "envvars" \(401/);
  t.like(error.details, { httpStatus: 401, service: 'identity', path: '/identity/v3/auth/tokens', cloud: 'envvars' });
  t.false(JSON.stringify({ m: error.message, d: error.details, s: error.stack }).includes('wrong-password-1'));
  t.is(stub.authCount(), 1);
  t.is(stub.calls('compute').length, 0);
});

test('openstack keystone: Keystone answering 503 is retried; an auth_url that is not Keystone is configuration', async (t) => {
  const stub = await stubbed(t);
  stub.intercept((r) => r.path.startsWith('/identity'), { status: 503, text: 'Service Unavailable' });
  const driver = new OpenStackCloudDriver(loadCloudConfig({ env: passwordEnv(stub.authUrl) }), { retryBaseMs: 1 });
  await driver.getInstance('vm-1');
  t.is(stub.authCount(), 2);
  const wrong = new OpenStackCloudDriver(loadCloudConfig({ env: passwordEnv(`${stub.base}/not-keystone`) }), { retryBaseMs: 1 });
  await t.throwsAsync(wrong.getInstance('vm-1'), { code: 'RSR_CONFIG_INVALID', message: /not a Keystone v3 endpoint/ });
});

test('openstack keystone: the endpoint is chosen by type, interface (default public) and region', async (t) => {
  const stub = await stubbed(t);
  const paths = async (env: NodeJS.ProcessEnv) => {
    const before = stub.requests.length;
    await new OpenStackCloudDriver(loadCloudConfig({ env: passwordEnv(stub.authUrl, env) })).getInstance('vm-1');
    return stub.requests.slice(before).filter((r) => r.path.includes('/servers/')).map((r) => r.path);
  };
  t.deepEqual(await paths({ OS_REGION_NAME: 'RegionOne' }), ['/compute/v2.1/servers/vm-1']);
  t.deepEqual(await paths({ OS_INTERFACE: 'internal' }), ['/compute-internal/v2.1/servers/vm-1']);
  t.deepEqual(await paths({ OS_ENDPOINT_TYPE: 'internalURL', OS_REGION_NAME: 'RegionOne' }), ['/compute-internal/v2.1/servers/vm-1']);
  t.deepEqual(await paths({ OS_REGION_NAME: 'RegionTwo' }), ['/compute-two/v2.1/servers/vm-1']);
  const nowhere = new OpenStackCloudDriver(loadCloudConfig({ env: passwordEnv(stub.authUrl, { OS_REGION_NAME: 'RegionNine' }) }));
  await t.throwsAsync(nowhere.getInstance('vm-1'), { code: 'RSR_CONFIG_INVALID', message: /no compute endpoint for interface public in region RegionNine \(it has public@RegionOne, internal@RegionOne, public@RegionTwo\)/ });
});
