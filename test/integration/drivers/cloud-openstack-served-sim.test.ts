/**
 * The OpenStack driver against the served simulator (Keystone + Nova + Glance over HTTP), through the same
 * contract suite as the in-process driver. The backdoor goes to the SimWorld object directly.
 *
 * Runs twice: at the driver's default (2.95, the newest the sim serves: evacuated instances end stopped)
 * and capped at 2.52 (legacy os-services routes, integer service ids, unpaged migrations).
 */
import test from 'ava';
import pino from 'pino';
import { loadCloudConfig } from '../../../src/drivers/cloud/openstack/clouds';
import { OpenStackCloudDriver } from '../../../src/drivers/cloud/openstack/openstack-cloud-driver';
import type { SimAction } from '../../../src/drivers/cloud/sim/actions';
import { startSimServer } from '../../../src/drivers/cloud/sim/http/server';
import { createWorld } from '../../../src/drivers/cloud/sim/inventory';
import { CLOUD_CONTRACT_INVENTORY, cloudDriverContract, type CloudHarness } from '../../contracts/cloud-driver';

/**
 * Nova does not expose shared storage and neither does the served sim: a cloud that runs this contract
 * marks its shared-storage instances the way the driver reads it (server metadata, see nova-mapping.ts).
 * Boot-from-volume instances need no mark.
 */
export const SHARED_STORAGE_KEY = 'resurrect:shared_storage';
export const servedInventory = () => ({
  ...CLOUD_CONTRACT_INVENTORY,
  instances: CLOUD_CONTRACT_INVENTORY.instances.map((i) =>
    i.sharedStorage && i.image !== '' ? { ...i, metadata: { ...('metadata' in i ? i.metadata : {}), [SHARED_STORAGE_KEY]: 'true' } } : i,
  ),
});

export async function servedHarness(microversion?: string): Promise<CloudHarness & { driver: OpenStackCloudDriver }> {
  const world = createWorld(servedInventory(), { seed: 'contract', timeScale: 0 });
  const server = await startSimServer({ world, log: pino({ level: 'silent' }) });
  const cloud = loadCloudConfig({
    env: {
      OS_AUTH_URL: server.authUrl,
      OS_USERNAME: 'admin',
      OS_PASSWORD: 'secret',
      OS_PROJECT_NAME: 'admin',
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_REGION_NAME: 'RegionOne',
    },
  });
  const driver = new OpenStackCloudDriver(cloud, { retryBaseMs: 10, timeoutMs: 10_000, ...(microversion ? { microversion } : {}) });
  return {
    driver,
    world: {
      failHost: (host, mode) => world.failHost(host, mode),
      recoverHost: (host) => world.recoverHost(host),
      hostPower: (host) => world.hostState(host).power,
      injectFault: (spec) => world.injectFault(spec),
      count: (action, subject, outcome) => world.count(action as SimAction, subject, outcome),
    },
    evacuationEndsStopped: microversion === undefined || Number(microversion.split('.')[1]) >= 95,
    teardown: async () => {
      await server.close();
      world.dispose();
    },
  };
}

cloudDriverContract(test, 'openstack → served sim (2.95)', () => servedHarness());
cloudDriverContract(test, 'openstack → served sim (2.52)', () => servedHarness('2.52'));

test('openstack → served sim: the driver negotiates 2.95 by default, the cap when given', async (t) => {
  const latest = await servedHarness();
  const legacy = await servedHarness('2.52');
  try {
    t.is(await latest.driver.microversion(), '2.95');
    t.is(await legacy.driver.microversion(), '2.52');
  } finally {
    await latest.teardown();
    await legacy.teardown();
  }
});

test('openstack → served sim: a token the served Keystone expires is replaced once and reused; application credentials work', async (t) => {
  const world = createWorld(servedInventory(), { seed: 'tokens', timeScale: 0 });
  const server = await startSimServer({ world, log: pino({ level: 'silent' }), appCredentials: [{ id: 'ac-resurrect', secret: 'app-secret-1' }] });
  t.teardown(async () => {
    await server.close();
    world.dispose();
  });
  const env = { OS_AUTH_URL: `${server.authUrl}/v3`, OS_AUTH_TYPE: 'v3applicationcredential', OS_APPLICATION_CREDENTIAL_ID: 'ac-resurrect', OS_APPLICATION_CREDENTIAL_SECRET: 'app-secret-1' };
  const driver = new OpenStackCloudDriver(loadCloudConfig({ env }));
  t.is((await driver.getInstance('vm-shared')).host as string, 'compute-a');
  // Expired on the server while the driver still holds it (an hour's token, far from its own refresh time):
  // the next call is refused with 401 and must authenticate again, not fail.
  t.is(server.expireTokens(), 1, 'the driver authenticated once');
  t.is((await driver.getService('compute-a')).state, 'up');
  t.deepEqual((await driver.listInstances('compute-b')).map((i) => i.id as string), ['vm-b1']);
  t.is(server.expireTokens(), 1, 'one new token, reused for the call after the one that renewed it');
  const wrong = new OpenStackCloudDriver(loadCloudConfig({ env: { ...env, OS_APPLICATION_CREDENTIAL_SECRET: 'nope' } }));
  await t.throwsAsync(wrong.getInstance('vm-shared'), { code: 'RSR_CLOUD_REJECTED' });
});
