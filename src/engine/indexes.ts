import type { Redis } from 'ioredis';
import type { Incident, Recovery } from '../domain';
import { IncidentKind, IncidentStatus, InputError, Outcome, RecoveryStatus } from '../domain';
import type { Keys } from './keys';

/**
 * Filter indexes for listing incidents and recoveries without scanning their data: one sorted set per field
 * value (`<prefix>:ix:recoveries:host:compute-3`), scored by the time the incident opened or the recovery was
 * created (ms), so every set of one kind orders its members the same way and a time range is a score range.
 *
 * They are written in the same script or MULTI as the write they index (incident-store.ts, recovery-store.ts):
 * - the status of a recovery or an incident is in exactly one status set, moved by the very script that writes
 *   the status (claim, release, save, close, reopen), which removes the id from every other status set first;
 * - the other fields (host, workflow, outcome …) are listed in the record's hash field `ix` (a JSON array of the
 *   index keys it is in); a save diffs the new list against it, so a changed workflow (an escalation ladder's
 *   climb) or an outcome cleared by a retry leaves no stale membership.
 *
 * Records written before this build are only in the all-time indexes (`idx:incidents`, `idx:recoveries`):
 * an unfiltered list shows them, filters do not (there is no backfill; the next save of a recovery indexes it).
 */

export const INCIDENT_STATUSES = Object.keys(IncidentStatus.keys) as IncidentStatus[];
export const RECOVERY_STATUSES = Object.keys(RecoveryStatus.keys) as RecoveryStatus[];

/** A page of results, newest first. `nextCursor` is absent when there is nothing more. */
export interface Page<T> {
  readonly items: T[];
  readonly nextCursor?: string;
}

/** When, as ISO 8601 or epoch milliseconds. */
export type TimeBound = string | number;

interface CommonFilter {
  readonly host?: string;
  readonly instance?: string;
  readonly workflow?: string;
  readonly sla?: string;
  /** Opened (incidents) or created (recoveries) at or after / at or before. */
  readonly from?: TimeBound;
  readonly to?: TimeBound;
  /** Page size, 1–500 (default 50). */
  readonly limit?: number;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string;
}

export interface IncidentFilter extends CommonFilter {
  readonly status?: IncidentStatus;
  readonly kind?: IncidentKind;
}

export interface RecoveryFilter extends CommonFilter {
  readonly status?: RecoveryStatus;
  readonly outcome?: Outcome;
  /** Children of this recovery. */
  readonly parent?: string;
  /** Every recovery of this incident (its root and all descendants). */
  readonly incident?: string;
  /** true: root recoveries only (one per incident); false: children only. */
  readonly root?: boolean;
}

export const MAX_PAGE = 500;
const DEFAULT_PAGE = 50;
/** Entries of the smallest set one page may look at before it returns a short page with a cursor. */
const SCAN_BUDGET = 5_000;

/** The index keys (besides status) an incident is in. Never change after it opened. */
export function incidentIndexKeys(keys: Keys, incident: Incident, sla: string | undefined): string[] {
  const out = [
    keys.incidentsBy('host', incident.host),
    keys.incidentsBy('kind', incident.kind),
    keys.incidentsBy('workflow', incident.workflow),
  ];
  if (incident.instance) out.push(keys.incidentsBy('instance', incident.instance));
  if (sla) out.push(keys.incidentsBy('sla', sla));
  return out;
}

/** The index keys (besides status) a recovery is in, from its current record. */
export function recoveryIndexKeys(keys: Keys, recovery: Recovery): string[] {
  const out = [
    keys.recoveriesBy('host', recovery.subject.host),
    keys.recoveriesBy('workflow', recovery.workflow),
    keys.recoveriesBy('incident', recovery.incidentId),
    keys.recoveriesBy('root', recovery.parentId ? 'no' : 'yes'),
  ];
  if (recovery.parentId) out.push(keys.recoveriesBy('parent', recovery.parentId));
  if (recovery.subject.instance) out.push(keys.recoveriesBy('instance', recovery.subject.instance));
  if (typeof recovery.params.sla === 'string') out.push(keys.recoveriesBy('sla', recovery.params.sla));
  if (recovery.outcome) out.push(keys.recoveriesBy('outcome', recovery.outcome));
  return out;
}

export const recoveryStatusPrefix = (keys: Keys): string => keys.recoveriesBy('status', '');
export const incidentStatusPrefix = (keys: Keys): string => keys.incidentsBy('status', '');

