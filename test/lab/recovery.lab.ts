/**
 * End to end on the lab's real OpenStack: `resurrect serve --worker` on the OpenStack driver and fence_ipmilan,
 * servers booted on compute-1, its power cut through its BMC behind Resurrect's back, and the host-down event
 * reported as a monitor would. Everything is checked against Nova's own records (migrations, instance actions,
 * the service) and the BMC's, not against what Resurrect says of itself. Then the failure paths: a BMC whose
 * password is wrong (no evacuation, escalated) and an evacuation with no host to go to (retried once capacity
 * returns).
 */
import test from 'ava';
import type { AuditRecord } from '../../src/domain';
import { useRedis } from '../helpers/redis';
import { LabCloud, novaTime } from './lab-cloud';
import { startServedEngine, type ServedEngine } from './served-engine';

const redis = useRedis(test);
const lab = LabCloud.open();
const VICTIM = 'compute-1';
const OTHERS = lab.lab.hosts.map((h) => h.name).filter((h) => h !== VICTIM);

let engine: ServedEngine | undefined;

test.beforeEach(async () => {
  for (const host of lab.lab.hosts) await lab.restoreHost(host.name);
  await lab.deleteAllServers();
});

test.afterEach.always(async (t) => {
  if (engine) {
    const code = await engine.stop();
    if (!t.passed) t.log(engine.output().slice(-6000));
    t.log(`resurrect serve exited ${code}`);
    engine = undefined;
  }
});

test.after.always(async () => {
  for (const host of lab.lab.hosts) await lab.restoreHost(host.name);
  await lab.deleteAllServers();
});

async function bootOnVictim(count: number): Promise<string[]> {
  return lab.bootAll(Array.from({ length: count }, (_, i) => ({
    name: `e2e-${i + 1}`, host: VICTIM, flavorId: lab.lab.flavor.id, imageId: lab.lab.image.id,
  })));
}

/** Nova keeps instance-action times to the second: compare at that grain, never earlier. */
const floorSecond = (ms: number) => Math.floor(ms / 1000) * 1000;
const at = (r: AuditRecord) => Date.parse(r.at);

test('host-down on the real cloud: fenced with fence_ipmilan (read back off), forced down, every server evacuated once and ACTIVE elsewhere, none before the fence', async (t) => {
  const servers = await bootOnVictim(3);
  engine = await startServedEngine(lab.lab, redis.url, redis.newPrefix());
  const cut = await lab.powerOff(VICTIM);
  const incident = await engine.report('host-down', VICTIM);
  const closed = await engine.settle(incident.id);
  t.is(closed.outcome, 'recovered', engine.output().slice(-3000));

  const trail = await engine.trail(incident.id);
  const fenced = trail.find((r) => new RegExp(`power-off of ${VICTIM} confirmed`).test(r.message));
  t.truthy(fenced, 'the trail records the confirmed fence');
  t.is(await lab.power(VICTIM), 'off', 'the BMC reads off');

  const service = await lab.service(VICTIM);
  t.true(service.forcedDown, 'the service was forced down');
  t.is(service.status, 'disabled');

  for (const id of servers) {
    const server = await lab.server(id);
    t.is(server.status, 'ACTIVE', id);
    t.true(OTHERS.includes(server.host), `${id} runs on ${server.host}`);
    const migrations = await lab.migrations(id);
    t.is(migrations.length, 1, `${id}: one migration record`);
    t.like(migrations[0], { type: 'evacuation', status: 'done', source: VICTIM, dest: server.host });
    const evacuations = (await lab.instanceActions(id)).filter((a) => a.action === 'evacuate');
    t.is(evacuations.length, 1, `${id}: evacuated once (Nova's instance actions)`);
    const started = novaTime(evacuations[0]!.startTime);
    t.true(started >= floorSecond(cut.getTime()), `${id}: evacuated after the power cut`);
    t.true(started >= floorSecond(at(fenced!)), `${id}: evacuated after the fence was confirmed`);
  }
  // And in Resurrect's own order: no evacuation record before the fence confirmation.
  const firstEvacuation = trail.findIndex((r) => /evacuate \S+ from/.test(r.message));
  t.true(firstEvacuation > trail.indexOf(fenced!), 'fence confirmed before the first evacuation in the trail');
});

test('a BMC with a wrong password: no evacuation, the incident escalates, the servers stay where they were', async (t) => {
  const servers = await bootOnVictim(2);
  const { bmc } = lab.host(VICTIM);
  engine = await startServedEngine(lab.lab, redis.url, redis.newPrefix(), {
    fencing: { options: { hosts: { [VICTIM]: [[{ agent: 'fence_ipmilan', hostArgument: 'none', options: { ...bmc.fenceIpmilan, password: 'not-the-password' } }]] } } },
  });
  await lab.powerOff(VICTIM);
  const incident = await engine.report('host-down', VICTIM);
  const closed = await engine.settle(incident.id);
  t.not(closed.outcome, 'recovered');
  const trail = await engine.trail(incident.id);
  t.true(trail.some((r) => /escalat/i.test(r.message)), 'escalated');
  t.false(trail.some((r) => /evacuate \S+ from/.test(r.message)), 'no evacuation in the trail');
  for (const id of servers) {
    t.deepEqual((await lab.instanceActions(id)).filter((a) => a.action === 'evacuate'), [], `${id}: Nova never saw an evacuate`);
    t.is((await lab.server(id)).host, VICTIM);
  }
  t.false(engine.output().includes('not-the-password'), 'the password is in no log');
  t.false(JSON.stringify(trail).includes('not-the-password'), 'nor in the audit trail');
});

