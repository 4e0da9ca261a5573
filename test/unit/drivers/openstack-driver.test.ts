import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import YAML from 'yaml';
import type { ResurrectError } from '../../../src/domain';
import { loadCloudConfig } from '../../../src/drivers/cloud/openstack/clouds';
import { EXISTED_LATELY_MS, IMAGE_TTL_MS, OpenStackCloudDriver, openstackCloudDriverFactory, type OpenStackDriverSettings } from '../../../src/drivers/cloud/openstack/openstack-cloud-driver';
import { ManualClock } from '../../helpers/manual-clock';
import { systemClock } from '../../../src/domain';
import { httpDate } from '../../../src/drivers/cloud/openstack/http';
import { livenessWait } from '../../../src/steps/verify-fenced';
import { OpenStackStub, STUB_PASSWORD, stubCloud, stubServer, type Recorded, type StubOptions } from '../../helpers/openstack-stub';
import pino from 'pino';

export const stubEnv = (stub: OpenStackStub): NodeJS.ProcessEnv => ({
  OS_AUTH_URL: stub.authUrl,
  OS_USERNAME: 'admin',
  OS_PASSWORD: STUB_PASSWORD,
  OS_PROJECT_NAME: 'admin',
  OS_USER_DOMAIN_NAME: 'Default',
  OS_PROJECT_DOMAIN_NAME: 'Default',
  OS_REGION_NAME: 'RegionOne',
});

async function setup(t: ExecutionContext, stubOptions: StubOptions = {}, settings: OpenStackDriverSettings = {}) {
  const stub = await new OpenStackStub(stubOptions).start();
  t.teardown(() => stub.close());
  const driver = new OpenStackCloudDriver(loadCloudConfig({ env: stubEnv(stub) }), { retryBaseMs: 1, ...settings });
  return { stub, driver };
}

const header = (r: Recorded | undefined, name: string) => r?.headers[name];
const nonVersion = (stub: OpenStackStub) => stub.calls('compute').filter((r) => !/^\/compute\/v2\.1\/?$/.test(r.path) && r.path !== '/compute/');

// ---- microversions -----------------------------------------------------------------------------------

test('openstack driver: negotiates min(server max, 2.95) once and sends it on every compute request', async (t) => {
  const { stub, driver } = await setup(t, { maxVersion: '2.100' });
  t.is(await driver.microversion(), '2.95');
  await driver.getInstance('vm-1');
  await driver.getService('compute-a');
  t.is(stub.calls('compute', 'GET').filter((r) => r.path === '/compute/v2.1').length, 1, 'the version document is read once');
  for (const r of nonVersion(stub)) {
    t.is(header(r, 'openstack-api-version'), 'compute 2.95', r.url);
    t.is(header(r, 'x-openstack-nova-api-version'), '2.95', r.url);
    t.is(typeof header(r, 'x-auth-token'), 'string');
  }
});

test('openstack driver: an older Nova is spoken at its maximum; a configured cap wins when lower', async (t) => {
  t.is(await (await setup(t, { maxVersion: '2.60' })).driver.microversion(), '2.60');
  t.is(await (await setup(t, { maxVersion: '2.100' }, { microversion: '2.52' })).driver.microversion(), '2.52');
});

test('openstack driver: a cap below the server minimum is a configuration error', async (t) => {
  const { driver } = await setup(t, { minVersion: '2.60', maxVersion: '2.95' }, { microversion: '2.40' });
  await t.throwsAsync(driver.microversion(), { code: 'RSR_CONFIG_INVALID', message: /2\.60–2\.95.*2\.40/ });
});

test('openstack driver: a compute endpoint ending in a project id finds the version document under /v2.1', async (t) => {
  const stub = await new OpenStackStub({ maxVersion: '2.79' }).start();
  t.teardown(() => stub.close());
  const cloud = loadCloudConfig({ env: stubEnv(stub) });
  const driver = new OpenStackCloudDriver({ ...cloud, endpointOverrides: { compute: `${stub.computeUrl}/p1` } });
  t.is(await driver.microversion(), '2.79');
  t.deepEqual(stub.calls('compute', 'GET').map((r) => r.path), ['/compute/v2.1/p1', '/compute/v2.1']);
});

