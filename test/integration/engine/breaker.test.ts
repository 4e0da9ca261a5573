/**
 * The mass-failure breaker on a real Redis, without an engine around it: thresholds (count, share,
 * minScopeHosts), the window, atomic opening across processes, the gate's verdicts, approval and closing,
 * and the audit of every change.
 */
import test from 'ava';
import pino from 'pino';
import type { Config } from '../../../src/config/config';
import { DEFAULT_CONFIG } from '../../../src/config/config';
import type { AuditRecord, Host, Recovery } from '../../../src/domain';
import { InputError } from '../../../src/domain';
import type { CloudDriver } from '../../../src/drivers/cloud/port';
import { AuditLog } from '../../../src/engine/audit-log';
import { MassFailureBreaker } from '../../../src/engine/breaker';
import { Keys } from '../../../src/engine/keys';
import type { RecoveryQueue } from '../../../src/engine/recovery-queue';
import { RecordingNotifier } from '../../helpers/engine';
import { ManualClock } from '../../helpers/manual-clock';
import { useRedis } from '../../helpers/redis';

const redis = useRedis(test);

function host(name: string, zone: string, extra: Partial<Host> = {}): Host {
  return { name, zone, aggregates: [], tags: [], vcpus: 16, ramMb: 32_768, usedVcpus: 0, usedRamMb: 0, reserved: false, ...extra } as Host;
}

/** Four hosts in az-1, three in az-small, ten in az-big. */
const HOSTS: Host[] = [
  ...['a1', 'a2', 'a3', 'a4'].map((n) => host(n, 'az-1')),
  ...['s1', 's2', 's3'].map((n) => host(n, 'az-small')),
  ...Array.from({ length: 10 }, (_, i) => host(`b${i + 1}`, 'az-big', { aggregates: ['agg-x', ...(i < 2 ? ['agg-y'] : [])], tags: i < 5 ? ['segment:seg-1'] : [] })),
];

interface Rig {
  readonly breaker: MassFailureBreaker;
  readonly keys: Keys;
  readonly audit: AuditLog;
  readonly notifier: RecordingNotifier;
  readonly wakes: { recoveryId: string; key: string; event: { type: string } }[];
  readonly clock: ManualClock;
}

function rig(settings: Partial<Config['breaker']> = {}, options: { prefix?: string; clock?: ManualClock; notifier?: RecordingNotifier; cloud?: CloudDriver } = {}): Rig {
  const client = redis.connection();
  const keys = new Keys(options.prefix ?? redis.newPrefix());
  const audit = new AuditLog(client, keys);
  const notifier = options.notifier ?? new RecordingNotifier();
  const clock = options.clock ?? new ManualClock();
  const wakes: Rig['wakes'] = [];
  const queue = { enqueueWake: async (recoveryId: string, key: string, event: { type: string }) => { wakes.push({ recoveryId, key, event }); } } as unknown as RecoveryQueue;
  const cloud = options.cloud ?? ({ listHosts: async () => HOSTS } as unknown as CloudDriver);
  const breaker = new MassFailureBreaker({
    redis: client, keys, queue, audit, notifier, cloud, clock, log: pino({ level: 'silent' }), node: 'test',
    settings: { ...DEFAULT_CONFIG.breaker, ...settings },
  });
  return { breaker, keys, audit, notifier, wakes, clock };
}

const fail = (r: Rig, name: string, kind: 'host-down' | 'service-down' | 'host-degraded' | 'instance-down' = 'host-down') =>
  r.breaker.recordHostFailure({ kind, host: name, incidentId: `inc-${name}` });

function recovery(id: string, hostName: string, incidentId = `inc-${hostName}`): Recovery {
  return {
    id, incidentId, workflow: 'fence-then-evacuate', subject: { host: hostName }, status: 'queued', createdAt: new Date(0).toISOString(),
    updatedAt: new Date(0).toISOString(), attempts: 0, params: {},
  } as unknown as Recovery;
}

const messages = async (r: Rig, id: string) => (await r.audit.read(id)).map((row) => row.record);

