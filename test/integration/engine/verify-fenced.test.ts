/**
 * The post-fence liveness check in a running engine on the simulated cloud. The sim's clock (its heartbeat
 * times and the `observedAt` of its answers) is the wall clock shifted at will, so that a host's last
 * heartbeat can be put where a test needs it; the engine sleeps on the wall clock. Assertions are on the wait
 * the step audited, not on wall time.
 */
import test from 'ava';
import { systemClock, type Clock } from '../../../src/domain';
import { startEngine, smallWorld, testConfig } from '../../helpers/engine';
import { useRedis } from '../../helpers/redis';

const redis = useRedis(test);

/** The wall clock plus an offset that `shift` moves. */
function shiftedClock(): { clock: Clock; shift(ms: number): void } {
  let offset = 0;
  return { clock: { now: () => Date.now() + offset, sleep: systemClock.sleep }, shift: (ms) => void (offset += ms) };
}

const params = (livenessWaitSeconds: number) => ({ params: { ...testConfig('unused').params, livenessWaitSeconds } });

async function confirmation(h: Awaited<ReturnType<typeof startEngine>>, recoveryId: string) {
  const rows = await h.app.engine.audit(recoveryId);
  return rows.map((r) => r.record).find((r) => r.message.startsWith('power-off of compute-1 confirmed'));
}

test('liveness: a host silent for longer than the window is confirmed without sleeping the window', async (t) => {
  const sim = shiftedClock();
  const h = await startEngine(redis, { world: smallWorld({ clock: sim.clock }), config: params(30) });
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'power');
  sim.shift(60_000); // a minute of silence on the cloud's clock before the engine hears of it
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered', closed.reason);
  const line = await confirmation(h, incident.recoveryId);
  t.truthy(line);
  const details = line!.details as Record<string, number | string>;
  t.like(details, { basis: 'age', windowSeconds: 30, marginSeconds: 1, waitedSeconds: 0, readings: 2 });
  t.true(Number(details.heartbeatAgeSeconds) >= 60, String(details.heartbeatAgeSeconds));
  t.regex(line!.message, /^power-off of compute-1 confirmed: status off, no heartbeat for 6\d(\.\d+)? s \(window 30 s; it was 6\d(\.\d+)? s old at the first reading, waited 0 s\)$/);
  t.deepEqual(h.world.splitBrains(), []);
});

test('liveness: a host that heartbeated 1 s before the first reading waits window − 1 + margin', async (t) => {
  const sim = shiftedClock();
  const h = await startEngine(redis, { world: smallWorld({ clock: sim.clock }), config: params(3) });
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'power');
  sim.shift(1000);
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered', closed.reason);
  const details = (await confirmation(h, incident.recoveryId))!.details as Record<string, number>;
  t.like(details, { basis: 'age', windowSeconds: 3, marginSeconds: 1, readings: 2 });
  const ageMs = Math.round(details.heartbeatAgeSeconds! * 1000);
  t.true(ageMs >= 1000 && ageMs < 1500, `the heartbeat was ${ageMs} ms old at the first reading`);
  t.is(Math.round(details.waitedSeconds! * 1000), 3000 - ageMs + 1000, 'window − age + margin');
  t.true(details.silentSeconds! >= 3 + 1, `silent ${details.silentSeconds} s at the second reading, on the cloud's clock`);
});

test('liveness: a BMC that lies "off" while the host heartbeats is refused, the numbers in the error', async (t) => {
  const sim = shiftedClock();
  const h = await startEngine(redis, { world: smallWorld({ clock: sim.clock }), config: params(2) });
  t.teardown(() => h.close());
  h.world.injectFault({ kind: 'bmc-lies-off', host: 'compute-1' });
  sim.shift(3_600_000); // whatever the cloud's clock says, a live host's heartbeat is fresh
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1', source: 'flaky-monitor' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'escalated');
  t.regex(closed.reason ?? '', /fencing not confirmed.*still heartbeats/);
  t.is(h.world.count('evacuate'), 0);
  t.true(h.world.hostState('compute-1').running);
  const errors = (await h.app.engine.audit(incident.recoveryId)).map((r) => r.record).filter((r) => r.event?.startsWith('xstate.error'));
  const error = errors[0]?.details?.error as { code?: string; details?: Record<string, number | string> } | undefined;
  t.is(error?.code, 'RSR_FENCE_UNCONFIRMED');
  t.like(error?.details, { basis: 'age', windowSeconds: 2 });
  t.true(Number(error?.details?.heartbeatAgeSeconds) < 1, 'the simulator heartbeats continuously');
  t.true(Number(error?.details?.waitedSeconds) > 2, 'the whole window (and the margin) was waited');
  t.deepEqual(h.world.splitBrains(), []);
});

