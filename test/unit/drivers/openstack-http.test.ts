import { createServer } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { errorToJSON, type ResurrectError } from '../../../src/domain';
import { loadCloudConfig } from '../../../src/drivers/cloud/openstack/clouds';
import { OpenStackCloudDriver, type OpenStackDriverSettings } from '../../../src/drivers/cloud/openstack/openstack-cloud-driver';
import { fault, OpenStackStub, STUB_PASSWORD, type Recorded } from '../../helpers/openstack-stub';
import { until } from '../../helpers/wait';

const env = (stub: OpenStackStub): NodeJS.ProcessEnv => ({
  OS_AUTH_URL: stub.authUrl, OS_USERNAME: 'admin', OS_PASSWORD: STUB_PASSWORD, OS_PROJECT_NAME: 'admin', OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_NAME: 'Default',
});

async function setup(t: ExecutionContext, settings: OpenStackDriverSettings = {}) {
  const stub = await new OpenStackStub().start();
  t.teardown(() => stub.close());
  const driver = new OpenStackCloudDriver(loadCloudConfig({ env: env(stub) }), { retryBaseMs: 1, ...settings });
  await driver.microversion(); // negotiated before the scripted answers start
  return { stub, driver };
}

const isServer = (id: string) => (r: Recorded) => r.method === 'GET' && r.path === `/compute/v2.1/servers/${id}`;
const isAction = (id: string) => (r: Recorded) => r.method === 'POST' && r.path === `/compute/v2.1/servers/${id}/action`;
const unavailable = { status: 503, body: { serviceUnavailable: { code: 503, message: 'Service Unavailable' } } };

// ---- retries -----------------------------------------------------------------------------------------

test('openstack http: a GET answered 503 is retried and then succeeds', async (t) => {
  const { stub, driver } = await setup(t);
  stub.intercept(isServer('vm-1'), unavailable);
  t.is((await driver.getInstance('vm-1')).id as string, 'vm-1');
  t.is(stub.requests.filter(isServer('vm-1')).length, 2);
});

test('openstack http: 502 and 504 are retried too, up to `retries` extra attempts, then fail retryable', async (t) => {
  const { stub, driver } = await setup(t, { retries: 2 });
  stub.intercept(isServer('vm-1'), { status: 502, text: 'Bad Gateway' });
  stub.intercept(isServer('vm-1'), { status: 504, text: 'Gateway Time-out' }, 10);
  const error = (await t.throwsAsync(driver.getInstance('vm-1'))) as ResurrectError;
  t.like(error, { code: 'RSR_DRIVER_UNAVAILABLE', retryable: true, message: 'Gateway Time-out' });
  t.is(error.details.httpStatus, 504);
  t.is(stub.requests.filter(isServer('vm-1')).length, 3);
});

test('openstack http: a state-setting PUT is retried after a 503', async (t) => {
  const { stub, driver } = await setup(t);
  stub.intercept((r) => r.method === 'PUT', unavailable);
  t.like(await driver.setServiceForcedDown('compute-a', true), { forcedDown: true });
  t.is(stub.calls('compute', 'PUT').length, 2);
});

test('openstack http: evacuate answered 503 is NOT retried (it may have started) and fails retryable', async (t) => {
  const { stub, driver } = await setup(t);
  stub.intercept(isAction('vm-1'), unavailable, 5);
  const error = (await t.throwsAsync(driver.evacuate('vm-1'))) as ResurrectError;
  t.like(error, { code: 'RSR_DRIVER_UNAVAILABLE', retryable: true });
  t.is(error.details.httpStatus, 503);
  t.is(stub.requests.filter(isAction('vm-1')).length, 1);
});

