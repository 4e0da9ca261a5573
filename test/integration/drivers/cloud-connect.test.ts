/**
 * connectCloud, run by `start`, `serve` and `worker` as they come up: the OpenStack driver logs in and agrees
 * on a microversion before the first recovery needs it; a cloud it cannot reach is logged (cause, no secret)
 * and the process goes on.
 */
import test from 'ava';
import pino from 'pino';
import { connectCloud } from '../../../src/drivers/cloud/connect';
import { loadCloudConfig } from '../../../src/drivers/cloud/openstack/clouds';
import { OpenStackCloudDriver } from '../../../src/drivers/cloud/openstack/openstack-cloud-driver';
import { startSimServer } from '../../../src/drivers/cloud/sim/http/server';
import { createWorld } from '../../../src/drivers/cloud/sim/inventory';
import { CLOUD_CONTRACT_INVENTORY } from '../../contracts/cloud-driver';

function capturingLog() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } });
  return { log, lines };
}

async function served(password: string) {
  const world = createWorld(CLOUD_CONTRACT_INVENTORY, { seed: 'connect', timeScale: 0 });
  const server = await startSimServer({ world, log: pino({ level: 'silent' }) });
  const cloud = loadCloudConfig({
    env: {
      OS_AUTH_URL: server.authUrl, OS_USERNAME: 'admin', OS_PASSWORD: password, OS_PROJECT_NAME: 'admin',
      OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_NAME: 'Default', OS_REGION_NAME: 'RegionOne',
    },
  });
  const driver = new OpenStackCloudDriver(cloud, { retryBaseMs: 10, timeoutMs: 5_000, retries: 0 });
  return { driver, close: async () => { await server.close(); world.dispose(); } };
}

test('connectCloud logs in and negotiates ahead of the first call, and says what it reached', async (t) => {
  const { driver, close } = await served('secret');
  t.teardown(close);
  const { log, lines } = capturingLog();
  t.true(await connectCloud(driver, log));
  const reached = lines.find((l) => String(l.msg).startsWith('cloud reached'));
  t.truthy(reached, JSON.stringify(lines));
  t.regex(String(reached!.msg), /logged in, compute API microversion 2\.95/);
});

test('connectCloud with a wrong password: a warning with the cause and without the password, and no throw', async (t) => {
  const password = 'not-the-password-7f3a';
  const { driver, close } = await served(password);
  t.teardown(close);
  const { log, lines } = capturingLog();
  t.false(await connectCloud(driver, log));
  const warning = lines.find((l) => String(l.msg).startsWith('cloud not reachable at start'));
  t.truthy(warning, JSON.stringify(lines));
  t.is(warning!.level, 40);
  t.truthy(warning!.code);
  t.regex(String(warning!.msg), /401|authenticat|credential|password/i);
  t.false(JSON.stringify(lines).includes(password));
});

test('connectCloud is a no-op for a driver with nothing to connect (the in-process simulator)', async (t) => {
  const { log, lines } = capturingLog();
  t.true(await connectCloud({} as never, log));
  t.is(lines.length, 0);
});
