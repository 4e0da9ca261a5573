/**
 * The mass-failure breaker end to end on the simulated cloud: it opens at the threshold; nothing is fenced or
 * evacuated while it is open; approval resumes exactly the approved hosts, closing the rest.
 */
import test from 'ava';
import type { Incident } from '../../../src/domain';
import { SimWorld } from '../../../src/drivers/cloud/sim/world';
import { RecordingNotifier, startEngine } from '../../helpers/engine';
import type { EngineHarness } from '../../helpers/engine';
import { useRedis } from '../../helpers/redis';
import { until } from '../../helpers/wait';

const redis = useRedis(test);

const AZ1 = ['h1', 'h2', 'h3', 'h4'];
const vmsOf = (host: string) => [`${host}-vm-1`, `${host}-vm-2`];

/**
 * A zone of five hosts (az-1): four with two VMs each, which will fail, and an empty one; and an empty zone
 * (az-2). Room to evacuate into whether placement keeps VMs in their zone or not.
 */
function world(): SimWorld {
  const w = new SimWorld({ seed: 3, timeScale: 0 });
  for (const name of [...AZ1, 'h5']) w.addHost({ name, zone: 'az-1', vcpus: 16, ramMb: 32_768 });
  for (const name of ['t1', 't2', 't3', 't4']) w.addHost({ name, zone: 'az-2', vcpus: 16, ramMb: 32_768 });
  w.addImage('img-cirros');
  const flavor = { name: 'm1.small', vcpus: 1, ramMb: 2048, extraSpecs: {} };
  for (const host of AZ1) for (const id of vmsOf(host)) w.addInstance({ id, host, flavor, sharedStorage: true, image: 'img-cirros' });
  return w;
}

/** What automation did to a host: power-offs through either device, and evacuations of its VMs. */
function acted(h: EngineHarness, host: string): number {
  return h.world.count('bmc.off', host) + h.world.count('pdu.off', host) + vmsOf(host).reduce((n, id) => n + h.world.count('evacuate', id), 0);
}

async function heldCount(h: EngineHarness): Promise<number> {
  return (await h.app.breaker.status()).scopes.find((s) => s.scope === 'az-1')?.heldRecoveries.length ?? 0;
}

