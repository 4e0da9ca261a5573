import test from 'ava';
import type { Redis } from 'ioredis';
import pino from 'pino';
import type { Recovery } from '../../../src/domain';
import { decodeOrThrow, Recovery as RecoveryCodec } from '../../../src/domain';
import { Admission } from '../../../src/engine/admission';
import type { AdmissionLimits } from '../../../src/engine/admission';
import type { IncidentStore } from '../../../src/engine/incident-store';
import { Keys } from '../../../src/engine/keys';
import type { Registry } from '../../../src/plugins/registry';
import { gold, bronze } from '../../../plugins/sla-pack';
import { useRedis } from '../../helpers/redis';

const redis = useRedis(test);

const SLAS = new Map([[gold.name, gold], [bronze.name, bronze]]);
const registry = { findSla: (name: string) => SLAS.get(name) } as unknown as Registry;
/** No incident found: the rank falls back to the recovery's creation time, which the tests set. */
const incidents = { get: async () => undefined } as unknown as IncidentStore;

function vm(id: string, sla: string, extra: Record<string, unknown> = {}, createdAt = '2026-11-25T10:00:00.000Z'): Recovery {
  return decodeOrThrow(RecoveryCodec, {
    id, incidentId: `inc-${id}`, workflow: 'evacuate-instance', subject: { host: 'compute-1', instance: id }, status: 'queued',
    createdAt, updatedAt: createdAt, attempts: 0, params: { sla, ...extra },
  }, 'recovery');
}

async function admission(client: Redis, limits: AdmissionLimits) {
  const handed: string[] = [];
  const prefix = redis.newPrefix();
  const gate = new Admission({
    redis: client, keys: new Keys(prefix), incidents, registry, log: pino({ level: 'silent' }),
    enqueue: async (id) => { handed.push(id); },
  }, limits);
  return { gate, handed, prefix };
}

test('slots go by rank, not by arrival: a bronze VM in line first still waits behind gold ones', async (t) => {
  const client = redis.connection();
  const { gate, handed } = await admission(client, { global: 2, perTargetHost: 0 });
  const [b, g1, g2] = [vm('vm-bronze', 'bronze'), vm('vm-gold-1', 'gold'), vm('vm-gold-2', 'gold')];
  await gate.enlist([b, g1, g2]);
  t.like(await gate.enter(b), { kind: 'wait' }, 'two gold VMs are ahead and there are two slots');
  t.is((await gate.enter(g2)).kind, 'go');
  t.is((await gate.enter(g1)).kind, 'go');
  const waiting = await gate.enter(b);
  t.is(waiting.kind, 'wait');
  t.regex(waiting.kind === 'wait' ? waiting.reason : '', /limit 2; 1 of 1 in line/);
  t.is((await gate.enter(g1)).kind, 'go', 're-entering a held slot renews it');
  await gate.leave(g1, 'done');
  t.deepEqual(handed, ['vm-bronze'], 'the freed slot is handed to the head of the line');
  t.deepEqual(await gate.promote(), [], 'and not handed twice while that job is on its way');
  t.is((await gate.enter(b)).kind, 'go');
  t.like(await gate.enter(vm('vm-gold-3', 'gold')), { kind: 'wait' }, 'both slots are taken again');
});

test('earliest deadline first: a bronze VM whose deadline comes sooner goes before a gold one opened later', async (t) => {
  const client = redis.connection();
  const { gate } = await admission(client, { global: 1, perTargetHost: 0 });
  // bronze: opened 10:00 + 7200 s = 12:00; gold: opened 11:50 + 900 s = 12:05.
  const early = vm('vm-bronze-early', 'bronze', {}, '2026-11-25T10:00:00.000Z');
  const late = vm('vm-gold-late', 'gold', {}, '2026-11-25T11:50:00.000Z');
  await gate.enlist([late, early]);
  t.like(await gate.enter(late), { kind: 'wait' });
  t.is((await gate.enter(early)).kind, 'go');
});

test('a target host takes at most perTargetHost recoveries at once; other targets are not held up', async (t) => {
  const client = redis.connection();
  const { gate } = await admission(client, { global: 10, perTargetHost: 1 });
  const first = vm('vm-1', 'gold', { target: 'compute-5' });
  const second = vm('vm-2', 'gold', { target: 'compute-5' });
  const elsewhere = vm('vm-3', 'bronze', { target: 'compute-6' });
  t.is((await gate.enter(first)).kind, 'go');
  const held = await gate.enter(second);
  t.regex(held.kind === 'wait' ? held.reason : '', /target compute-5 limit 1/);
  t.is((await gate.enter(elsewhere)).kind, 'go');
  await gate.leave(first, 'done');
  t.is((await gate.enter(second)).kind, 'go');
});