const luaList = (values: readonly string[]): string => `{${values.map((v) => `'${v}'`).join(', ')}}`;

/**
 * Lua functions the stores' scripts start with. `rsr_reindex` diffs a record's `ix` list; `rsr_recovery_status`
 * / `rsr_incident_status` put the id in the one status set of its new status (and no other).
 */
export const LUA_INDEX_FUNCTIONS = `
local function rsr_reindex(hash, id, score, ixJson)
  local keep = {}
  for _, k in ipairs(cjson.decode(ixJson)) do
    keep[k] = true
    redis.call('ZADD', k, score, id)
  end
  local old = redis.call('HGET', hash, 'ix')
  if old then
    for _, k in ipairs(cjson.decode(old)) do
      if not keep[k] then redis.call('ZREM', k, id) end
    end
  end
  redis.call('HSET', hash, 'ix', ixJson)
end
local function rsr_move_status(statuses, prefix, id, status, score)
  for _, s in ipairs(statuses) do
    if s ~= status then redis.call('ZREM', prefix .. s, id) end
  end
  redis.call('ZADD', prefix .. status, score, id)
end
local function rsr_recovery_status(prefix, id, status, score)
  rsr_move_status(${luaList(RECOVERY_STATUSES)}, prefix, id, status, score)
end
local function rsr_incident_status(prefix, id, status, score)
  rsr_move_status(${luaList(INCIDENT_STATUSES)}, prefix, id, status, score)
end
`;

/**
 * One page of an intersection, newest first. The smallest set drives: it is walked from the cursor down
 * (ZREVRANGEBYSCORE in chunks) and each id is kept if every other set has it (ZSCORE). One more match than
 * asked is looked for, to know whether there is a next page. Atomic, so a page is a consistent cut; the walk
 * is bounded (`budget`), and a page that hits the bound ends early with a cursor where it stopped.
 * KEYS: the sets, smallest first. ARGV: 1 max score, 2 min score, 3 id after which to start among entries
 * scored exactly max ('' for none), 4 limit, 5 budget.
 * Returns {state, lastScore, lastId, id1, score1, …}: state 'end' (nothing more), 'more' (limit + 1 found),
 * 'budget' (stopped at lastScore/lastId).
 */
const PAGE = `
-- Byte order, as Redis orders equal scores (Lua's own comparison follows the server's locale).
local function bytes_ge(a, b)
  for i = 1, math.min(#a, #b) do
    local ca, cb = string.byte(a, i), string.byte(b, i)
    if ca ~= cb then return ca > cb end
  end
  return #a >= #b
end
local max, min, after = ARGV[1], ARGV[2], ARGV[3]
local maxNum = tonumber(max)
local limit, budget = tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {}
local found, scanned, offset, chunk = 0, 0, 0, 256
while true do
  local rows = redis.call('ZREVRANGEBYSCORE', KEYS[1], max, min, 'WITHSCORES', 'LIMIT', offset, chunk)
  if #rows == 0 then
    local result = {'end', '', ''}
    for _, v in ipairs(out) do table.insert(result, v) end
    return result
  end
  for i = 1, #rows, 2 do
    local id, score = rows[i], rows[i + 1]
    scanned = scanned + 1
    if not (after ~= '' and tonumber(score) == maxNum and bytes_ge(id, after)) then
      local ok = true
      for k = 2, #KEYS do
        if not redis.call('ZSCORE', KEYS[k], id) then ok = false break end
      end
      if ok then
        if found == limit then
          local result = {'more', '', ''}
          for _, v in ipairs(out) do table.insert(result, v) end
          return result
        end
        found = found + 1
        table.insert(out, id)
        table.insert(out, score)
      end
    end
    if scanned >= budget then
      local result = {'budget', score, id}
      for _, v in ipairs(out) do table.insert(result, v) end
      return result
    end
  end
  offset = offset + chunk
end
`;

interface Cursor {
  readonly score: number;
  readonly id: string;
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.score, cursor.id])).toString('base64url');
}

export function decodeCursor(raw: string): Cursor {
  try {
    const [score, id] = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as [unknown, unknown];
    if (typeof score === 'number' && Number.isFinite(score) && typeof id === 'string' && id.length > 0) return { score, id };
  } catch {
    // fall through
  }
  throw new InputError('invalid cursor', [{ path: 'cursor', message: 'not a cursor this server handed out' }]);
}

function toMs(value: TimeBound | undefined, path: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new InputError(`invalid ${path}`, [{ path, message: `expected an ISO 8601 time or epoch milliseconds, got ${JSON.stringify(value)}` }]);
  return ms;
}

