/**
 * The served Nova's `Date` header is the world's clock, the clock of the `updated_at` it serves: on a manual
 * clock both are that clock, not the wall clock, so the heartbeat's age read from one answer is true.
 */
import test from 'ava';
import { loadCloudConfig } from '../../../src/drivers/cloud/openstack/clouds';
import { OpenStackCloudDriver } from '../../../src/drivers/cloud/openstack/openstack-cloud-driver';
import { livenessWait } from '../../../src/steps/verify-fenced';
import { ManualClock } from '../../helpers/manual-clock';
import { serve } from './harness';

const START = Date.UTC(2026, 2, 1, 10, 0, 0, 250);

test('served nova: Date and updated_at are one clock (the world\'s), so observedAt − updatedAt is the heartbeat\'s age', async (t) => {
  const clock = new ManualClock(START);
  const s = await serve(undefined, { world: { clock } });
  t.teardown(() => s.close());

  const live = await s.nova('GET', '/os-services?host=compute-1', { mv: '2.53' });
  t.is(live.headers.get('date'), 'Sun, 01 Mar 2026 10:00:00 GMT', 'the world\'s clock, not the wall clock');
  t.is(live.body.services[0].updated_at, '2026-03-01T10:00:00.250000', 'a live host heartbeats continuously: updated_at is now');

  s.world.failHost('compute-1', 'power');
  await clock.advance(42_500);
  const dead = await s.nova('GET', '/os-services?host=compute-1', { mv: '2.53' });
  t.is(dead.headers.get('date'), 'Sun, 01 Mar 2026 10:00:42 GMT');
  t.is(dead.body.services[0].updated_at, '2026-03-01T10:00:00.250000', 'the last heartbeat, when the power went');

  const failed = await s.nova('GET', '/servers/00000000-0000-4000-8000-00000000dead', { mv: '2.53' });
  t.is(failed.status, 404);
  t.is(failed.headers.get('date'), 'Sun, 01 Mar 2026 10:00:42 GMT', 'errors too');
  const keystone = await s.http('GET', s.server.authUrl);
  t.true(Math.abs(Date.parse(keystone.headers.get('date') ?? '') - Date.now()) < 5000, 'Keystone keeps the wall clock, its tokens\' clock');

  // Through the OpenStack driver: observedAt from Date, the age on the cloud's clock.
  const driver = new OpenStackCloudDriver(loadCloudConfig({
    env: {
      OS_AUTH_URL: s.server.authUrl, OS_USERNAME: 'admin', OS_PASSWORD: 'secret', OS_PROJECT_NAME: 'admin',
      OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_NAME: 'Default', OS_REGION_NAME: 'RegionOne',
    },
  }), { retryBaseMs: 10, timeoutMs: 10_000 });
  const reading = await driver.getService('compute-1');
  t.like(reading, { updatedAt: '2026-03-01T10:00:00.250Z', observedAt: '2026-03-01T10:00:42.000Z' });
  t.like(livenessWait(reading, 12), { basis: 'age', ageMs: 41_750, waitMs: 0 });
  const other = await driver.getService('compute-2');
  t.like(other, { updatedAt: '2026-03-01T10:00:42.750Z', observedAt: '2026-03-01T10:00:42.000Z' });
  t.like(livenessWait(other, 12), { basis: 'age', ageMs: -750, waitMs: 13_750 }, 'a live host: Date truncated to the second only lengthens the wait');
});