test('openstack driver: no version document anywhere is a configuration error naming the paths tried', async (t) => {
  const stub = await new OpenStackStub().start();
  t.teardown(() => stub.close());
  const driver = new OpenStackCloudDriver({ ...loadCloudConfig({ env: stubEnv(stub) }), endpointOverrides: { compute: `${stub.base}/nothing/here` } });
  await t.throwsAsync(driver.getInstance('vm-1'), { code: 'RSR_CONFIG_INVALID', message: /\/nothing\/here/ });
});

// ---- hosts and services ------------------------------------------------------------------------------

test('openstack driver: listHosts joins services, aggregates and hypervisor stats (read at 2.87)', async (t) => {
  const { stub, driver } = await setup(t);
  const hosts = await driver.listHosts();
  t.deepEqual(hosts, [
    { name: 'compute-a', zone: 'az-1', aggregates: ['agg-ssd'], tags: ['ssd'], vcpus: 40, ramMb: 81920, usedVcpus: 4, usedRamMb: 8192, reserved: false },
    { name: 'compute-b', zone: 'az-2', aggregates: ['agg-ssd', 'spares'], tags: ['evacuable', 'resurrect:reserved', 'ssd'], vcpus: 16, ramMb: 32768, usedVcpus: 0, usedRamMb: 0, reserved: true },
  ]);
  t.is(header(stub.calls('compute', 'GET', '/os-hypervisors/detail')[0], 'openstack-api-version'), 'compute 2.87');
  t.is(header(stub.calls('compute', 'GET', '/os-aggregates')[0], 'openstack-api-version'), 'compute 2.95');
});

test('openstack driver: listHosts without os-aggregates still lists hosts', async (t) => {
  const { stub, driver } = await setup(t);
  stub.intercept((r) => r.path.endsWith('/os-aggregates'), { status: 404, body: { itemNotFound: { code: 404, message: 'The resource could not be found.' } } });
  const hosts = await driver.listHosts();
  t.deepEqual(hosts.map((h) => [h.name, h.aggregates, h.reserved]), [['compute-a', [], false], ['compute-b', [], false]]);
});

test('openstack driver: getService maps the service, Nova times read as UTC, observedAt from the answer\'s Date', async (t) => {
  const { stub, driver } = await setup(t);
  stub.date = 'Sun, 01 Mar 2026 10:00:14 GMT';
  t.deepEqual(await driver.getService('compute-b'), {
    host: 'compute-b', state: 'down', status: 'disabled', forcedDown: true, updatedAt: '2026-03-01T09:00:00.000Z', disabledReason: 'fenced', observedAt: '2026-03-01T10:00:14.000Z',
  });
  t.deepEqual(await driver.getService('compute-a'), {
    host: 'compute-a', state: 'up', status: 'enabled', forcedDown: false, updatedAt: '2026-03-01T10:00:00.000Z', observedAt: '2026-03-01T10:00:14.000Z',
  });
  const lookup = stub.calls('compute', 'GET', '/os-services')[0]!;
  t.is(lookup.query.get('binary'), 'nova-compute');
  t.is(lookup.query.get('host'), 'compute-b');
  await t.throwsAsync(driver.getService('compute-nope'), { code: 'RSR_CLOUD_NOT_FOUND', message: 'Compute host compute-nope could not be found.' });
});

