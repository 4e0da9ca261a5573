import type { ChainableCommander, Redis } from 'ioredis';
import type { Recovery, RecoveryStatus } from '../domain';
import { LUA_INDEX_FUNCTIONS, recoveryIndexKeys, recoveryStatusPrefix } from './indexes';
import type { Keys } from './keys';

export type ClaimResult = 'ok' | 'done' | 'missing' | 'busy' | 'instance-busy';

/**
 * A job may run a recovery's machine only after claiming it: queued or parked recoveries are free, and a job
 * may always re-claim what it already owns (a stalled job picked up again, or bull's retry of the same job).
 * The instance lock gives "one active recovery per instance" across incidents.
 * KEYS: 1 recovery hash, 2 instance lock (or a dummy key), 3 recovery index. ARGV: 1 job id, 2 recovery id,
 * 3 '1' to lock, 4 status index prefix.
 */
const CLAIM = `${LUA_INDEX_FUNCTIONS}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status == 'done' then return 'done' end
local owner = redis.call('HGET', KEYS[1], 'job')
if not (status == 'queued' or status == 'waiting' or owner == ARGV[1]) then return 'busy' end
if ARGV[3] == '1' then
  local holder = redis.call('GET', KEYS[2])
  if holder and holder ~= ARGV[2] then return 'instance-busy' end
  redis.call('SET', KEYS[2], ARGV[2])
end
redis.call('HSET', KEYS[1], 'status', 'running', 'job', ARGV[1])
rsr_recovery_status(ARGV[4], ARGV[2], 'running', redis.call('ZSCORE', KEYS[3], ARGV[2]) or 0)
return 'ok'
`;

/** Lets go of a claim. KEYS: 1 recovery hash, 2 recovery index. ARGV: 1 job id, 2 new status, 3 id, 4 status prefix. */
const RELEASE = `${LUA_INDEX_FUNCTIONS}
if redis.call('HGET', KEYS[1], 'job') == ARGV[1] and redis.call('HGET', KEYS[1], 'status') ~= 'done' then
  redis.call('HSET', KEYS[1], 'status', ARGV[2])
  rsr_recovery_status(ARGV[4], ARGV[3], ARGV[2], redis.call('ZSCORE', KEYS[2], ARGV[3]) or 0)
  return 1
end
return 0
`;

/**
 * Creates a recovery unless one exists under its id, with its indexes.
 * KEYS: 1 recovery hash, 2 recovery index. ARGV: 1 id, 2 data, 3 status, 4 score, 5 index keys (JSON), 6 status prefix.
 */
const CREATE = `${LUA_INDEX_FUNCTIONS}
if redis.call('HSETNX', KEYS[1], 'data', ARGV[2]) == 0 then return 0 end
redis.call('HSETNX', KEYS[1], 'status', ARGV[3])
redis.call('ZADD', KEYS[2], 'NX', ARGV[4], ARGV[1])
rsr_reindex(KEYS[1], ARGV[1], ARGV[4], ARGV[5])
rsr_recovery_status(ARGV[6], ARGV[1], ARGV[3], ARGV[4])
return 1
`;

/**
 * A recovery's new state, its status set and its other indexes in one step.
 * KEYS: 1 recovery hash, 2 recovery index. ARGV: 1 id, 2 data, 3 status, 4 snapshot ('' = unchanged),
 * 5 index keys (JSON), 6 status prefix, 7 score when the recovery is missing from the index.
 */
const SAVE = `${LUA_INDEX_FUNCTIONS}
local score = redis.call('ZSCORE', KEYS[2], ARGV[1]) or ARGV[7]
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'status', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'snapshot', ARGV[4]) end
rsr_reindex(KEYS[1], ARGV[1], score, ARGV[5])
rsr_recovery_status(ARGV[6], ARGV[1], ARGV[3], score)
return 1
`;

/**
 * An operator's cancel: recorded once, unless the recovery already finished. KEYS: 1 recovery hash.
 * ARGV: 1 request JSON. Returns 'done', 'set' or 'already'.
 */
const REQUEST_CANCEL = `
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status == 'done' then return 'done' end
if redis.call('HSETNX', KEYS[1], 'cancel', ARGV[1]) == 1 then return 'set' end
return 'already'
`;

