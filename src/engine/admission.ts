import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Recovery } from '../domain';
import type { Registry } from '../plugins/registry';
import { deadlineAt, rankScore } from '../policy/ranking';
import type { GateVerdict, LeaveReason, RecoveryGate } from './gates';
import { GO } from './gates';
import type { IncidentStore } from './incident-store';
import type { Keys } from './keys';

export interface AdmissionLimits {
  /** Per-VM recoveries acting at once, across every worker; 0 = no limit. */
  readonly global: number;
  /** Recoveries landing on one target host at once (when placement chose it); 0 = no limit. */
  readonly perTargetHost: number;
  /** How long a slot outlives its holder's last renewal (default 30 s). */
  readonly leaseMs?: number;
}

/**
 * A slot is a lease: a worker that dies stops renewing it, and it frees itself. Long enough to survive a
 * stalled event loop, short against an RTO; the runner renews every few seconds.
 */
const LEASE_MS = 30_000;
/** A waiting recovery handed a job is not handed another for this long (its job may still be on its way). */
const PROMOTION_TTL_MS = 5_000;
/** How often each worker looks for free slots and waiting recoveries, in case a release's hand-over was lost. */
const SWEEP_MS = 2_000;
/** With no global limit, a sweep still hands out at most this many jobs at once. */
const UNLIMITED_BATCH = 256;
/** How far down the line a promotion looks for recoveries whose target has room. */
const PROMOTE_SCAN = 1_000;

/**
 * KEYS: 1 waiting (zset rank→id), 2 promoted (hash id→until ms), 3 global slots (zset id→lease end),
 * 4 target slots (zset, or any key when there is no target), 5 targets of waiting recoveries (hash id→host).
 * ARGV: 1 id, 2 rank, 3 now ms, 4 lease ms, 5 global limit, 6 target limit, 7 '1' when there is a target,
 * 8 the target host ('' for none).
 * Returns {1} when admitted, else {0, position, waiting}. Either way a promise made to this id is spent: a
 * promoted job that finds its slot taken after all goes back in line, free to be promoted at the next release.
 */
const ACQUIRE = `
local id, rank, now, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local limit, targetLimit, hasTarget = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7] == '1'
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if hasTarget then redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now) end
redis.call('HDEL', KEYS[2], id)
if redis.call('ZSCORE', KEYS[3], id) then
  redis.call('ZADD', KEYS[3], now + lease, id)
  if hasTarget then redis.call('ZADD', KEYS[4], now + lease, id) end
  return {1}
end
redis.call('ZADD', KEYS[1], 'NX', rank, id)
local position = redis.call('ZRANK', KEYS[1], id)
local free = limit > 0 and (limit - redis.call('ZCARD', KEYS[3])) or (position + 1)
local targetFree = (not hasTarget) or targetLimit <= 0 or redis.call('ZCARD', KEYS[4]) < targetLimit
if position < free and targetFree then
  redis.call('ZADD', KEYS[3], now + lease, id)
  if hasTarget then redis.call('ZADD', KEYS[4], now + lease, id) end
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[5], id)
  return {1}
end
redis.call('HSET', KEYS[5], id, ARGV[8])
return {0, position, redis.call('ZCARD', KEYS[1])}
`;

/**
 * Picks who gets the free slots: the head of the line, skipping a recovery whose target host is full (it
 * would only be refused and lose its turn), counting the promises still on their way as taken (a sweep
 * between a release and the promoted job's arrival must not promise the same slot twice).
 * KEYS: 1 waiting, 2 promoted, 3 global slots, 4 targets of waiting recoveries.
 * ARGV: 1 now, 2 global limit, 3 ttl, 4 batch when unlimited, 5 target limit, 6 prefix of target slot keys,
 * 7 how far down the line to look.
 */