test('openstack driver: getService without a readable Date has no observedAt, and the liveness check then takes the fixed wait', async (t) => {
  const { stub, driver } = await setup(t);
  // Node's own Date (the stub's wall clock) is read as it is.
  const before = Date.now();
  const observed = Date.parse((await driver.getService('compute-a')).observedAt ?? '');
  t.true(observed >= Math.floor(before / 1000) * 1000 && observed <= Date.now(), 'Node\'s default Date is read');

  stub.date = null;
  const none = await driver.getService('compute-a');
  t.false('observedAt' in none, 'no Date header: no observedAt');
  t.like(livenessWait(none, 12), { basis: 'fixed', waitMs: 12_000 });
  for (const garbled of ['yesterday', '2026-03-01T10:00:14Z', 'Sun, 01 Mar 2026 10:00:14', 'Mon, 01 Mar 2026 10:00:14 GMT', 'Sun, 31 Feb 2026 10:00:14 GMT', 'Sunday, 01-Mar-26 10:00:14 GMT']) {
    stub.date = garbled;
    const reading = await driver.getService('compute-a');
    t.is(reading.observedAt, undefined, garbled);
    t.is(livenessWait(reading, 12).basis, 'fixed', garbled);
  }
  stub.date = 'Sun, 01 Mar 2026 10:00:14 GMT';
  const dated = await driver.getService('compute-a');
  t.like(livenessWait(dated, 12), { basis: 'age', ageMs: 14_000, waitMs: 0 });
});

test('httpDate: IMF-fixdate only, to the second, weekday checked', (t) => {
  t.is(httpDate('Thu, 01 Jan 2026 00:00:07 GMT') as string | undefined, '2026-01-01T00:00:07.000Z');
  t.is(httpDate(' Thu, 01 Jan 2026 00:00:07 GMT ') as string | undefined, '2026-01-01T00:00:07.000Z');
  for (const bad of [undefined, null, '', 'Fri, 01 Jan 2026 00:00:07 GMT', 'Thu, 1 Jan 2026 00:00:07 GMT', 'Thu, 01 Jan 2026 24:00:07 GMT', 'Thu Jan  1 00:00:07 2026', 'Thu, 01 Jan 2026 00:00:07 +0000']) {
    t.is(httpDate(bad), undefined, String(bad));
  }
});

test('openstack driver: at ≥ 2.53 services are updated by UUID with the 2.53 bodies', async (t) => {
  const { stub, driver } = await setup(t);
  t.like(await driver.setServiceForcedDown('compute-a', true), { host: 'compute-a', forcedDown: true, state: 'down' });
  t.like(await driver.setServiceEnabled('compute-a', false, 'resurrect: fenced'), { status: 'disabled', disabledReason: 'resurrect: fenced' });
  const enabled = await driver.setServiceEnabled('compute-a', true, 'ignored when enabling');
  t.is(enabled.status, 'enabled');
  t.is(enabled.disabledReason, undefined);
  const puts = stub.calls('compute', 'PUT');
  t.deepEqual(puts.map((r) => [r.path, r.body]), [
    ['/compute/v2.1/os-services/00000000-0000-4000-8000-000000000101', { forced_down: true }],
    ['/compute/v2.1/os-services/00000000-0000-4000-8000-000000000101', { status: 'disabled', disabled_reason: 'resurrect: fenced' }],
    ['/compute/v2.1/os-services/00000000-0000-4000-8000-000000000101', { status: 'enabled' }],
  ]);
  await t.throwsAsync(driver.setServiceForcedDown('compute-nope', true), { code: 'RSR_CLOUD_NOT_FOUND' });
  t.is(stub.calls('compute', 'PUT').length, 3, 'an unknown host is not sent a PUT');
});

test('openstack driver: below 2.53 the legacy os-services routes are used, then the service is read', async (t) => {
  const { stub, driver } = await setup(t, {}, { microversion: '2.52' });
  t.like(await driver.setServiceForcedDown('compute-a', true), { forcedDown: true, state: 'down' });
  t.like(await driver.setServiceEnabled('compute-a', false, 'why'), { status: 'disabled', disabledReason: 'why' });
  t.like(await driver.setServiceEnabled('compute-a', false), { status: 'disabled' });
  t.like(await driver.setServiceEnabled('compute-a', true), { status: 'enabled' });
  t.deepEqual(stub.calls('compute', 'PUT').map((r) => [r.path.replace('/compute/v2.1', ''), r.body]), [
    ['/os-services/force-down', { binary: 'nova-compute', host: 'compute-a', forced_down: true }],
    ['/os-services/disable-log-reason', { binary: 'nova-compute', host: 'compute-a', disabled_reason: 'why' }],
    ['/os-services/disable', { binary: 'nova-compute', host: 'compute-a' }],
    ['/os-services/enable', { binary: 'nova-compute', host: 'compute-a' }],
  ]);
});