test('share: opens when more than half of a zone of at least minScopeHosts failed; other zones are not affected', async (t) => {
  const r = rig();
  t.like((await fail(r, 'a1'))[0], { scope: 'az-1', result: 'counted', failed: 1, scopeHosts: 4 });
  t.like((await fail(r, 'a2'))[0], { result: 'counted', failed: 2 }, 'two of four is not more than half');
  t.like((await fail(r, 'b1'))[0], { scope: 'az-big', result: 'counted' });
  t.like((await fail(r, 'a3'))[0], { result: 'opened', failed: 3 });
  const status = await r.breaker.status();
  const az1 = status.scopes.find((s) => s.scope === 'az-1');
  t.true(az1?.open);
  t.deepEqual(az1?.heldHosts, ['a1', 'a2', 'a3'], 'the hosts failed before the threshold are held too');
  t.regex(az1?.reason ?? '', /3 of 4 hosts of zone az-1 failed within 120 s \(more than 50%\)/);
  t.false(status.scopes.find((s) => s.scope === 'az-big')?.open);
  t.like((await fail(r, 'a4'))[0], { result: 'held', failed: 4 }, 'a host failing while it is open is held');
  t.deepEqual(r.notifier.sent.map((n) => [n.severity, n.topic]), [['critical', 'breaker.opened']]);
  t.regex(r.notifier.sent[0]?.summary ?? '', /mass-failure breaker OPEN for zone az-1: 3 of 4 hosts failed within 120 s/);
});

test('minScopeHosts: a zone smaller than it never opens by share, even when every host failed', async (t) => {
  const r = rig();
  for (const name of ['s1', 's2', 's3']) t.is((await fail(r, name))[0]?.result, 'counted');
  t.false((await r.breaker.status()).scopes[0]?.open);
  const withCount = rig({ maxHosts: 2 });
  const results = [];
  for (const name of ['s1', 's2', 's3']) results.push((await fail(withCount, name))[0]?.result);
  t.deepEqual(results, ['counted', 'counted', 'opened'], 'the count test applies whatever the scope size');
});

test('count: opens when more than maxHosts hosts failed, however large the scope (share off)', async (t) => {
  const r = rig({ maxHosts: 3, maxShare: 0 });
  const results = [];
  for (const name of ['b1', 'b2', 'b3', 'b4']) results.push((await fail(r, name))[0]?.result);
  t.deepEqual(results, ['counted', 'counted', 'counted', 'opened']);
  t.like((await r.breaker.status()).scopes[0], { scope: 'az-big', open: true, heldHosts: ['b1', 'b2', 'b3', 'b4'] });
});

test('a host counts once however many events it sends; service-down counts, host-degraded and instance-down do not', async (t) => {
  const r = rig({ maxHosts: 2, maxShare: 0 });
  await fail(r, 'b1', 'host-down');
  t.like((await fail(r, 'b1', 'service-down'))[0], { result: 'counted', failed: 1 });
  t.deepEqual(await fail(r, 'b2', 'host-degraded'), []);
  t.deepEqual(await fail(r, 'b2', 'instance-down'), []);
  t.like((await fail(r, 'b2', 'service-down'))[0], { result: 'counted', failed: 2 });
  t.like((await fail(r, 'b3', 'service-down'))[0], { result: 'opened', failed: 3 });
});

test('window: failures older than windowSeconds no longer count', async (t) => {
  const r = rig({ windowSeconds: 60 });
  await fail(r, 'a1');
  await fail(r, 'a2');
  await r.clock.advance(61_000);
  t.like((await fail(r, 'a3'))[0], { result: 'counted', failed: 1 }, 'a1 and a2 left the window');
  await r.clock.advance(30_000);
  t.like((await fail(r, 'a4'))[0], { result: 'counted', failed: 2 });
  t.like((await fail(r, 'a1'))[0], { result: 'opened', failed: 3 });
  t.deepEqual((await r.breaker.status()).scopes[0]?.heldHosts, ['a1', 'a3', 'a4'], 'a2 failed outside the window: not held');
});

test('scopes: aggregate (a host in two aggregates counts in both), segment (host tag segment:<name>), unknown when facts are missing', async (t) => {
  const agg = rig({ scope: 'aggregate', maxHosts: 1, maxShare: 0 });
  t.deepEqual((await fail(agg, 'b1')).map((c) => c.scope), ['agg-x', 'agg-y']);
  t.deepEqual((await fail(agg, 'b2')).map((c) => [c.scope, c.result]), [['agg-x', 'opened'], ['agg-y', 'opened']]);
  const seg = rig({ scope: 'segment', maxShare: 0.5, minScopeHosts: 4 });
  t.like((await fail(seg, 'b1'))[0], { scope: 'seg-1', scopeHosts: 5 });
  t.like((await fail(seg, 'b9'))[0], { scope: 'unknown' }, 'no segment tag');
  const blind = rig({ maxHosts: 1 }, { cloud: { listHosts: async () => { throw new Error('nova down'); } } as unknown as CloudDriver });
  t.like((await fail(blind, 'a1'))[0], { scope: 'unknown', result: 'counted' });
  t.is((await fail(blind, 'a2'))[0]?.result, 'opened', 'counted without facts: the count test still applies');
});