test('no host with room: escalated before any evacuate reaches Nova; once capacity returns, a retry lands every server', async (t) => {
  const servers = await bootOnVictim(2);
  for (const host of OTHERS) await lab.updateService(host, { status: 'disabled', disabled_reason: 'lab: no capacity' });
  engine = await startServedEngine(lab.lab, redis.url, redis.newPrefix());
  await lab.powerOff(VICTIM);
  const incident = await engine.report('host-down', VICTIM);
  const escalated = await engine.settle(incident.id);
  t.is(escalated.outcome, 'escalated');
  const trail = await engine.trail(incident.id);
  t.true(trail.some((r) => /no non-reserved host is enabled and up/.test(r.message) || /will not fit|no capacity/i.test(r.message)), 'the trail says why');
  for (const id of servers) t.deepEqual((await lab.instanceActions(id)).filter((a) => a.action === 'evacuate'), [], `${id}: no evacuate sent`);

  await lab.restoreHost(OTHERS[0]!);
  const retried = await engine.api<unknown>('POST', `/api/v1/recoveries/${incident.recoveryId}/retry`);
  t.is(retried.status, 202, JSON.stringify(retried.json));
  const closed = await engine.settle(incident.id, 300_000);
  t.is(closed.outcome, 'recovered', engine.output().slice(-3000));
  for (const id of servers) {
    t.like(await lab.server(id), { status: 'ACTIVE', host: OTHERS[0] });
    const migrations = await lab.migrations(id);
    t.is(migrations.length, 1, `${id}: one evacuation, the successful one`);
    t.like(migrations[0], { type: 'evacuation', status: 'done', source: VICTIM, dest: OTHERS[0] });
  }
});

test('safe re-entry on the real cloud: the fenced host is powered on, Nova completes its evacuation records, forced_down is lifted, the service left disabled as asked (reenable false)', async (t) => {
  const servers = await bootOnVictim(2);
  engine = await startServedEngine(lab.lab, redis.url, redis.newPrefix());
  await lab.powerOff(VICTIM);
  const failure = await engine.report('host-down', VICTIM);
  t.is((await engine.settle(failure.id)).outcome, 'recovered', engine.output().slice(-3000));
  const since = Date.now();

  // Before the return Nova keeps the host down and refuses to lift it: its evacuation records are still `done`.
  t.true((await lab.service(VICTIM)).forcedDown);
  for (const id of servers) t.is((await lab.migrations(id))[0]?.status, 'done');

  const asked = await engine.api<{ incident: { id: string } }>('POST', `/api/v1/hosts/${VICTIM}/return`, { reenable: false, comment: 'PSU replaced' });
  t.is(asked.status, 201, JSON.stringify(asked.json));
  const closed = await engine.settle(asked.json.incident.id);
  t.is(closed.outcome, 'recovered', engine.output().slice(-3000));

  t.is(await lab.power(VICTIM), 'on', 'the BMC powered it on');
  t.true(lab.powerEvents(VICTIM).some((e) => e.power === 'on' && e.at >= since), 'the machine booted after the return was asked');
  const service = await lab.service(VICTIM);
  t.false(service.forcedDown, 'forced_down lifted');
  t.is(service.state, 'up');
  t.is(service.status, 'disabled', 'left disabled, as asked');
  for (const id of servers) {
    t.is((await lab.migrations(id))[0]?.status, 'completed', `${id}: the restarted compute cleaned up its evacuation`);
    t.not((await lab.server(id)).host, VICTIM, `${id} stays where it was rebuilt`);
  }
  const trail = await engine.trail(asked.json.incident.id);
  const order = ['power', 'forced', 'heartbeat', 'disabled'].map((word) => trail.findIndex((r) => new RegExp(word, 'i').test(r.message)));
  t.true(order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1]!)), `every step is in the trail, in order: ${trail.map((r) => r.message).join(' | ')}`);
  t.true(trail.some((r) => /lab-operator/.test(r.message) || JSON.stringify(r.details ?? {}).includes('lab-operator')), 'who asked is recorded');
});

test('safe re-entry with reenable true: the returned host is enabled, and Nova builds a new server on it', async (t) => {
  await bootOnVictim(1);
  engine = await startServedEngine(lab.lab, redis.url, redis.newPrefix());
  await lab.powerOff(VICTIM);
  const failure = await engine.report('host-down', VICTIM);
  t.is((await engine.settle(failure.id)).outcome, 'recovered', engine.output().slice(-3000));

  const asked = await engine.api<{ incident: { id: string } }>('POST', `/api/v1/hosts/${VICTIM}/return`, {});
  t.is(asked.status, 201, JSON.stringify(asked.json));
  const closed = await engine.settle(asked.json.incident.id);
  t.is(closed.outcome, 'recovered', engine.output().slice(-3000));
  const service = await lab.service(VICTIM);
  t.like(service, { forcedDown: false, state: 'up', status: 'enabled' });

  // The scheduler takes the host again at once: enabled only after its compute reported (not on the stamp of
  // our own forced_down lift), so its resource provider carries no COMPUTE_STATUS_DISABLED trait any more.
  const [fresh] = await lab.bootAll([{ name: 'after-return', host: VICTIM, flavorId: lab.lab.flavor.id, imageId: lab.lab.image.id }]);
  const server = await lab.server(fresh!);
  t.is(server.status, 'ACTIVE');
  t.is(server.host, VICTIM);
  const trail = (await engine.trail(asked.json.incident.id)).map((r) => r.message);
  const order = [/powered .* on/i, /forced_down of .* lifted/i, /heartbeats again/i, /is enabled: back in service/i].map((p) => trail.findIndex((m) => p.test(m)));
  t.true(order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1]!)), `in order: ${trail.join(' | ')}`);
});