test('openstack driver: forced_down is refused below 2.11', async (t) => {
  const { stub, driver } = await setup(t, { maxVersion: '2.10' });
  await t.throwsAsync(driver.setServiceForcedDown('compute-a', true), { code: 'RSR_CLOUD_REJECTED', message: /2\.11/ });
  t.is(stub.calls('compute', 'PUT').length, 0);
});

// ---- instances ---------------------------------------------------------------------------------------

test('openstack driver: listInstances pages through servers/detail by marker, on the catalog endpoint', async (t) => {
  const { stub, driver } = await setup(t, {}, { pageSize: 2 });
  const listed = await driver.listInstances('compute-a');
  t.deepEqual(listed.map((i) => i.id), ['vm-1', 'vm-2', 'vm-3']);
  const pages = stub.calls('compute', 'GET', '/servers/detail');
  t.is(pages.length, 2);
  t.deepEqual(pages.map((r) => [r.query.get('all_tenants'), r.query.get('host'), r.query.get('limit'), r.query.get('marker')]), [
    ['1', 'compute-a', '2', null],
    ['1', 'compute-a', '2', 'vm-2'],
  ]);
});

test('openstack driver: a full last page ends on the empty page after it', async (t) => {
  const { stub, driver } = await setup(t, {}, { pageSize: 3 });
  t.is((await driver.listInstances('compute-a')).length, 3);
  t.deepEqual(stub.calls('compute', 'GET', '/servers/detail').map((r) => r.query.get('marker')), [null, 'vm-3']);
});

test('openstack driver: listInstances of an unknown host is RSR_CLOUD_NOT_FOUND, not an empty list', async (t) => {
  const { driver } = await setup(t);
  const error = await t.throwsAsync(driver.listInstances('compute-nope'), { code: 'RSR_CLOUD_NOT_FOUND' });
  t.false((error as unknown as ResurrectError).retryable);
});

test('openstack driver: servers map to instances (status, task and power state, flavor, image, metadata, times)', async (t) => {
  const { stub, driver } = await setup(t);
  stub.servers.push(
    stubServer('vm-4', 'delta', 'compute-a', { status: 'SUSPENDED', power_state: 7, task_state: 'resuming', locked: true, updated: '2026-03-02T08:00:00Z' }),
    stubServer('vm-5', 'echo', 'compute-a', { status: 'PAUSED', power_state: 3 }),
  );
  t.deepEqual(await driver.getInstance('vm-1'), {
    id: 'vm-1', name: 'alpha', host: 'compute-a', project: 'p1', status: 'ACTIVE', taskState: null, powerState: 'RUNNING',
    flavor: { name: 'medium', vcpus: 2, ramMb: 4096, extraSpecs: { evacuable: 'true' } },
    image: 'img-1', metadata: { HA_Enabled: 'True', 'resurrect:shared_storage': 'true' }, sharedStorage: true, updatedAt: '2026-03-01T10:00:00.000Z',
  });
  t.like(await driver.getInstance('vm-2'), { status: 'SHUTOFF', powerState: 'SHUTDOWN', sharedStorage: false });
  t.like(await driver.getInstance('vm-3'), { status: 'ERROR', powerState: 'CRASHED', image: '', sharedStorage: true });
  t.like(await driver.getInstance('vm-4'), { status: 'UNKNOWN', powerState: 'NOSTATE', taskState: 'resuming', locked: true, updatedAt: '2026-03-02T08:00:00.000Z' });
  t.like(await driver.getInstance('vm-5'), { status: 'PAUSED', powerState: 'PAUSED' });
  const one = await driver.getInstance('vm-2');
  t.deepEqual((await driver.listInstances('compute-a')).find((i) => i.id === 'vm-2'), one);
  await t.throwsAsync(driver.getInstance('vm-nope'), { code: 'RSR_CLOUD_NOT_FOUND', message: 'Instance vm-nope could not be found.' });
});