/**
 * Reopens finished recoveries (and the incident) for a retry, all or nothing: every recovery must still be in
 * the status the plan expects, and the incident's subject must not be held by another open incident.
 * ARGV: 1 plan (JSON, see ReopenPlan with keys resolved), 2 status prefix of recoveries, 3 of incidents,
 * 4 incident key prefix. Returns {'ok', round…}, {'conflict', id, status} or {'subject-busy', holder}.
 */
const REOPEN = `${LUA_INDEX_FUNCTIONS}
local plan = cjson.decode(ARGV[1])
local function allowed(list, status)
  for _, s in ipairs(list) do if s == status then return true end end
  return false
end
for _, r in ipairs(plan.checks) do
  local status = redis.call('HGET', r.key, 'status') or 'missing'
  if not allowed(r.expect, status) then return {'conflict', r.id, status} end
end
if plan.incident then
  local holder = redis.call('GET', plan.incident.subjectKey)
  if holder and holder ~= plan.incident.id then
    local data = redis.call('HGET', ARGV[4] .. holder, 'data')
    if data and cjson.decode(data).status == 'open' then return {'subject-busy', holder} end
  end
end
local rounds = {'ok'}
for _, r in ipairs(plan.reopen) do
  local score = redis.call('ZSCORE', r.indexKey, r.id) or r.score
  redis.call('HSET', r.key, 'data', r.data, 'status', r.status)
  if r.snapshot == '' then redis.call('HDEL', r.key, 'snapshot') else redis.call('HSET', r.key, 'snapshot', r.snapshot) end
  redis.call('HDEL', r.key, 'cancel', 'preempt', 'resume', 'lastActive')
  table.insert(rounds, redis.call('HINCRBY', r.key, 'round', 1))
  rsr_reindex(r.key, r.id, score, r.ix)
  rsr_recovery_status(ARGV[2], r.id, r.status, score)
end
for _, c in ipairs(plan.forget) do redis.call('HDEL', c.key, c.child) end
if plan.incident then
  redis.call('HSET', plan.incident.key, 'data', plan.incident.data)
  rsr_incident_status(ARGV[3], plan.incident.id, 'open', plan.incident.score)
  redis.call('SET', plan.incident.subjectKey, plan.incident.id)
end
return rounds
`;

/** Where a retry may resume a recovery: a persisted snapshot, the state it is in, and whether that state waits. */
export interface ResumePoint {
  readonly workflow: string;
  readonly state: string;
  readonly snapshot: unknown;
  readonly waiting: boolean;
}

/** An operator's request to cancel a recovery (`Engine.cancel`), read by whoever runs it next. */
export interface CancelRequest {
  readonly by: string;
  readonly reason?: string;
  readonly at: string;
  /** Set when the request was made on an ancestor: this recovery goes with it. */
  readonly via?: string;
}

/** What `Engine.retry` reopens, in one atomic step (`RecoveryStore.reopen`). */
export interface ReopenPlan {
  /** Recoveries that must be in one of `expect` (the ones reopened, and ancestors left waiting). */
  readonly checks: readonly { readonly id: string; readonly expect: readonly (RecoveryStatus | 'missing')[] }[];
  readonly reopen: readonly { readonly recovery: Recovery; readonly snapshot: unknown | undefined }[];
  /** Child results to forget (the child runs again): parent → child. */
  readonly forget: readonly { readonly parent: string; readonly child: string }[];
  readonly incident?: { readonly id: string; readonly data: string; readonly dedupeKey: string; readonly score: number };
}

export type ReopenResult =
  | { readonly kind: 'ok'; readonly rounds: number[] }
  | { readonly kind: 'conflict'; readonly id: string; readonly status: string }
  | { readonly kind: 'subject-busy'; readonly holder: string };

interface StoredFields {
  data?: string;
  status?: string;
  snapshot?: string;
}

type ScriptCommands = Record<'rsrCreateRecovery' | 'rsrSaveRecovery', (...args: (string | number)[]) => unknown>;

export class RecoveryStore {
  constructor(private readonly redis: Redis, private readonly keys: Keys) {
    redis.defineCommand('rsrClaimRecovery', { numberOfKeys: 3, lua: CLAIM });
    redis.defineCommand('rsrReleaseRecovery', { numberOfKeys: 2, lua: RELEASE });
    redis.defineCommand('rsrCreateRecovery', { numberOfKeys: 2, lua: CREATE });
    redis.defineCommand('rsrSaveRecovery', { numberOfKeys: 2, lua: SAVE });
  }