test('the host list: fresh for 5 s; then the last one answers at once while a new listing starts; none, or one over 10 min old, is waited for', async (t) => {
  let calls = 0;
  let hold: Promise<void> | undefined;
  const cloud = { listHosts: async () => { calls++; await hold; return HOSTS; } } as unknown as CloudDriver;
  const clock = new ManualClock();
  const r = rig({}, { clock, cloud });
  const settled = async (p: Promise<unknown>) => Promise.race([p.then(() => true), new Promise<boolean>((done) => setTimeout(() => done(false), 200))]);

  t.like((await fail(r, 'b1'))[0], { scope: 'az-big', scopeHosts: 10 });
  await fail(r, 'b2');
  t.is(calls, 1, 'a burst asks once');

  await clock.advance(6_000);
  let release!: () => void;
  hold = new Promise((done) => { release = done; });
  const stale = fail(r, 'b3');
  t.true(await settled(stale), 'a failure does not wait for a new listing while the last one is recent enough');
  t.like((await stale)[0], { scope: 'az-big', failed: 3 });
  t.is(calls, 2, 'but a new listing started');
  release();
  await new Promise((done) => setTimeout(done, 10));

  await clock.advance(11 * 60_000);
  hold = new Promise((done) => { release = done; });
  const old = fail(r, 'b4');
  t.false(await settled(old), 'a list over 10 min old is not trusted: the failure waits for the listing');
  release();
  t.like((await old)[0], { scope: 'az-big' });
  t.is(calls, 3);
});

test('two processes reporting at once open the breaker once: one opening record, one notification', async (t) => {
  const prefix = redis.newPrefix();
  const clock = new ManualClock();
  const notifier = new RecordingNotifier();
  const one = rig({}, { prefix, clock, notifier });
  const two = rig({}, { prefix, clock, notifier });
  const results = await Promise.all(['a1', 'a2', 'a3', 'a4'].map((name, i) => fail(i % 2 === 0 ? one : two, name)));
  const outcomes = results.map((r) => r[0]?.result).sort();
  t.deepEqual(outcomes.filter((o) => o === 'opened'), ['opened']);
  t.deepEqual(notifier.topics(), ['breaker.opened']);
  const trail = await messages(one, 'breaker:az-1');
  t.is(trail.filter((m) => /breaker OPEN/.test(m.message)).length, 1, trail.map((m) => m.message).join('\n'));
});

test('the gate holds recoveries of held hosts, lets others through, and approval releases exactly the approved hosts', async (t) => {
  const r = rig();
  for (const name of ['a1', 'a2', 'a3']) await fail(r, name);
  const [r1, r2, r3, child2] = [recovery('rec-a1', 'a1'), recovery('rec-a2', 'a2'), recovery('rec-a3', 'a3'), recovery('rec-a2.vm-x', 'a2')];
  for (const rec of [r1, r2, r3, child2]) t.like(await r.breaker.enter(rec), { kind: 'hold' }, rec.id);
  t.regex((await r.breaker.enter(r2) as { reason: string }).reason, /mass-failure breaker open for zone az-1: a2 is held until an operator approves it/);
  t.deepEqual(await r.breaker.enter(recovery('rec-b1', 'b1')), { kind: 'go' }, 'a host that did not fail');
  t.deepEqual(await r.breaker.enter(recovery('rec-a4', 'a4')), { kind: 'go' }, 'a host of the scope that did not fail');
  t.deepEqual(await r.breaker.enter(r1, { event: { type: 'operator.decision', decision: 'approve', by: 'x' } }), { kind: 'go' }, 'a person already decided');

  const status = await r.breaker.status();
  t.deepEqual(status.scopes[0]?.heldRecoveries.map((h) => h.recoveryId), ['rec-a1', 'rec-a2', 'rec-a2.vm-x', 'rec-a3']);

  const approved = await r.breaker.approve('az-1', ['a2'], 'alice', 'checked the switch');
  t.deepEqual(approved.released, ['rec-a2', 'rec-a2.vm-x']);
  t.deepEqual(r.wakes.map((w) => w.recoveryId).sort(), ['rec-a2', 'rec-a2.vm-x']);
  t.true(r.wakes.every((w) => /^breaker-approved-\d+$/.test(w.key) && w.event.type === 'breaker.approved'));
  t.deepEqual(await r.breaker.enter(r2), { kind: 'go' }, 'later jobs of an approved host pass');
  t.like(await r.breaker.enter(r1), { kind: 'hold' }, 'the others stay held');
  t.like((await r.breaker.status()).scopes[0], { open: true, approvedHosts: ['a2'] });

  const error = await t.throwsAsync(r.breaker.approve('az-1', ['a9'], 'alice'));
  t.true(error instanceof InputError);
  t.regex(error?.message ?? '', /a9 is not held by the breaker of az-1 \(held: a1, a2, a3\)/);
  await t.throwsAsync(r.breaker.approve('az-9', 'all', 'alice'), { message: /no breaker for zone az-9 \(known: az-1\)/ });
  await t.throwsAsync(r.breaker.approve('az-1', 'all', ' '), { message: /must name who/ });

  const closed = await r.breaker.close('az-1', 'bob');
  t.true(closed.wasOpen);
  t.deepEqual(closed.released, ['rec-a1', 'rec-a3']);
  t.deepEqual(r.wakes.map((w) => w.recoveryId).sort(), ['rec-a1', 'rec-a2', 'rec-a2.vm-x', 'rec-a3'], 'each held recovery released exactly once');
  t.deepEqual(await r.breaker.enter(r1), { kind: 'go' });
  t.like((await r.breaker.status()).scopes[0], { open: false, closedBy: 'bob', heldHosts: [], heldRecoveries: [], failedHosts: [] });
  t.like((await fail(r, 'a4'))[0], { result: 'counted', failed: 1 }, 'closing starts the window afresh');
  await t.throwsAsync(r.breaker.approve('az-1', 'all', 'alice'), { message: /not open: nothing to approve/ });
});