test('openstack driver: a server without OS-EXT-SRV-ATTR:host (credentials without admin) is refused, not guessed', async (t) => {
  const { stub, driver } = await setup(t);
  stub.intercept((r) => r.path === '/compute/v2.1/servers/vm-1', { body: { server: { id: 'vm-1', status: 'ACTIVE', name: 'alpha' } } });
  await t.throwsAsync(driver.getInstance('vm-1'), { code: 'RSR_CLOUD_REJECTED', message: /admin role/ });
});

test('openstack driver: shared storage: metadata, then flavor extra spec, then boot-from-volume, then the default', async (t) => {
  const { stub, driver } = await setup(t);
  const spec = { evacuable: 'true', 'resurrect:shared_storage': 'true' };
  stub.servers.push(
    stubServer('by-flavor', 'f', 'compute-a', { flavor: { id: 'f-x', original_name: 'x', vcpus: 1, ram: 512, extra_specs: spec } }),
    stubServer('meta-says-no', 'm', 'compute-a', { metadata: { 'resurrect:shared_storage': 'False' }, flavor: { id: 'f-x', original_name: 'x', vcpus: 1, ram: 512, extra_specs: spec } }),
  );
  t.true((await driver.getInstance('by-flavor')).sharedStorage);
  t.false((await driver.getInstance('meta-says-no')).sharedStorage);
  t.false((await driver.getInstance('vm-2')).sharedStorage, 'image-backed, nothing said: the default (false)');
  const lenient = new OpenStackCloudDriver(driver.cloud, { sharedStorageDefault: true, sharedStorageKey: 'storage:shared' });
  t.true((await lenient.getInstance('vm-2')).sharedStorage);
  t.true((await lenient.getInstance('vm-1')).sharedStorage === true, 'the BFV/default rule still applies with another key');
});

test('openstack driver: below 2.47 the flavor is fetched by id, with its extra specs, once', async (t) => {
  const { stub, driver } = await setup(t, {}, { microversion: '2.46' });
  const listed = await driver.listInstances('compute-a');
  for (const i of listed) t.deepEqual(i.flavor, { name: 'medium', vcpus: 2, ramMb: 4096, extraSpecs: { evacuable: 'true' } });
  t.deepEqual(stub.calls('compute', 'GET', '/flavors').map((r) => r.path), ['/compute/v2.1/flavors/f-medium', '/compute/v2.1/flavors/f-medium/os-extra_specs']);
});

// ---- actions -----------------------------------------------------------------------------------------

test('openstack driver: evacuate sends {"evacuate": {host?}} at ≥ 2.14 (no force) and returns the request id', async (t) => {
  const { stub, driver } = await setup(t, {}, { microversion: '2.30' });
  const accepted = await driver.evacuate('vm-1');
  await driver.evacuate('vm-2', 'compute-b');
  t.deepEqual(accepted, { requestId: 'req-action-vm-1-evacuate' });
  t.deepEqual(stub.calls('compute', 'POST').map((r) => [r.path, r.body]), [
    ['/compute/v2.1/servers/vm-1/action', { evacuate: {} }],
    ['/compute/v2.1/servers/vm-2/action', { evacuate: { host: 'compute-b' } }],
  ]);
});

test('openstack driver: below 2.14 evacuate carries onSharedStorage from the shared-storage rule', async (t) => {
  const { stub, driver } = await setup(t, {}, { microversion: '2.13' });
  await driver.evacuate('vm-1');
  await driver.evacuate('vm-2', 'compute-b');
  t.deepEqual(stub.calls('compute', 'POST').map((r) => r.body), [
    { evacuate: { onSharedStorage: true } },
    { evacuate: { host: 'compute-b', onSharedStorage: false } },
  ]);
});

