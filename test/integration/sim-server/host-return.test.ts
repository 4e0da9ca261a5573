/**
 * A fenced host coming back, through the served Nova: both force-down routes refuse `forced_down: false` with
 * Nova's 400 while evacuations from the host are `done`, `os-migrations?source_compute=…&migration_type=evacuation`
 * shows them go `completed` when its nova-compute starts, and the OpenStack driver reads all of that as the port
 * says (RSR_CLOUD_CONFLICT with httpStatus 400 and Nova's message; listEvacuations).
 */
import test from 'ava';
import pino from 'pino';
import type { ResurrectError } from '../../../src/domain';
import { loadCloudConfig } from '../../../src/drivers/cloud/openstack/clouds';
import { OpenStackCloudDriver } from '../../../src/drivers/cloud/openstack/openstack-cloud-driver';
import { serve, until, VM1, VM2, type Served } from './harness';

const REFUSAL = 'Unable to force up host compute-1 as `done` evacuation migration records remain associated with the host. '
  + 'Ensure the compute service has been restarted, allowing these records to move to `completed` before retrying this request.';

const legacyForce = (s: Served, forced: boolean) =>
  s.nova('PUT', '/os-services/force-down', { mv: '2.11', body: { host: 'compute-1', binary: 'nova-compute', forced_down: forced } });
const serviceId = async (s: Served) => (await s.nova('GET', '/os-services?host=compute-1', { mv: '2.53' })).body.services[0].id as string;
const evacuationsFrom = async (s: Served, host: string) =>
  (await s.nova('GET', `/os-migrations?source_compute=${host}&migration_type=evacuation`, { mv: '2.59' })).body.migrations as { instance_uuid: string; status: string }[];

/** compute-1 loses power, is forced down, and two of its instances are evacuated (both `done`). */
async function fencedAndEvacuated(s: Served): Promise<void> {
  s.world.failHost('compute-1', 'power');
  await legacyForce(s, true);
  for (const id of [VM1, VM2]) await s.nova('POST', `/servers/${id}/action`, { mv: '2.68', body: { evacuate: {} } });
  await until(async () => (await evacuationsFrom(s, 'compute-1')).filter((m) => m.status === 'done').length === 2);
}

test('served nova: the legacy force-down route refuses to force up with Nova\'s 400 until the host\'s nova-compute has completed its evacuations', async (t) => {
  const s = await serve(undefined, { world: { latency: { completeMs: { hostBoot: 200_000 } }, timeScale: 0.001 } });
  t.teardown(() => s.close());
  await fencedAndEvacuated(s);
  t.deepEqual(await evacuationsFrom(s, 'compute-2'), [], 'filtered by source');

  const refused = await legacyForce(s, false);
  t.is(refused.status, 400);
  t.deepEqual(refused.body, { badRequest: { code: 400, message: REFUSAL } });
  const on253 = await s.nova('PUT', `/os-services/${await serviceId(s)}`, { mv: '2.53', body: { forced_down: false } });
  t.deepEqual(on253.body, { badRequest: { code: 400, message: REFUSAL } }, 'the 2.53 route too');
  t.true(s.world.hostState('compute-1').service.forcedDown, 'nothing saved');

  await s.world.powerDevice('compute-1').on();
  t.deepEqual((await evacuationsFrom(s, 'compute-1')).map((m) => m.status), ['done', 'done'], 'still booting');
  await until(async () => (await evacuationsFrom(s, 'compute-1')).every((m) => m.status === 'completed'));
  t.true(s.world.hostState('compute-1').service.forcedDown, 'cleaned up while still forced down');
  const lifted = await legacyForce(s, false);
  t.is(lifted.status, 200);
  t.deepEqual(lifted.body, { service: { host: 'compute-1', binary: 'nova-compute', forced_down: false } });
});

for (const microversion of ['2.95', '2.52']) {
  test(`openstack (${microversion}) → served sim: listEvacuations, and the refused force-up is a retryable RSR_CLOUD_CONFLICT with httpStatus 400`, async (t) => {
    const s = await serve(undefined, { world: { latency: { completeMs: { hostBoot: 200_000 } }, timeScale: 0.001 } });
    t.teardown(() => s.close());
    const driver = new OpenStackCloudDriver(loadCloudConfig({
      env: {
        OS_AUTH_URL: s.server.authUrl, OS_USERNAME: 'admin', OS_PASSWORD: 'secret', OS_PROJECT_NAME: 'admin',
        OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_NAME: 'Default', OS_REGION_NAME: 'RegionOne',
      },
    }), { retryBaseMs: 10, timeoutMs: 10_000, microversion, log: pino({ level: 'silent' }) });
    await fencedAndEvacuated(s);
    const reads = s.world.count('listEvacuations', 'compute-1');
    const before = await driver.listEvacuations('compute-1');
    t.deepEqual(before.map((m) => [m.instance as string, m.type, m.source as string, m.status]).sort(), [[VM1, 'evacuation', 'compute-1', 'done'], [VM2, 'evacuation', 'compute-1', 'done']]);
    t.is(s.world.count('listEvacuations', 'compute-1'), reads + 1, 'the served Nova answered from the narrow call');
    await t.throwsAsync(driver.listEvacuations('compute-9'), { code: 'RSR_CLOUD_NOT_FOUND' });

    const error = (await t.throwsAsync(driver.setServiceForcedDown('compute-1', false))) as ResurrectError;
    t.like(error, { code: 'RSR_CLOUD_CONFLICT', retryable: true, message: REFUSAL });
    t.is(error.details.httpStatus, 400);

    await s.world.powerDevice('compute-1').on();
    await until(async () => (await driver.listEvacuations('compute-1')).every((m) => m.status === 'completed'));
    t.false((await driver.setServiceForcedDown('compute-1', false)).forcedDown);
  });
}