  /** A script on a MULTI: the defined command when the MULTI comes from our client, else a plain EVAL. */
  private script(multi: ChainableCommander, name: keyof ScriptCommands, lua: string, args: (string | number)[]): void {
    const defined = (multi as unknown as Partial<ScriptCommands>)[name];
    if (typeof defined === 'function') defined.call(multi, ...args);
    else multi.eval(lua, 2, ...args);
  }

  /** Writes a new recovery unless one exists under that id (creation is idempotent), with its indexes. */
  create(multi: ChainableCommander, recovery: Recovery, score: number): ChainableCommander {
    this.script(multi, 'rsrCreateRecovery', CREATE, [
      this.keys.recovery(recovery.id), this.keys.recoveryIndex(),
      recovery.id, JSON.stringify(recovery), recovery.status, score, JSON.stringify(recoveryIndexKeys(this.keys, recovery)), recoveryStatusPrefix(this.keys),
    ]);
    return multi;
  }

  async get(id: string): Promise<Recovery | undefined> {
    const fields = (await this.redis.hgetall(this.keys.recovery(id))) as StoredFields;
    if (!fields.data) return undefined;
    const recovery = JSON.parse(fields.data) as Recovery;
    return { ...recovery, status: (fields.status ?? recovery.status) as RecoveryStatus };
  }

  async snapshot(id: string): Promise<unknown | undefined> {
    const raw = await this.redis.hget(this.keys.recovery(id), 'snapshot');
    return raw ? JSON.parse(raw) : undefined;
  }

  async claim(id: string, jobId: string, instance?: string): Promise<ClaimResult> {
    const lockKey = instance ? this.keys.activeInstance(instance) : this.keys.recovery(id);
    const run = (this.redis as unknown as { rsrClaimRecovery(...args: string[]): Promise<string> }).rsrClaimRecovery;
    return (await run.call(this.redis, this.keys.recovery(id), lockKey, this.keys.recoveryIndex(), jobId, id, instance ? '1' : '0', recoveryStatusPrefix(this.keys))) as ClaimResult;
  }

  /**
   * Lets go of a claim without running: the recovery is `queued` (waiting for a slot) or `waiting` (held)
   * again, free for the next job. Only the job holding the claim may do it.
   */
  async release(id: string, jobId: string, status: 'queued' | 'waiting'): Promise<boolean> {
    const run = (this.redis as unknown as { rsrReleaseRecovery(...args: string[]): Promise<number> }).rsrReleaseRecovery;
    const released = await run.call(this.redis, this.keys.recovery(id), this.keys.recoveryIndex(), jobId, status, id, recoveryStatusPrefix(this.keys));
    return released === 1;
  }

  /**
   * Adds the writes of a recovery's new state to a MULTI: data, status and (optionally) the machine snapshot,
   * with its index memberships moved in the same script.
   */
  save(multi: ChainableCommander, recovery: Recovery, snapshot?: unknown): ChainableCommander {
    this.script(multi, 'rsrSaveRecovery', SAVE, [
      this.keys.recovery(recovery.id), this.keys.recoveryIndex(),
      recovery.id, JSON.stringify(recovery), recovery.status, snapshot === undefined ? '' : JSON.stringify(snapshot),
      JSON.stringify(recoveryIndexKeys(this.keys, recovery)), recoveryStatusPrefix(this.keys), Date.parse(recovery.createdAt) || 0,
    ]);
    return multi;
  }

  /**
   * Records where a retry may resume (execution.ts): `resume` (the state whose step failed, or the last wait),
   * `parked` (the last wait: where a parent takes a retried child back), `lastActive` (the state before the
   * final one, when nothing failed or waited).
   */
  markResumePoint(multi: ChainableCommander, id: string, field: 'resume' | 'parked' | 'lastActive', point: ResumePoint): ChainableCommander {
    multi.hset(this.keys.recovery(id), field, JSON.stringify(point));
    return multi;
  }

