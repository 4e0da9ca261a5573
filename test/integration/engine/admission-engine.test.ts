import test from 'ava';
import { DEFAULT_WORKFLOWS } from '../../../src/config/config';
import { gatedNotifier, startEngine } from '../../helpers/engine';
import { useRedis } from '../../helpers/redis';
import { until } from '../../helpers/wait';

const redis = useRedis(test);

test('an operator decision for a parked VM recovery, sent while every slot is taken, is delivered once a slot frees (not lost)', async (t) => {
  // vm-c's notification hangs until the test lets it go: its recovery holds the only slot meanwhile.
  const { plugin: gatedPager, letGo } = gatedNotifier(/vm-c/);
  const h = await startEngine(redis, {
    plugins: [gatedPager],
    config: {
      workflows: { ...DEFAULT_WORKFLOWS, 'instance-down': 'notify-only' },
      notifiers: [{ type: 'plugin', name: 'gated' }],
      limits: { global: 1, perTargetHost: 0, cloudApi: { ratePerSecond: 0, burst: 0 } },
    },
  });
  t.teardown(() => { letGo(); return h.close(); });
  const parked = await h.app.engine.report({ kind: 'instance-down', host: 'compute-1', instance: 'vm-b' });
  await until(async () => (await h.app.engine.recovery(parked.incident.recoveryId)).status === 'waiting');
  const holder = await h.app.engine.report({ kind: 'instance-down', host: 'compute-1', instance: 'vm-c' });
  await until(async () => (await h.app.engine.recovery(holder.incident.recoveryId)).status === 'running');

  await h.app.engine.decide(parked.incident.recoveryId, 'resolve', 'alice', 'rebooted by hand');
  await until(async () => (await h.trail(parked.incident.recoveryId)).some((line) => /^waiting: waiting for a recovery slot/.test(line)));
  t.is((await h.app.engine.incident(parked.incident.id)).status, 'open', 'no slot: the decision waits');

  letGo();
  const closed = await h.waitClosed(parked.incident.id, 10_000);
  t.is(closed.outcome, 'recovered');
  t.regex(closed.reason ?? '', /decided by alice: rebooted by hand/);
  const trail = await h.trail(parked.incident.recoveryId);
  t.true(trail.includes('woken by operator.decision at awaitingDecision'), trail.join('\n'));
});

test('a VM whose instance another recovery holds (an operator wait) gives up its place in line: one slot still serves its siblings', async (t) => {
  const h = await startEngine(redis, {
    config: {
      workflows: { ...DEFAULT_WORKFLOWS, 'instance-down': 'notify-only' },
      limits: { global: 1, perTargetHost: 0, cloudApi: { ratePerSecond: 0, burst: 0 } },
    },
  });
  t.teardown(() => h.close());
  // vm-a (first in line by id) is held by an open instance recovery waiting for an operator.
  const vmIncident = (await h.app.engine.report({ kind: 'instance-down', host: 'compute-1', instance: 'vm-a' })).incident;
  await until(async () => (await h.app.engine.recovery(vmIncident.recoveryId)).status === 'waiting');
  h.world.failHost('compute-1', 'power');
  const hostIncident = (await h.app.engine.report({ kind: 'host-down', host: 'compute-1' })).incident;
  await until(() => h.world.count('evacuate', 'vm-b', 'accepted') === 1 && h.world.count('evacuate', 'vm-c', 'accepted') === 1, 10_000);
  t.is(h.world.count('evacuate', 'vm-a'), 0);
  await h.app.engine.decide(vmIncident.recoveryId, 'resolve', 'dave');
  t.is((await h.waitClosed(hostIncident.id)).outcome, 'recovered');
  t.is(h.world.count('evacuate', 'vm-a', 'accepted'), 1, 'and it gets its slot back once its instance is free');
});