test('a freed slot goes to the first in line whose target has room; a full target keeps its place, not a lost turn', async (t) => {
  const client = redis.connection();
  const { gate, handed } = await admission(client, { global: 10, perTargetHost: 1 });
  const holderA = vm('vm-a0', 'gold', { target: 'compute-a' });
  const holderB = vm('vm-b0', 'gold', { target: 'compute-b' });
  // Gold before bronze: the VM for the full compute-a is ahead of the one for compute-b.
  const nextA = vm('vm-a1', 'gold', { target: 'compute-a' });
  const nextB = vm('vm-b1', 'bronze', { target: 'compute-b' });
  t.is((await gate.enter(holderA)).kind, 'go');
  t.is((await gate.enter(holderB)).kind, 'go');
  await gate.enlist([nextA, nextB]);
  t.like(await gate.enter(nextA), { kind: 'wait' });
  t.like(await gate.enter(nextB), { kind: 'wait' });

  await gate.leave(holderB, 'done');
  t.deepEqual(handed, ['vm-b1'], 'compute-a is still full: its VM is not handed a job only to be refused');
  t.deepEqual(await gate.promote(), [], 'a sweep before vm-b1 arrives does not promise its slot again');
  t.is((await gate.enter(nextB)).kind, 'go');

  // Before the fix, vm-a1 had been handed a job at the first release, refused, and then skipped by every
  // promotion for PROMOTION_TTL_MS: a freed compute-a slot sat idle for 5 s.
  await gate.leave(holderA, 'done');
  t.deepEqual(handed, ['vm-b1', 'vm-a1'], 'the compute-a slot goes to vm-a1 at once');
  t.is((await gate.enter(nextA)).kind, 'go');
});

test('a promoted job that finds its slot taken after all goes back in line and is promoted at the next release', async (t) => {
  const client = redis.connection();
  const { gate, handed } = await admission(client, { global: 1, perTargetHost: 0 });
  const holder = vm('vm-holder', 'gold');
  const promised = vm('vm-promised', 'gold', {}, '2026-11-25T09:00:00.000Z');
  const sneaky = vm('vm-sneaky', 'gold', {}, '2026-11-25T08:00:00.000Z');
  t.is((await gate.enter(holder)).kind, 'go');
  t.like(await gate.enter(promised), { kind: 'wait' });
  await gate.leave(holder, 'done');
  t.deepEqual(handed, ['vm-promised']);
  // An earlier-ranked recovery reaches the gate first and takes the slot.
  t.is((await gate.enter(sneaky)).kind, 'go');
  t.like(await gate.enter(promised), { kind: 'wait' }, 'refused: the slot went to a better-ranked one');
  await gate.leave(sneaky, 'done');
  t.deepEqual(handed, ['vm-promised', 'vm-promised'], 'its spent promise does not keep it out of the next slot');
});

test('a slot whose holder stopped renewing (a killed worker) frees itself after its lease', async (t) => {
  const client = redis.connection();
  // Long enough that a loaded machine cannot let the lease lapse between the first two calls.
  const { gate } = await admission(client, { global: 1, perTargetHost: 0, leaseMs: 1500 });
  const dead = vm('vm-dead', 'gold');
  const next = vm('vm-next', 'bronze');
  t.is((await gate.enter(dead)).kind, 'go');
  t.is((await gate.enter(next)).kind, 'wait');
  await gate.renew(dead);
  await new Promise((resolve) => setTimeout(resolve, 1700));
  t.is((await gate.enter(next)).kind, 'go', 'the lease ran out: the slot is free');
});

test('host-level recoveries and no limits at all take no slot and touch no key', async (t) => {
  const client = redis.connection();
  const unlimited = await admission(client, { global: 0, perTargetHost: 0 });
  t.is((await unlimited.gate.enter(vm('vm-x', 'gold'))).kind, 'go');
  t.is((await unlimited.gate.enter(vm('vm-y', 'gold'))).kind, 'go');
  t.deepEqual(await client.keys(`${unlimited.prefix}:*`), []);
  const limited = await admission(client, { global: 1, perTargetHost: 0 });
  const { subject: _vmSubject, ...rest } = vm('host-rec', 'gold');
  const host: Recovery = { ...rest, subject: { host: _vmSubject.host } };
  t.is((await limited.gate.enter(host)).kind, 'go');
  t.is((await limited.gate.enter({ ...host, id: 'host-rec-2' })).kind, 'go', 'a second host-level recovery is not held by the first');
  t.deepEqual(await client.keys(`${limited.prefix}:*`), []);
});
