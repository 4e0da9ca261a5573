import type { ChainableCommander, Redis } from 'ioredis';
import type { Recovery, RecoveryStatus } from '../domain';
import type { Keys } from './keys';

export type ClaimResult = 'ok' | 'done' | 'missing' | 'busy' | 'instance-busy';

/**
 * A job may run a recovery's machine only after claiming it: queued or parked recoveries are free, and a job
 * may always re-claim what it already owns (a stalled job picked up again, or bull's retry of the same job).
 * The instance lock gives "one active recovery per instance" across incidents.
 * KEYS: 1 recovery hash, 2 instance lock (or a dummy key). ARGV: 1 job id, 2 recovery id, 3 '1' to lock.
 */
const CLAIM = `
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
return 'ok'
`;

interface StoredFields {
  data?: string;
  status?: string;
  snapshot?: string;
}

export class RecoveryStore {
  constructor(private readonly redis: Redis, private readonly keys: Keys) {
    redis.defineCommand('rsrClaimRecovery', { numberOfKeys: 2, lua: CLAIM });
  }

  /** Writes a new recovery unless one exists under that id (creation is idempotent). */
  create(multi: ChainableCommander, recovery: Recovery, score: number): ChainableCommander {
    const key = this.keys.recovery(recovery.id);
    multi.hsetnx(key, 'data', JSON.stringify(recovery));
    multi.hsetnx(key, 'status', recovery.status);
    multi.zadd(this.keys.recoveryIndex(), 'NX', score, recovery.id);
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
    return (await run.call(this.redis, this.keys.recovery(id), lockKey, jobId, id, instance ? '1' : '0')) as ClaimResult;
  }

  /**
   * Lets go of a claim without running: the recovery is `queued` (waiting for a slot) or `waiting` (held)
   * again, free for the next job. Only the job holding the claim may do it.
   */
  async release(id: string, jobId: string, status: 'queued' | 'waiting'): Promise<boolean> {
    const released = await this.redis.eval(
      "if redis.call('HGET', KEYS[1], 'job') == ARGV[1] and redis.call('HGET', KEYS[1], 'status') ~= 'done' then redis.call('HSET', KEYS[1], 'status', ARGV[2]) return 1 end return 0",
      1, this.keys.recovery(id), jobId, status,
    );
    return released === 1;
  }

  /** Adds the writes of a recovery's new state to a MULTI: data, status and (optionally) the machine snapshot. */
  save(multi: ChainableCommander, recovery: Recovery, snapshot?: unknown): ChainableCommander {
    const key = this.keys.recovery(recovery.id);
    multi.hset(key, 'data', JSON.stringify(recovery), 'status', recovery.status);
    if (snapshot !== undefined) multi.hset(key, 'snapshot', JSON.stringify(snapshot));
    return multi;
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

  async list(options: { offset?: number; limit?: number } = {}): Promise<Recovery[]> {
    const ids = await this.redis.zrevrange(this.keys.recoveryIndex(), options.offset ?? 0, (options.offset ?? 0) + (options.limit ?? 100) - 1);
    const rows = await Promise.all(ids.map((id) => this.get(id)));
    return rows.filter((r): r is Recovery => r !== undefined);
  }
}