test('openstack driver: live migration, start, stop, reboot and resetState bodies', async (t) => {
  const { stub, driver } = await setup(t);
  t.deepEqual(await driver.liveMigrate('vm-1'), { requestId: 'req-action-vm-1-os-migrateLive' });
  await driver.liveMigrate('vm-1', 'compute-b');
  await driver.startInstance('vm-2');
  await driver.stopInstance('vm-1');
  await driver.rebootInstance('vm-1', 'HARD');
  await driver.rebootInstance('vm-1', 'SOFT');
  t.deepEqual(await driver.resetState('vm-3', 'error'), { requestId: 'req-action-vm-3-os-resetState' });
  await driver.resetState('vm-3', 'active');
  t.deepEqual(stub.calls('compute', 'POST').map((r) => r.body), [
    { 'os-migrateLive': { host: null, block_migration: 'auto' } },
    { 'os-migrateLive': { host: 'compute-b', block_migration: 'auto' } },
    { 'os-start': null },
    { 'os-stop': null },
    { reboot: { type: 'HARD' } },
    { reboot: { type: 'SOFT' } },
    { 'os-resetState': { state: 'error' } },
    { 'os-resetState': { state: 'active' } },
  ]);
  await t.throwsAsync(driver.resetState('vm-3', 'deleted' as 'error'), { code: 'RSR_INPUT_INVALID' });
});

test('openstack driver: below 2.25 live migration asks for block migration unless the disk is shared', async (t) => {
  const { stub, driver } = await setup(t, {}, { microversion: '2.24' });
  await driver.liveMigrate('vm-1');
  await driver.liveMigrate('vm-2', 'compute-b');
  t.deepEqual(stub.calls('compute', 'POST').map((r) => r.body), [
    { 'os-migrateLive': { host: null, block_migration: false, disk_over_commit: false } },
    { 'os-migrateLive': { host: 'compute-b', block_migration: true, disk_over_commit: false } },
  ]);
});

test('openstack driver: an action without a request id in the answer reports the one we sent', async (t) => {
  const { stub, driver } = await setup(t);
  stub.intercept((r) => r.method === 'POST' && r.path.endsWith('/action'), { status: 202, headers: { 'x-openstack-request-id': '' } });
  const { requestId } = await driver.startInstance('vm-2');
  t.regex(requestId, /^req-[0-9a-f-]{36}$/);
  t.is(stub.calls('compute', 'POST')[0]?.headers['x-openstack-request-id'], requestId);
});

// ---- migrations --------------------------------------------------------------------------------------

function addMigrations(stub: OpenStackStub) {
  const m = (id: number, type: string, status: string, at: string, dest: string | null = 'compute-b') => ({
    id, uuid: `00000000-0000-4000-9000-${String(id).padStart(12, '0')}`, instance_uuid: 'vm-1', migration_type: type, source_compute: 'compute-a', dest_compute: dest, status, created_at: at,
  });
  stub.migrations.push(
    m(1, 'evacuation', 'error', '2026-03-01T10:00:00.000000'),
    m(2, 'resize', 'finished', '2026-03-01T10:05:00.000000'),
    m(3, 'live-migration', 'queued', '2026-03-01T10:10:00.000000', null),
    m(4, 'evacuation', 'done', '2026-03-01T10:20:00.000000'),
    m(5, 'live-migration', 'cancelled', '2026-03-01T10:20:00.000000'),
  );
}

test('openstack driver: listMigrations keeps evacuations and live migrations, newest first, statuses mapped', async (t) => {
  const { stub, driver } = await setup(t, {}, { pageSize: 2 });
  addMigrations(stub);
  const migrations = await driver.listMigrations('vm-1');
  t.deepEqual(migrations.map((m) => [m.id.slice(-1), m.type, m.status, m.dest]), [
    ['5', 'live-migration', 'failed', 'compute-b'],
    ['4', 'evacuation', 'done', 'compute-b'],
    ['3', 'live-migration', 'accepted', null],
    ['1', 'evacuation', 'error', 'compute-b'],
  ]);
  t.like(migrations[1], { instance: 'vm-1', source: 'compute-a', createdAt: '2026-03-01T10:20:00.000Z' });
  const pages = stub.calls('compute', 'GET', '/os-migrations');
  t.is(pages.length, 3, '5 records, 2 a page');
  t.deepEqual(pages.map((r) => r.query.get('instance_uuid')), ['vm-1', 'vm-1', 'vm-1']);
});