  /** What a retry needs: the current snapshot, the recorded resume points, and how many times it was reopened. */
  async retryPoints(id: string): Promise<{ snapshot?: unknown; resume?: ResumePoint; parked?: ResumePoint; lastActive?: ResumePoint; round: number }> {
    const [snapshot, resume, parked, lastActive, round] = await this.redis.hmget(this.keys.recovery(id), 'snapshot', 'resume', 'parked', 'lastActive', 'round');
    const parse = <T>(raw: string | null): T | undefined => (raw ? (JSON.parse(raw) as T) : undefined);
    return { snapshot: parse(snapshot), resume: parse(resume), parked: parse(parked), lastActive: parse(lastActive), round: Number(round ?? 0) };
  }

  /** How many times the recovery was reopened by a retry (0: never). */
  async round(id: string): Promise<number> {
    return Number((await this.redis.hget(this.keys.recovery(id), 'round')) ?? 0);
  }

  /** Records an operator's cancel unless the recovery finished; a second request keeps the first. */
  async requestCancel(id: string, request: CancelRequest): Promise<'done' | 'set' | 'already' | 'missing'> {
    return (await this.redis.eval(REQUEST_CANCEL, 1, this.keys.recovery(id), JSON.stringify(request))) as 'done' | 'set' | 'already' | 'missing';
  }

  /** The cancel request that applies to this recovery: its own, or its parent's (children go with their parent). */
  async cancelRequest(recovery: Pick<Recovery, 'id' | 'parentId'>): Promise<CancelRequest | undefined> {
    const pipeline = this.redis.pipeline().hget(this.keys.recovery(recovery.id), 'cancel');
    if (recovery.parentId) pipeline.hget(this.keys.recovery(recovery.parentId), 'cancel');
    const [own, parent] = ((await pipeline.exec()) ?? []).map(([, value]) => value as string | null);
    if (own) return JSON.parse(own) as CancelRequest;
    if (parent && recovery.parentId) return { ...(JSON.parse(parent) as CancelRequest), via: recovery.parentId };
    return undefined;
  }

  /** Applies a retry's plan atomically (see REOPEN). */
  async reopen(plan: ReopenPlan, incidentKey: (id: string) => string, subjectKey: (dedupeKey: string) => string, incidentStatusPrefix: string): Promise<ReopenResult> {
    const k = this.keys;
    const resolved = {
      checks: plan.checks.map((c) => ({ id: c.id, key: k.recovery(c.id), expect: c.expect })),
      reopen: plan.reopen.map(({ recovery, snapshot }) => ({
        id: recovery.id, key: k.recovery(recovery.id), indexKey: k.recoveryIndex(), score: String(Date.parse(recovery.createdAt) || 0),
        data: JSON.stringify(recovery), status: recovery.status, snapshot: snapshot === undefined ? '' : JSON.stringify(snapshot),
        ix: JSON.stringify(recoveryIndexKeys(k, recovery)),
      })),
      forget: plan.forget.map((f) => ({ key: k.childResults(f.parent), child: f.child })),
      ...(plan.incident ? { incident: { id: plan.incident.id, key: incidentKey(plan.incident.id), data: plan.incident.data, subjectKey: subjectKey(plan.incident.dedupeKey), score: String(plan.incident.score) } } : {}),
    };
    const reply = (await this.redis.eval(REOPEN, 0, JSON.stringify(resolved), recoveryStatusPrefix(k), incidentStatusPrefix, incidentKey(''))) as (string | number)[];
    if (reply[0] === 'conflict') return { kind: 'conflict', id: String(reply[1]), status: String(reply[2]) };
    if (reply[0] === 'subject-busy') return { kind: 'subject-busy', holder: String(reply[1]) };
    return { kind: 'ok', rounds: reply.slice(1).map(Number) };
  }

  releaseInstance(multi: ChainableCommander, instance: string, recoveryId: string): ChainableCommander {
    // Only the holder may release; a plain DEL could free another recovery's lock.
    multi.eval(
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
      1,
      this.keys.activeInstance(instance),
      recoveryId,
    );
    return multi;
  }

  /** Loads recoveries by id, in order, leaving out missing ones. */
  async getMany(ids: readonly string[]): Promise<Recovery[]> {
    const rows = await Promise.all(ids.map((id) => this.get(id)));
    return rows.filter((r): r is Recovery => r !== undefined);
  }
}
