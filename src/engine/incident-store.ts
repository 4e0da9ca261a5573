import type { ChainableCommander, Redis } from 'ioredis';
import type { Incident, Outcome, Recovery } from '../domain';
import type { Keys } from './keys';

/**
 * Opening is atomic: the dedupe key (`host:compute-3`) is the lock, set only if free, in the same script that
 * writes the incident and its root recovery, so two identical events racing on two API nodes open one
 * incident, and a crash cannot leave an incident without its recovery.
 * KEYS: 1 dedupe key, 2 incident, 3 incident index, 4 recovery, 5 recovery index.
 * ARGV: 1 incident id, 2 incident JSON, 3 score, 4 recovery id, 5 recovery JSON, 6 recovery status.
 */
const OPEN = `
local existing = redis.call('GET', KEYS[1])
if existing then return {0, existing} end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'data', ARGV[2], 'duplicates', 0)
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('HSETNX', KEYS[4], 'data', ARGV[5])
redis.call('HSETNX', KEYS[4], 'status', ARGV[6])
redis.call('ZADD', KEYS[5], 'NX', ARGV[3], ARGV[4])
return {1, ARGV[1]}
`;

/** After an incident closes its subject key lingers for the dedupe window. KEYS: 1 subject. ARGV: 1 id, 2 seconds. */
const RELEASE_SUBJECT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

export class IncidentStore {
  constructor(private readonly redis: Redis, private readonly keys: Keys) {
    redis.defineCommand('rsrOpenIncident', { numberOfKeys: 5, lua: OPEN });
  }

  /**
   * Opens `incident` with its root `recovery` unless its dedupe key is held; returns the id of whichever
   * incident holds the key.
   */
  async open(incident: Incident, recovery: Recovery, score: number): Promise<{ created: boolean; id: string }> {
    const run = (this.redis as unknown as { rsrOpenIncident(...args: (string | number)[]): Promise<[number, string]> }).rsrOpenIncident;
    const [created, id] = await run.call(
      this.redis,
      this.keys.subject(incident.dedupeKey),
      this.keys.incident(incident.id),
      this.keys.incidentIndex(),
      this.keys.recovery(recovery.id),
      this.keys.recoveryIndex(),
      incident.id,
      JSON.stringify(incident),
      score,
      recovery.id,
      JSON.stringify(recovery),
      recovery.status,
    );
    return { created: created === 1, id };
  }

  async get(id: string): Promise<Incident | undefined> {
    const [data, duplicates] = await this.redis.hmget(this.keys.incident(id), 'data', 'duplicates');
    if (!data) return undefined;
    return { ...(JSON.parse(data) as Incident), duplicates: Number(duplicates ?? 0) as Incident['duplicates'] };
  }

  async countDuplicate(id: string): Promise<number> {
    return this.redis.hincrby(this.keys.incident(id), 'duplicates', 1);
  }

  close(multi: ChainableCommander, incident: Incident, outcome: Outcome, closedAt: string, reason: string | undefined, dedupeWindowSeconds: number): ChainableCommander {
    const status = outcome === 'recovered' || outcome === 'skipped' ? 'resolved' : 'escalated';
    const closed: Incident = { ...incident, status, outcome, closedAt: closedAt as Incident['openedAt'], ...(reason ? { reason } : {}) };
    multi.hset(this.keys.incident(incident.id), 'data', JSON.stringify(closed));
    multi.eval(RELEASE_SUBJECT, 1, this.keys.subject(incident.dedupeKey), incident.id, Math.max(1, dedupeWindowSeconds));
    return multi;
  }

  async list(options: { offset?: number; limit?: number } = {}): Promise<Incident[]> {
    const ids = await this.redis.zrevrange(this.keys.incidentIndex(), options.offset ?? 0, (options.offset ?? 0) + (options.limit ?? 100) - 1);
    const rows = await Promise.all(ids.map((id) => this.get(id)));
    return rows.filter((r): r is Incident => r !== undefined);
  }
}