test('openstack http: no server action is ever repeated on 503 (live migration, start, stop, reboot)', async (t) => {
  const { stub, driver } = await setup(t);
  stub.intercept((r) => r.method === 'POST' && r.path.endsWith('/action'), unavailable, 100);
  await t.throwsAsync(driver.liveMigrate('vm-1'), { code: 'RSR_DRIVER_UNAVAILABLE' });
  await t.throwsAsync(driver.startInstance('vm-2'), { code: 'RSR_DRIVER_UNAVAILABLE' });
  await t.throwsAsync(driver.stopInstance('vm-1'), { code: 'RSR_DRIVER_UNAVAILABLE' });
  await t.throwsAsync(driver.rebootInstance('vm-1', 'HARD'), { code: 'RSR_DRIVER_UNAVAILABLE' });
  t.is(stub.calls('compute', 'POST').length, 4);
});

test('openstack http: a dropped connection is retried for a GET, not for an action', async (t) => {
  const { stub, driver } = await setup(t);
  stub.intercept(isServer('vm-1'), { destroy: true });
  t.is((await driver.getInstance('vm-1')).id as string, 'vm-1');
  t.is(stub.requests.filter(isServer('vm-1')).length, 2);
  stub.intercept(isAction('vm-1'), { destroy: true });
  const error = (await t.throwsAsync(driver.stopInstance('vm-1'))) as ResurrectError;
  t.like(error, { code: 'RSR_DRIVER_UNAVAILABLE', retryable: true });
  t.like(error.details, { method: 'POST', path: '/compute/v2.1/servers/vm-1/action', service: 'compute' });
  t.is(stub.requests.filter(isAction('vm-1')).length, 1);
});

test('openstack http: a refused connection is a retryable RSR_DRIVER_UNAVAILABLE naming the reason', async (t) => {
  const stub = await new OpenStackStub().start();
  t.teardown(() => stub.close());
  const dead = createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  const port = (dead.address() as { port: number }).port;
  await new Promise<void>((resolve) => dead.close(() => resolve()));
  const cloud = { ...loadCloudConfig({ env: env(stub) }), endpointOverrides: { compute: `http://127.0.0.1:${port}/v2.1` } };
  const driver = new OpenStackCloudDriver(cloud, { retryBaseMs: 1, retries: 2 });
  const error = (await t.throwsAsync(driver.getInstance('vm-1'))) as ResurrectError;
  t.like(error, { code: 'RSR_DRIVER_UNAVAILABLE', retryable: true });
  t.is(error.details.reason, 'ECONNREFUSED');
  t.regex(error.message, /compute could not be reached for GET \/v2\.1 \(ECONNREFUSED\)/);
});

// ---- timeouts and aborts -----------------------------------------------------------------------------

test('openstack http: a request that gets no answer times out as a retryable RSR_DRIVER_TIMEOUT', async (t) => {
  const { stub, driver } = await setup(t, { timeoutMs: 1000 });
  stub.intercept(isAction('vm-1'), { hang: true });
  const started = Date.now();
  const error = (await t.throwsAsync(driver.evacuate('vm-1'))) as ResurrectError;
  t.like(error, { code: 'RSR_DRIVER_TIMEOUT', retryable: true });
  t.like(error.details, { timeoutMs: 1000, method: 'POST', path: '/compute/v2.1/servers/vm-1/action' });
  t.true(Date.now() - started >= 900 && Date.now() - started < 8000);
  t.is(stub.requests.filter(isAction('vm-1')).length, 1);
});

test('openstack http: the caller\'s abort rejects with the caller\'s reason, in flight or before sending', async (t) => {
  const { stub, driver } = await setup(t, { timeoutMs: 10_000 });
  stub.intercept(isServer('vm-1'), { hang: true });
  const controller = new AbortController();
  const reason = new Error('step timed out');
  setTimeout(() => controller.abort(reason), 50);
  t.is(await t.throwsAsync(driver.getInstance('vm-1', { signal: controller.signal })), reason);
  const before = stub.requests.length;
  t.is(await t.throwsAsync(driver.evacuate('vm-1', undefined, { signal: controller.signal })), reason);
  t.is(await t.throwsAsync(driver.listHosts({ signal: controller.signal })), reason);
  t.is(stub.requests.length, before, 'an aborted signal sends nothing');
});