test('the breaker opens at the threshold; nothing is fenced or evacuated while open; approval resumes exactly the approved hosts', async (t) => {
  const notifier = new RecordingNotifier();
  // No worker yet: every event is in before anything could act, so the scenario does not depend on timing.
  const h = await startEngine(redis, { world: world(), worker: false, notifier });
  t.teardown(() => h.close());
  const incidents = new Map<string, Incident>();
  for (const host of ['h1', 'h2', 'h3']) {
    // Cut off from the network but running: what a partition looks like, and why fencing them all would hurt.
    h.world.failHost(host, 'network');
    incidents.set(host, (await h.app.engine.report({ kind: 'host-down', host, source: 'monitor' })).incident);
  }
  const az1 = (await h.app.breaker.status()).scopes.find((s) => s.scope === 'az-1');
  t.true(az1?.open, 'three of five hosts (more than half) open it');
  t.deepEqual(az1?.heldHosts, ['h1', 'h2', 'h3'], 'h1 and h2, reported under the threshold, are held too');
  t.deepEqual(notifier.sent.filter((n) => n.topic === 'breaker.opened').map((n) => n.severity), ['critical']);

  h.app.worker().start(8);
  await until(async () => (await heldCount(h)) === 3);
  // A host failing while the breaker is open is held as well.
  h.world.failHost('h4', 'network');
  incidents.set('h4', (await h.app.engine.report({ kind: 'host-down', host: 'h4', source: 'monitor' })).incident);
  await until(async () => (await heldCount(h)) === 4);
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (const host of AZ1) {
    t.is(acted(h, host), 0, `${host}: nothing fenced or evacuated while the breaker is open`);
    t.false(h.world.hostState(host).service.forcedDown, `${host}: not even forced down`);
    const incident = incidents.get(host)!;
    t.is((await h.app.engine.incident(incident.id)).status, 'open');
    t.is((await h.app.engine.recovery(incident.recoveryId)).status, 'waiting', `${host}: parked, no job left`);
  }
  const heldTrail = await h.trail(incidents.get('h2')!.id);
  t.true(heldTrail.some((m) => /breaker open for zone az-1 .*the recovery of h2 is held/.test(m)), heldTrail.join('\n'));
  t.true(heldTrail.some((m) => /^held: mass-failure breaker open for zone az-1: h2 is held/.test(m)), heldTrail.join('\n'));
  t.false(heldTrail.some((m) => /→ fencing|fencing →/.test(m)), 'the machine never started');

  // Approve a subset: exactly those hosts are fenced and evacuated.
  const approved = await h.app.breaker.approve('az-1', ['h1', 'h3'], 'alice', 'h1 and h3 confirmed dead by the DC');
  t.deepEqual(approved.released, [incidents.get('h1')!.recoveryId, incidents.get('h3')!.recoveryId]);
  for (const host of ['h1', 'h3']) {
    const closed = await h.waitClosed(incidents.get(host)!.id);
    t.is(closed.outcome, 'recovered', `${host}: ${closed.reason ?? ''}`);
    t.true(h.world.count('bmc.off', host) >= 1, `${host} fenced`);
    for (const id of vmsOf(host)) {
      t.is(h.world.count('evacuate', id, 'accepted'), 1, `${id} evacuated once`);
      t.false(AZ1.includes(h.world.instanceState(id).host), `${id} rebuilt on a healthy host`);
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (const host of ['h2', 'h4']) {
    t.is(acted(h, host), 0, `${host} (not approved) still untouched`);
    t.is((await h.app.engine.incident(incidents.get(host)!.id)).status, 'open');
  }
  t.is(await heldCount(h), 2);
  t.true((await h.app.breaker.status()).scopes.find((s) => s.scope === 'az-1')?.open, 'approving hosts leaves the breaker open');

  // Closing releases the rest.
  const closed = await h.app.breaker.close('az-1', 'bob');
  t.deepEqual(closed.released, [incidents.get('h2')!.recoveryId, incidents.get('h4')!.recoveryId].sort());
  for (const host of ['h2', 'h4']) {
    const incident = await h.waitClosed(incidents.get(host)!.id);
    t.is(incident.outcome, 'recovered', `${host}: ${incident.reason ?? ''}`);
    for (const id of vmsOf(host)) t.is(h.world.count('evacuate', id, 'accepted'), 1, `${id} evacuated once`);
  }
  t.deepEqual(h.world.splitBrains(), []);

  const scopeTrail = await h.trail('breaker:az-1');
  t.regex(scopeTrail[0] ?? '', /breaker OPEN for zone az-1: 3 of 5 hosts failed within 120 s/);
  t.true(scopeTrail.some((m) => /h4 failed \(host-down\) while the mass-failure breaker of zone az-1 is open/.test(m)));
  t.true(scopeTrail.some((m) => /alice approved h1, h3 \(h1 and h3 confirmed dead by the DC\); 2 held recoveries released/.test(m)));
  t.true(scopeTrail.some((m) => /closed by bob; 2 held recoveries released/.test(m)));
  const h1Trail = await h.trail(incidents.get('h1')!.id);
  const approval = h1Trail.findIndex((m) => /alice approved h1 at the mass-failure breaker/.test(m));
  const fenced = h1Trail.findIndex((m) => /power-off of h1 confirmed/.test(m));
  t.true(approval >= 0 && fenced > approval, 'fenced only after the approval');
  t.deepEqual(notifier.topics().filter((topic) => topic.startsWith('breaker.')), ['breaker.opened', 'breaker.approved', 'breaker.closed']);
});

test('below the threshold nothing is held: two of five hosts recover at once', async (t) => {
  const h = await startEngine(redis, { world: world() });
  t.teardown(() => h.close());
  const reports = [];
  for (const host of ['h1', 'h2']) {
    h.world.failHost(host, 'power');
    reports.push(await h.app.engine.report({ kind: 'host-down', host }));
  }
  for (const { incident } of reports) t.is((await h.waitClosed(incident.id)).outcome, 'recovered');
  const az1 = (await h.app.breaker.status()).scopes.find((s) => s.scope === 'az-1');
  t.false(az1?.open);
  t.deepEqual(az1?.failedHosts.map((f) => f.host), ['h1', 'h2']);
});

test('with breaker.enabled false nothing is counted or held', async (t) => {
  const h = await startEngine(redis, { world: world(), config: { breaker: { enabled: false, scope: 'zone', windowSeconds: 120, maxHosts: 0, maxShare: 0.5, minScopeHosts: 4 } } });
  t.teardown(() => h.close());
  const reports = [];
  for (const host of ['h1', 'h2', 'h3']) {
    h.world.failHost(host, 'power');
    reports.push(await h.app.engine.report({ kind: 'host-down', host }));
  }
  for (const { incident } of reports) t.is((await h.waitClosed(incident.id)).outcome, 'recovered');
  t.deepEqual((await h.app.breaker.status()).scopes, []);
});