const PROMOTE = `
local now, limit, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local targetLimit, targetPrefix = tonumber(ARGV[5]), ARGV[6]
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local used = {}
local function usedOn(target)
  if used[target] == nil then
    redis.call('ZREMRANGEBYSCORE', targetPrefix .. target, '-inf', now)
    used[target] = redis.call('ZCARD', targetPrefix .. target)
  end
  return used[target]
end
local function targetOf(id)
  local target = redis.call('HGET', KEYS[4], id)
  if target and target ~= '' and targetLimit > 0 then return target end
  return nil
end
local pending = 0
local promised = redis.call('HGETALL', KEYS[2])
for i = 1, #promised, 2 do
  local id = promised[i]
  if tonumber(promised[i + 1]) < now then
    redis.call('HDEL', KEYS[2], id)
  else
    pending = pending + 1
    local target = targetOf(id)
    if target then used[target] = usedOn(target) + 1 end
  end
end
local free = limit > 0 and (limit - redis.call('ZCARD', KEYS[3]) - pending) or tonumber(ARGV[4])
if free <= 0 then return {} end
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[7]) - 1)) do
  if #out >= free then break end
  if redis.call('HEXISTS', KEYS[2], id) == 0 then
    local target = targetOf(id)
    if not target or usedOn(target) < targetLimit then
      if target then used[target] = used[target] + 1 end
      redis.call('HSET', KEYS[2], id, now + ttl)
      table.insert(out, id)
    end
  end
end
return out
`;

type Commands = {
  rsrAdmit(...args: (string | number)[]): Promise<[number, number?, number?]>;
  rsrPromote(...args: (string | number)[]): Promise<string[]>;
};

/**
 * Admission to recovery slots: at most `global` per-VM recoveries act at once across every worker, at most
 * `perTargetHost` land on one target, and when there are more candidates than slots they get in by rank —
 * earliest deadline first, then priority (`ranking.ts`, the same order a dry-run plan predicts). The waiting
 * line is a sorted set in Redis, so the order holds across worker processes, not just inside one.
 *
 * A recovery that must wait leaves no job behind: whoever frees a slot hands jobs to the recoveries at the
 * head of the line, and every worker sweeps for free slots every few seconds in case that hand-over was lost.
 * Host-level recoveries (fencing, fan-out) take no slot: they are what creates the per-VM work.
 */