function pageSize(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new InputError('invalid limit', [{ path: 'limit', message: `expected an integer from 1 to ${MAX_PAGE}, got ${limit}` }]);
  }
  return limit;
}

function check<T>(codec: { is(value: unknown): value is T; name: string }, value: unknown, path: string): void {
  if (value !== undefined && !codec.is(value)) throw new InputError(`invalid ${path}`, [{ path, message: `not a valid ${codec.name}: ${JSON.stringify(value)}` }]);
}

type PageCommand = { rsrIndexPage(numKeys: number, ...args: (string | number)[]): Promise<string[]> };

/** Reads the indexes: ids of one page for a filter. The stores load the records. */
export class Indexes {
  constructor(private readonly redis: Redis, private readonly keys: Keys) {
    redis.defineCommand('rsrIndexPage', { lua: PAGE });
  }

  incidentSets(filter: IncidentFilter): string[] {
    check(IncidentStatus, filter.status, 'status');
    check(IncidentKind, filter.kind, 'kind');
    const k = this.keys;
    const sets: string[] = [];
    if (filter.status) sets.push(k.incidentsBy('status', filter.status));
    if (filter.host) sets.push(k.incidentsBy('host', filter.host));
    if (filter.instance) sets.push(k.incidentsBy('instance', filter.instance));
    if (filter.kind) sets.push(k.incidentsBy('kind', filter.kind));
    if (filter.workflow) sets.push(k.incidentsBy('workflow', filter.workflow));
    if (filter.sla) sets.push(k.incidentsBy('sla', filter.sla));
    return sets.length > 0 ? sets : [k.incidentIndex()];
  }

  recoverySets(filter: RecoveryFilter): string[] {
    check(RecoveryStatus, filter.status, 'status');
    check(Outcome, filter.outcome, 'outcome');
    const k = this.keys;
    const sets: string[] = [];
    if (filter.status) sets.push(k.recoveriesBy('status', filter.status));
    if (filter.outcome) sets.push(k.recoveriesBy('outcome', filter.outcome));
    if (filter.host) sets.push(k.recoveriesBy('host', filter.host));
    if (filter.instance) sets.push(k.recoveriesBy('instance', filter.instance));
    if (filter.workflow) sets.push(k.recoveriesBy('workflow', filter.workflow));
    if (filter.sla) sets.push(k.recoveriesBy('sla', filter.sla));
    if (filter.parent) sets.push(k.recoveriesBy('parent', filter.parent));
    if (filter.incident) sets.push(k.recoveriesBy('incident', filter.incident));
    if (filter.root !== undefined) sets.push(k.recoveriesBy('root', filter.root ? 'yes' : 'no'));
    return sets.length > 0 ? sets : [k.recoveryIndex()];
  }

  /** One page of ids in the intersection of `sets`, newest first, within the filter's time range. */
  async page(sets: readonly string[], filter: CommonFilter): Promise<Page<string>> {
    const limit = pageSize(filter.limit);
    const from = toMs(filter.from, 'from');
    const to = toMs(filter.to, 'to');
    const cursor = filter.cursor ? decodeCursor(filter.cursor) : undefined;
    let max = to === undefined ? '+inf' : String(to);
    let after = '';
    if (cursor && (to === undefined || cursor.score <= to)) {
      max = String(cursor.score);
      after = cursor.id;
    }
    const min = from === undefined ? '-inf' : String(from);
    // The smallest set drives the walk; an empty one means an empty answer.
    const sizes = await Promise.all(sets.map((key) => this.redis.zcard(key)));
    if (sizes.some((n) => n === 0)) return { items: [] };
    const ordered = sets.map((key, i) => ({ key, n: sizes[i] ?? 0 })).sort((a, b) => a.n - b.n).map((s) => s.key);
    const reply = await (this.redis as unknown as PageCommand).rsrIndexPage(ordered.length, ...ordered, max, min, after, limit, SCAN_BUDGET);
    const [state, stopScore, stopId, ...rest] = reply;
    const items: string[] = [];
    let last: Cursor | undefined;
    for (let i = 0; i + 1 < rest.length; i += 2) {
      items.push(rest[i]!);
      last = { id: rest[i]!, score: Number(rest[i + 1]) };
    }
    if (state === 'more' && last) return { items, nextCursor: encodeCursor(last) };
    if (state === 'budget' && stopId) return { items, nextCursor: encodeCursor({ score: Number(stopScore), id: stopId }) };
    return { items };
  }
}