test('openstack http: an abort during the retry backoff stops the retries', async (t) => {
  const { stub, driver } = await setup(t, { retryBaseMs: 5000, retries: 3 });
  stub.intercept(isServer('vm-1'), unavailable, 10);
  const controller = new AbortController();
  const reason = new Error('enough');
  // Abort once the first attempt has been answered (the driver is then in its 5 s backoff), not after a fixed
  // delay: on a loaded machine the first request may not have gone out yet.
  const call = t.throwsAsync(driver.getInstance('vm-1', { signal: controller.signal }));
  await until(() => stub.requests.filter(isServer('vm-1')).length === 1, 5_000);
  await new Promise((resolve) => setTimeout(resolve, 50));
  controller.abort(reason);
  t.is(await call, reason);
  t.is(stub.requests.filter(isServer('vm-1')).length, 1);
});

// ---- error mapping -----------------------------------------------------------------------------------

const mapping: { title: string; answer: { status: number; body?: unknown; text?: string }; code: string; retryable: boolean; message?: string }[] = [
  { title: '400 "still in use" is a retryable conflict', answer: fault(400, 'Compute service of compute-a is still in use.') as { status: number; body: unknown }, code: 'RSR_CLOUD_CONFLICT', retryable: true, message: 'Compute service of compute-a is still in use.' },
  { title: 'another 400 is a final rejection', answer: fault(400, "Invalid input for field/attribute evacuate. Value: {}. 'x' was unexpected") as { status: number; body: unknown }, code: 'RSR_CLOUD_REJECTED', retryable: false },
  { title: '400 "No valid host" is no capacity', answer: fault(400, 'No valid host was found. There are not enough hosts available.') as { status: number; body: unknown }, code: 'RSR_NO_CAPACITY', retryable: true },
  { title: '404 is not found', answer: fault(404, 'Instance vm-1 could not be found.') as { status: number; body: unknown }, code: 'RSR_CLOUD_NOT_FOUND', retryable: false, message: 'Instance vm-1 could not be found.' },
  { title: '409 is a retryable conflict', answer: fault(409, "Cannot 'evacuate' instance vm-1 while it is in task_state powering-off") as { status: number; body: unknown }, code: 'RSR_CLOUD_CONFLICT', retryable: true },
  { title: '403 is a final rejection', answer: fault(403, "Policy doesn't allow os_compute_api:os-evacuate to be performed.") as { status: number; body: unknown }, code: 'RSR_CLOUD_REJECTED', retryable: false },
  { title: '500 is retryable unavailability (not retried here)', answer: { status: 500, body: { computeFault: { code: 500, message: 'Unexpected API Error.' } } }, code: 'RSR_DRIVER_UNAVAILABLE', retryable: true },
  { title: '406 (microversion refused) is a final rejection', answer: { status: 406, body: { computeFault: { code: 406, message: 'Version 2.95 is not supported by the API.' } } }, code: 'RSR_CLOUD_REJECTED', retryable: false },
];

for (const row of mapping) {
  test(`openstack http: evacuate error mapping: ${row.title}`, async (t) => {
    const { stub, driver } = await setup(t);
    stub.intercept(isAction('vm-1'), { ...row.answer, headers: { 'x-openstack-request-id': 'req-00000000-1111-2222-3333-444444444444' } });
    const error = (await t.throwsAsync(driver.evacuate('vm-1'))) as ResurrectError;
    t.like(error, { code: row.code, retryable: row.retryable });
    if (row.message) t.is(error.message, row.message);
    t.like(error.details, {
      httpStatus: row.answer.status,
      method: 'POST',
      path: '/compute/v2.1/servers/vm-1/action',
      requestId: 'req-00000000-1111-2222-3333-444444444444',
      service: 'compute',
      fault: error.message,
    });
    t.is(stub.requests.filter(isAction('vm-1')).length, 1);
    const json = JSON.stringify(errorToJSON(error));
    for (const token of stub.tokens) t.false(json.includes(token), 'no token in the error');
  });
}

const FORCE_UP_REFUSED = 'Unable to force up host compute-a as `done` evacuation migration records remain associated with the host. '
  + 'Ensure the compute service has been restarted, allowing these records to move to `completed` before retrying this request.';

