import test from 'ava';
import type { CloudDriver } from '../../../src/drivers/cloud/port';
import { SimCloudDriver } from '../../../src/drivers/cloud/sim/sim-cloud-driver';
import type { Notification, Notifier } from '../../../src/drivers/notify/port';
import { definePlugin } from '../../../src/plugins/api';
import { useRedis } from '../../helpers/redis';
import { smallWorld, startEngine } from '../../helpers/engine';

const redis = useRedis(test);

test('a plugin contributes a cloud driver and a notifier; config selects them by name and the engine uses them', async (t) => {
  const world = smallWorld();
  const received: Notification[] = [];
  const cloudCalls: string[] = [];
  const plugin = definePlugin({
    name: 'acme-cloud',
    drivers: [{
      kind: 'cloud',
      name: 'acme',
      // A wrapper that records each call: stands in for an operator's own cloud API client.
      create: (options) => {
        const inner = new SimCloudDriver(world);
        return new Proxy(inner, {
          get: (target, key) => {
            const value = Reflect.get(target, key) as unknown;
            if (typeof value !== 'function') return value;
            return (...args: unknown[]) => { cloudCalls.push(`${String(options.region)}:${String(key)}`); return (value as (...a: unknown[]) => unknown).apply(target, args); };
          },
        }) as CloudDriver;
      },
    }],
    notifiers: [{ kind: 'notifier', name: 'pager', create: (options): Notifier => ({ name: `pager:${String(options.team)}`, notify: async (n) => { received.push(n); } }) }],
  });
  const h = await startEngine(redis, {
    world,
    plugins: [plugin],
    config: {
      cloud: { driver: 'acme', options: { region: 'eu-1' }, sim: { seed: 1, timeScale: 0, inventory: 'demo' } },
      notifiers: [{ type: 'plugin', name: 'pager', options: { team: 'compute' } }],
    },
  });
  t.teardown(() => h.close());
  // Fencing stays on the simulated BMCs; a BMC that will not power off makes the workflow escalate and notify.
  world.failHost('compute-1', 'network');
  world.injectFault({ kind: 'bmc-stuck-on', host: 'compute-1' });
  world.injectFault({ kind: 'bmc-stuck-on', host: 'compute-1', device: 'pdu' });
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'escalated');
  t.true(received.some((n) => n.topic === 'incident.escalated' && n.incidentId === incident.id && /fencing failed/.test(n.summary)));
  // The one read is the mass-failure breaker's, at the report (which zone, how many hosts in it): no action.
  t.deepEqual(cloudCalls, ['eu-1:listHosts'], 'nothing asked of the cloud before a confirmed fence but its host list');

  world.failHost('compute-2', 'power');
  const second = await h.app.engine.report({ kind: 'host-down', host: 'compute-2' });
  t.is((await h.waitClosed(second.incident.id)).outcome, 'recovered');
  t.true(cloudCalls.includes('eu-1:evacuate'), cloudCalls.join(','));
  t.is(world.count('evacuate', 'vm-d', 'accepted'), 1);
});

test('config naming a driver no plugin provides is refused at start with the name and the known ones', async (t) => {
  const error = await t.throwsAsync(startEngine(redis, {
    config: { cloud: { driver: 'nope', options: {}, sim: { seed: 1, timeScale: 0, inventory: 'demo' } } },
  }));
  t.regex(error?.message ?? '', /no cloud driver registered under "nope"/);
});
