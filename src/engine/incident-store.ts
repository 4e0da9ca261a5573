import type { ChainableCommander, Redis } from 'ioredis';
import type { Incident, Outcome, Recovery } from '../domain';
import { incidentStatusOf } from '../domain';
import { INCIDENT_STATUSES, incidentIndexKeys, incidentStatusPrefix, LUA_INDEX_FUNCTIONS, recoveryIndexKeys, recoveryStatusPrefix } from './indexes';
import type { Keys } from './keys';

/**
 * Opening is atomic: the dedupe key (`host:compute-3`) is the lock, set only if free, in the same script that
 * writes the incident and its root recovery (and their filter indexes), so two identical events racing on two
 * API nodes open one incident, and a crash cannot leave an incident without its recovery.
 * KEYS: 1 dedupe key, 2 incident, 3 incident index, 4 recovery, 5 recovery index.
 * ARGV: 1 incident id, 2 incident JSON, 3 score, 4 recovery id, 5 recovery JSON, 6 recovery status,
 * 7 incident index keys (JSON), 8 recovery index keys (JSON), 9 incident status prefix, 10 recovery status prefix.
 */
const OPEN = `${LUA_INDEX_FUNCTIONS}
local existing = redis.call('GET', KEYS[1])
if existing then return {0, existing} end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'data', ARGV[2], 'duplicates', 0)
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
for _, k in ipairs(cjson.decode(ARGV[7])) do redis.call('ZADD', k, ARGV[3], ARGV[1]) end
rsr_incident_status(ARGV[9], ARGV[1], 'open', ARGV[3])
if redis.call('HSETNX', KEYS[4], 'data', ARGV[5]) == 1 then
  redis.call('HSETNX', KEYS[4], 'status', ARGV[6])
  rsr_reindex(KEYS[4], ARGV[4], ARGV[3], ARGV[8])
  rsr_recovery_status(ARGV[10], ARGV[4], ARGV[6], ARGV[3])
end
redis.call('ZADD', KEYS[5], 'NX', ARGV[3], ARGV[4])
return {1, ARGV[1]}
`;

/** After an incident closes its subject key lingers for the dedupe window. KEYS: 1 subject. ARGV: 1 id, 2 seconds. */
const RELEASE_SUBJECT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

/**
 * Deletes a dedupe key held by a closed incident (its dedupe window), atomically: never the key of an incident
 * open (or reopened by a retry) meanwhile. KEYS: 1 subject key, 2 the incident. ARGV: 1 its id.
 */
const CLEAR_CLOSED = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local data = redis.call('HGET', KEYS[2], 'data')
if data and cjson.decode(data).status == 'open' then return 0 end
return redis.call('DEL', KEYS[1])
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
      JSON.stringify(incidentIndexKeys(this.keys, incident, typeof recovery.params.sla === 'string' ? recovery.params.sla : undefined)),
      JSON.stringify(recoveryIndexKeys(this.keys, recovery)),
      incidentStatusPrefix(this.keys),
      recoveryStatusPrefix(this.keys),
    );
    return { created: created === 1, id };
  }

  async get(id: string): Promise<Incident | undefined> {
    const [data, duplicates] = await this.redis.hmget(this.keys.incident(id), 'data', 'duplicates');
    if (!data) return undefined;
    return { ...(JSON.parse(data) as Incident), duplicates: Number(duplicates ?? 0) as Incident['duplicates'] };
  }

  /**
   * Ends the dedupe window of a closed incident under `dedupeKey` early, when what it was about is over (the host
   * came back). True when the key was released; false when it names another incident or one open again.
   */
  async releaseClosed(dedupeKey: string, id: string): Promise<boolean> {
    return (await this.redis.eval(CLEAR_CLOSED, 2, this.keys.subject(dedupeKey), this.keys.incident(id), id)) === 1;
  }

  async countDuplicate(id: string): Promise<number> {
    return this.redis.hincrby(this.keys.incident(id), 'duplicates', 1);
  }

  close(multi: ChainableCommander, incident: Incident, outcome: Outcome, closedAt: string, reason: string | undefined, dedupeWindowSeconds: number): ChainableCommander {
    const status = incidentStatusOf(outcome);
    const closed: Incident = { ...incident, status, outcome, closedAt: closedAt as Incident['openedAt'], ...(reason ? { reason } : {}) };
    multi.hset(this.keys.incident(incident.id), 'data', JSON.stringify(closed));
    this.moveStatus(multi, incident, status);
    multi.eval(RELEASE_SUBJECT, 1, this.keys.subject(incident.dedupeKey), incident.id, Math.max(1, dedupeWindowSeconds));
    return multi;
  }

  /** The incident's id leaves every status set but `status`'s, in the caller's MULTI. */
  private moveStatus(multi: ChainableCommander, incident: Incident, status: Incident['status']): void {
    for (const other of INCIDENT_STATUSES) if (other !== status) multi.zrem(this.keys.incidentsBy('status', other), incident.id);
    multi.zadd(this.keys.incidentsBy('status', status), Date.parse(incident.openedAt) || 0, incident.id);
  }

  /**
   * A closed incident open again (a retry of its recovery): what `RecoveryStore.reopen` writes, in the script
   * that also checks its dedupe key is not held by another open incident and takes the key back.
   */
  reopened(incident: Incident): { id: string; data: string; dedupeKey: string; score: number } {
    const open: Incident = { ...incident, status: 'open' };
    delete (open as Partial<Incident>).closedAt;
    delete (open as Partial<Incident>).outcome;
    delete (open as Partial<Incident>).reason;
    return { id: incident.id, data: JSON.stringify(open), dedupeKey: incident.dedupeKey, score: Date.parse(incident.openedAt) || 0 };
  }

  /** Loads incidents by id, in order, leaving out missing ones. */
  async getMany(ids: readonly string[]): Promise<Incident[]> {
    const rows = await Promise.all(ids.map((id) => this.get(id)));
    return rows.filter((r): r is Incident => r !== undefined);
  }
}