test('openstack http: Nova\'s 400 refusing to lift forced_down before cleanup is a retryable conflict with Nova\'s message', async (t) => {
  const { stub, driver } = await setup(t);
  stub.intercept((r) => r.method === 'PUT', fault(400, FORCE_UP_REFUSED));
  const error = (await t.throwsAsync(driver.setServiceForcedDown('compute-a', false))) as ResurrectError;
  t.like(error, { code: 'RSR_CLOUD_CONFLICT', retryable: true, message: FORCE_UP_REFUSED });
  t.like(error.details, { httpStatus: 400, method: 'PUT', fault: FORCE_UP_REFUSED });
  t.is(stub.calls('compute', 'PUT').length, 1, 'a 400 is not retried by the transport');
});

test('openstack http: the same refusal on the legacy force-down route (2.11–2.52) maps the same way', async (t) => {
  const { stub, driver } = await setup(t, { microversion: '2.52' });
  stub.intercept((r) => r.method === 'PUT' && r.path.endsWith('/os-services/force-down'), fault(400, FORCE_UP_REFUSED));
  const error = (await t.throwsAsync(driver.setServiceForcedDown('compute-a', false))) as ResurrectError;
  t.like(error, { code: 'RSR_CLOUD_CONFLICT', retryable: true, message: FORCE_UP_REFUSED });
  t.is(error.details.httpStatus, 400);
});

test('openstack http: any other 400 stays a refusal for good (RSR_CLOUD_REJECTED), not a conflict', async (t) => {
  const { stub, driver } = await setup(t);
  stub.intercept((r) => r.method === 'PUT', fault(400, "No updates were requested. Fields 'status' or 'forced_down' should be specified."));
  await t.throwsAsync(driver.setServiceForcedDown('compute-a', false), { code: 'RSR_CLOUD_REJECTED' });
});

test('openstack http: an HTML error page gives its text as the message', async (t) => {
  const { stub, driver } = await setup(t);
  stub.intercept(isServer('vm-1'), { status: 404, text: '<html><body><h1>404 Not Found</h1><p>The resource could not be found.</p></body></html>' });
  await t.throwsAsync(driver.getInstance('vm-1'), { code: 'RSR_CLOUD_NOT_FOUND', message: '404 Not Found The resource could not be found.' });
});

test('openstack http: a 200 whose body is not what Nova sends is a retryable RSR_DRIVER_UNAVAILABLE', async (t) => {
  const { stub, driver } = await setup(t);
  stub.intercept(isServer('vm-1'), { status: 200, body: { server: { name: 'no id' } } }, 10);
  const error = await t.throwsAsync(driver.getInstance('vm-1'), { message: /server\.id/ });
  t.like(error, { code: 'RSR_DRIVER_UNAVAILABLE', retryable: true });
});

// ---- 401 ---------------------------------------------------------------------------------------------

test('openstack http: a 401 from Nova (token revoked) re-authenticates once and the call succeeds', async (t) => {
  const { stub, driver } = await setup(t);
  t.is(stub.authCount(), 1);
  stub.revokeAll();
  t.is((await driver.stopInstance('vm-1')).requestId, 'req-action-vm-1-os-stop');
  t.is(stub.authCount(), 2);
  const stops = stub.requests.filter(isAction('vm-1'));
  t.is(stops.length, 2, 'the refused POST did nothing, so it is sent again with the new token');
  t.not(stops[0]?.headers['x-auth-token'], stops[1]?.headers['x-auth-token']);
});

test('openstack http: a 401 again after re-authenticating is a final RSR_CLOUD_REJECTED', async (t) => {
  const { stub, driver } = await setup(t);
  stub.intercept(isServer('vm-1'), { status: 401, body: { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } } }, 2);
  const error = (await t.throwsAsync(driver.getInstance('vm-1'))) as ResurrectError;
  t.like(error, { code: 'RSR_CLOUD_REJECTED', retryable: false, message: 'The request you have made requires authentication.' });
  t.is(error.details.httpStatus, 401);
  t.is(stub.authCount(), 2);
  t.is(stub.requests.filter(isServer('vm-1')).length, 2);
});