test('openstack driver: below 2.23 migrations are typed by querying each type', async (t) => {
  const { stub, driver } = await setup(t, {}, { microversion: '2.22' });
  addMigrations(stub);
  const migrations = await driver.listMigrations('vm-1');
  t.deepEqual(migrations.map((m) => [m.type, m.status]), [['live-migration', 'failed'], ['evacuation', 'done'], ['live-migration', 'accepted'], ['evacuation', 'error']]);
  t.deepEqual(migrations.map((m) => m.id), ['5', '4', '3', '1'], 'integer ids below 2.59');
  t.deepEqual(stub.calls('compute', 'GET', '/os-migrations').map((r) => r.query.get('migration_type')).sort(), ['evacuation', 'live-migration']);
});

test('openstack driver: listMigrations of an unknown instance is RSR_CLOUD_NOT_FOUND; of a known one without any, []', async (t) => {
  const { driver } = await setup(t);
  t.deepEqual(await driver.listMigrations('vm-2'), []);
  await t.throwsAsync(driver.listMigrations('vm-nope'), { code: 'RSR_CLOUD_NOT_FOUND' });
});

test('openstack driver: an instance read a moment ago (or being read) is not read again to tell an empty migration list from an unknown instance', async (t) => {
  const clock = new ManualClock();
  const { stub, driver } = await setup(t, {}, { clock });
  const serverReads = () => stub.calls('compute', 'GET', '/servers/vm-2').length;
  // As a step reads an instance and its records at once.
  const [instance, migrations] = await Promise.all([driver.getInstance('vm-2'), driver.listMigrations('vm-2')]);
  t.is(String(instance.id), 'vm-2');
  t.deepEqual(migrations, []);
  t.is(serverReads(), 1);
  await clock.advance(EXISTED_LATELY_MS);
  t.deepEqual(await driver.listMigrations('vm-2'), []);
  t.is(serverReads(), 1);
  // Older than that: asked again, so that one deleted since is NOT_FOUND.
  await clock.advance(1);
  t.deepEqual(await driver.listMigrations('vm-2'), []);
  t.is(serverReads(), 2);
  await t.throwsAsync(Promise.all([driver.getInstance('vm-nope'), driver.listMigrations('vm-nope')]), { code: 'RSR_CLOUD_NOT_FOUND' });
  await t.throwsAsync(driver.listMigrations('vm-nope'), { code: 'RSR_CLOUD_NOT_FOUND' });
});

test('openstack driver: listEvacuations asks os-migrations by source host and type, pages, keeps only evacuations from that host', async (t) => {
  const { stub, driver } = await setup(t, {}, { pageSize: 1 });
  addMigrations(stub);
  stub.migrations.push({
    id: 6, uuid: '00000000-0000-4000-9000-000000000006', instance_uuid: 'vm-9', migration_type: 'evacuation', source_compute: 'compute-b', dest_compute: 'compute-a', status: 'done', created_at: '2026-03-01T11:00:00.000000',
  });
  const evacuations = await driver.listEvacuations('compute-a');
  t.deepEqual(evacuations.map((m) => [m.id.slice(-1), m.type, m.source, m.status]), [['4', 'evacuation', 'compute-a', 'done'], ['1', 'evacuation', 'compute-a', 'error']]);
  const pages = stub.calls('compute', 'GET', '/os-migrations');
  t.true(pages.length >= 2, 'paged by marker at >= 2.59');
  for (const r of pages) {
    t.is(r.query.get('source_compute'), 'compute-a');
    t.is(r.query.get('migration_type'), 'evacuation');
    t.is(r.query.get('instance_uuid'), null);
  }
  t.deepEqual((await driver.listEvacuations('compute-b')).map((m) => m.instance as string), ['vm-9']);
});

test('openstack driver: listEvacuations below 2.23 types the records by the query; an unknown host is RSR_CLOUD_NOT_FOUND', async (t) => {
  const { stub, driver } = await setup(t, {}, { microversion: '2.22' });
  addMigrations(stub);
  t.deepEqual((await driver.listEvacuations('compute-a')).map((m) => [m.type, m.status]), [['evacuation', 'done'], ['evacuation', 'error']]);
  await t.throwsAsync(driver.listEvacuations('compute-nope'), { code: 'RSR_CLOUD_NOT_FOUND' });
});