test('a host whose power-off is already confirmed for its incident goes on (its evacuations are its only way back)', async (t) => {
  const r = rig();
  for (const name of ['a1', 'a2', 'a3']) await fail(r, name);
  const client = redis.connection();
  await client.set(r.keys.fence('inc-a1', 'a1'), JSON.stringify({ host: 'a1', at: 1, by: 'fencing' }));
  t.deepEqual(await r.breaker.enter(recovery('rec-a1.vm-1', 'a1')), { kind: 'go' });
  t.like(await r.breaker.enter(recovery('rec-other', 'a1', 'inc-other')), { kind: 'hold' }, 'evidence of another incident does not count');
});

test('a held wake keeps its event, and approval delivers it again', async (t) => {
  const r = rig({ maxHosts: 1, maxShare: 0 });
  await fail(r, 'b1');
  await fail(r, 'b2');
  t.like(await r.breaker.enter(recovery('rec-b1', 'b1'), { event: { type: 'children.done' } }), { kind: 'hold' });
  await r.breaker.approve('az-big', 'all', 'carol');
  t.deepEqual(r.wakes.map((w) => [w.recoveryId, w.event.type]), [['rec-b1', 'children.done']]);
});

test('every change is audited with who made it: the scope trail, the global stream and each held incident', async (t) => {
  const r = rig();
  for (const name of ['a1', 'a2', 'a3', 'a4']) await fail(r, name);
  await r.breaker.enter(recovery('rec-a1', 'a1'));
  await r.breaker.approve('az-1', ['a1'], 'alice');
  await r.breaker.close('az-1', 'bob', 'uplink fixed');
  const scope = await messages(r, 'breaker:az-1');
  t.true(scope.every((m) => m.type === 'breaker' && m.incidentId === 'breaker:az-1'));
  const lines = scope.map((m) => m.message);
  t.regex(lines[0] ?? '', /breaker OPEN for zone az-1: 3 of 4 hosts failed within 120 s .*held until an operator approves/);
  t.regex(lines[1] ?? '', /a4 failed \(host-down\) while the mass-failure breaker of zone az-1 is open/);
  t.regex(lines[2] ?? '', /alice approved a1; 1 held recovery released; the breaker stays open/);
  t.regex(lines[3] ?? '', /closed by bob \(uplink fixed\); 0 held recoveries released/);
  t.is(lines.length, 4);
  const incident = (await messages(r, 'inc-a2')).map((m) => m.message);
  t.regex(incident[0] ?? '', /breaker open for zone az-1 .*the recovery of a2 is held/);
  t.regex(incident[1] ?? '', /closed by bob: the recovery of a2 resumes/);
  t.regex((await messages(r, 'inc-a1')).map((m) => m.message).join('\n'), /alice approved a1 at the mass-failure breaker of az-1/);
  const global = await redis.connection().xrange(r.keys.globalAudit(), '-', '+');
  const breakerRecords = global.map(([, fields]) => JSON.parse(fields[1] ?? '{}') as AuditRecord).filter((rec) => rec.type === 'breaker');
  t.true(breakerRecords.length >= 4 + 4, 'scope and incident records reach the global stream');
  t.deepEqual(r.notifier.topics(), ['breaker.opened', 'breaker.approved', 'breaker.closed']);
});