export class Admission implements RecoveryGate {
  readonly name = 'admission';
  private readonly openedAt = new Map<string, number>();
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly deps: {
      readonly redis: Redis; readonly keys: Keys; readonly incidents: IncidentStore; readonly registry: Registry; readonly log: Logger;
      /** Hands a job to a recovery that may now be admitted (a fresh job id each time). */
      readonly enqueue: (recoveryId: string) => Promise<void>;
    },
    readonly limits: AdmissionLimits,
  ) {
    deps.redis.defineCommand('rsrAdmit', { numberOfKeys: 5, lua: ACQUIRE });
    deps.redis.defineCommand('rsrPromote', { numberOfKeys: 4, lua: PROMOTE });
  }

  private get commands(): Commands {
    return this.deps.redis as unknown as Commands;
  }

  async enter(recovery: Recovery): Promise<GateVerdict> {
    if (!recovery.subject.instance) return GO;
    const { keys } = this.deps;
    const target = typeof recovery.params.target === 'string' ? recovery.params.target : undefined;
    if (this.limits.global <= 0 && (!target || this.limits.perTargetHost <= 0)) return GO;
    const rank = await this.rankOf(recovery);
    const [admitted, position, waiting] = await this.commands.rsrAdmit(
      keys.admissionWaiting(), keys.admissionPromoted(), keys.admissionSlots('global'), keys.admissionSlots(`target:${target ?? '-'}`), keys.admissionTargets(),
      recovery.id, rank, Date.now(), this.limits.leaseMs ?? LEASE_MS, this.limits.global, this.limits.perTargetHost, target ? '1' : '0', target ?? '',
    );
    if (admitted === 1) return GO;
    return {
      kind: 'wait',
      reason: `waiting for a recovery slot (${this.limits.global > 0 ? `limit ${this.limits.global}` : 'no global limit'}${target ? `, target ${target} limit ${this.limits.perTargetHost}` : ''}; ${(position ?? 0) + 1} of ${waiting ?? 0} in line)`,
    };
  }

  async enlist(recoveries: readonly Recovery[]): Promise<void> {
    const gated = recoveries.filter((r) => r.subject.instance);
    if (gated.length === 0 || (this.limits.global <= 0 && this.limits.perTargetHost <= 0)) return;
    const multi = this.deps.redis.multi();
    for (const recovery of gated) {
      multi.zadd(this.deps.keys.admissionWaiting(), 'NX', await this.rankOf(recovery), recovery.id);
      if (typeof recovery.params.target === 'string') multi.hset(this.deps.keys.admissionTargets(), recovery.id, recovery.params.target);
    }
    await multi.exec();
  }

  async renew(recovery: Recovery): Promise<void> {
    if (!recovery.subject.instance) return;
    const { redis, keys } = this.deps;
    const until = Date.now() + (this.limits.leaseMs ?? LEASE_MS);
    const target = typeof recovery.params.target === 'string' ? recovery.params.target : undefined;
    const multi = redis.multi().zadd(keys.admissionSlots('global'), 'XX', until, recovery.id);
    if (target) multi.zadd(keys.admissionSlots(`target:${target}`), 'XX', until, recovery.id);
    await multi.exec();
  }

  async leave(recovery: Recovery, reason: LeaveReason): Promise<void> {
    if (!recovery.subject.instance) return;
    const { redis, keys } = this.deps;
    const target = typeof recovery.params.target === 'string' ? recovery.params.target : undefined;
    const multi = redis.multi().zrem(keys.admissionSlots('global'), recovery.id);
    if (target) multi.zrem(keys.admissionSlots(`target:${target}`), recovery.id);
    // A finished or held recovery must not block the line; a held one gets its place back (the same rank)
    // when it comes back to the gate.
    if (reason === 'done' || reason === 'held') {
      multi.zrem(keys.admissionWaiting(), recovery.id).hdel(keys.admissionPromoted(), recovery.id).hdel(keys.admissionTargets(), recovery.id);
    }
    await multi.exec();
    await this.promote();
  }

  /** Hands jobs to the recoveries at the head of the line, as many as there are free slots. */
  async promote(): Promise<string[]> {
    const { keys, log } = this.deps;
    const ids = await this.commands.rsrPromote(
      keys.admissionWaiting(), keys.admissionPromoted(), keys.admissionSlots('global'), keys.admissionTargets(),
      Date.now(), this.limits.global, PROMOTION_TTL_MS, UNLIMITED_BATCH, this.limits.perTargetHost, keys.admissionSlots('target:'), PROMOTE_SCAN,
    );
    for (const id of ids) {
      await this.deps.enqueue(id).catch((err: unknown) => log.warn({ err, recovery: id }, `could not hand a slot to ${id}; the next sweep retries`));
    }
    return ids;
  }

  startSweeping(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => {
      this.promote().catch((err: unknown) => this.deps.log.debug({ err }, 'admission sweep failed; retrying'));
    }, SWEEP_MS);
    this.sweeper.unref();
  }

  stopSweeping(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Deadline (incident opened + the SLA's RTO) then priority; no SLA: no deadline, lowest priority. */
  private async rankOf(recovery: Recovery): Promise<number> {
    const sla = typeof recovery.params.sla === 'string' ? this.deps.registry.findSla(recovery.params.sla) : undefined;
    let opened = this.openedAt.get(recovery.incidentId);
    if (opened === undefined) {
      const incident = await this.deps.incidents.get(recovery.incidentId);
      opened = incident ? Date.parse(incident.openedAt) : Date.parse(recovery.createdAt);
      if (this.openedAt.size > 10_000) this.openedAt.clear();
      this.openedAt.set(recovery.incidentId, opened);
    }
    return rankScore({ deadlineAtMs: deadlineAt(opened, sla?.deadlineSeconds), priority: sla?.priority ?? 99 });
  }
}