// ---- images ------------------------------------------------------------------------------------------

test('openstack driver: imageExists asks Glance v2; only an active image exists', async (t) => {
  const { stub, driver } = await setup(t);
  t.true(await driver.imageExists('img-1'));
  t.false(await driver.imageExists('img-gone'));
  t.false(await driver.imageExists('img-queued'));
  t.false(await driver.imageExists(''));
  t.deepEqual(stub.calls('image').map((r) => r.path), ['/image/v2/images/img-1', '/image/v2/images/img-gone', '/image/v2/images/img-queued']);
});

test('openstack driver: imageExists asks once for callers asking at once, keeps a usable image IMAGE_TTL_MS, and asks again about a missing one', async (t) => {
  const clock = new ManualClock();
  const { stub, driver } = await setup(t, {}, { clock });
  const asked = () => stub.calls('image').length;
  // The VMs of a failed host are checked all at once, mostly against the same image.
  t.deepEqual(await Promise.all(Array.from({ length: 5 }, () => driver.imageExists('img-1'))), [true, true, true, true, true]);
  t.is(asked(), 1);
  await clock.advance(IMAGE_TTL_MS - 1);
  t.true(await driver.imageExists('img-1'));
  t.is(asked(), 1);
  // Deleted meanwhile: seen once the answer has aged out.
  stub.images.delete('img-1');
  await clock.advance(1);
  t.false(await driver.imageExists('img-1'));
  t.is(asked(), 2);
  // A missing image is not remembered: back again, it is usable at once.
  stub.images.set('img-1', 'active');
  t.true(await driver.imageExists('img-1'));
  t.is(asked(), 3);
  // A caller that gives up does not cancel the lookup the others wait for.
  const controller = new AbortController();
  const given = driver.imageExists('img-queued', { signal: controller.signal });
  const kept = driver.imageExists('img-queued');
  controller.abort(new Error('step timed out'));
  await t.throwsAsync(given, { message: 'step timed out' });
  t.false(await kept);
  t.is(asked(), 4);
});

test('openstack driver: without Glance in the catalog, imageExists uses Nova\'s image proxy at 2.35', async (t) => {
  const { stub, driver } = await setup(t, { glance: false });
  t.true(await driver.imageExists('img-1'));
  t.false(await driver.imageExists('img-gone'));
  const proxied = stub.calls('compute', 'GET', '/images/');
  t.is(proxied.length, 2);
  t.is(header(proxied[0], 'openstack-api-version'), 'compute 2.35');
});

// ---- factory -----------------------------------------------------------------------------------------

test('openstack driver factory: kind cloud, name openstack; reads clouds.yaml and checks its options', async (t) => {
  const stub = await new OpenStackStub({ maxVersion: '2.90' }).start();
  t.teardown(() => stub.close());
  const dir = mkdtempSync(join(tmpdir(), 'rsr-os-factory-'));
  const file = join(dir, 'clouds.yaml');
  writeFileSync(file, YAML.stringify(stubCloud(stub)));
  t.like(openstackCloudDriverFactory, { kind: 'cloud', name: 'openstack' });
  const context = { log: pino({ level: 'silent' }), clock: systemClock };
  const driver = await openstackCloudDriverFactory.create({ cloud: 'stub', cloudsYaml: file, microversion: '2.88', timeoutMs: 5000 }, context);
  t.true(driver instanceof OpenStackCloudDriver);
  t.is(await driver.microversion(), '2.88');
  t.is(driver.cloud.source, file);
  const error = t.throws(() => openstackCloudDriverFactory.create({ cloudsYaml: file, timeoutMs: -1, colud: 'x' }, context));
  t.like(error, { code: 'RSR_CONFIG_INVALID' });
  t.deepEqual((error as unknown as { paths: { path: string }[] }).paths.map((p) => p.path).sort(), ['colud', 'timeoutMs']);
  t.throws(() => openstackCloudDriverFactory.create({ cloudsYaml: file, microversion: 'latest' }, context), { code: 'RSR_CONFIG_INVALID' });
});
