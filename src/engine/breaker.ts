/**
 * The mass-failure breaker. Many hosts of one zone (aggregate, segment) failing within a short window is
 * likelier a network partition, a switch or a message-bus outage than many fires at once; fencing them all
 * would power off healthy hosts and evacuating them would rebuild their VMs a second time elsewhere. So when
 * more than `maxHosts` hosts, or more than `maxShare` of a scope's hosts, fail within `windowSeconds`, the
 * breaker of that scope OPENS: the recoveries of the hosts that failed (in the window and while it is open)
 * are held at their next job start (a `RecoveryGate`) until an operator approves some or all of them, or
 * closes the breaker. Every change is audited (global stream, the scope's trail `breaker:<scope>`, and each
 * affected incident's trail) and the opening is notified as critical.
 *
 * What counts: `host-down` and `service-down`. Both are what a partition produces en masse (the monitor
 * loses the host; nova-compute stops reporting over a broken network or message bus), and both start
 * workflows that act on the whole host (fence, disable, drain). `host-degraded` is a host reporting its own
 * hardware trouble — it is reachable, so it is no sign of a partition — and `instance-down` is about one VM.
 * A host counts once however many events it sends.
 *
 * What "held" cannot stop: a job already past the gate runs on to its end — the gate is asked when a job
 * starts, not between steps, and a step in flight is never interrupted. A host recovery that started before
 * the breaker opened may still fence in that job; its evacuations (separate jobs) then go on too, because
 * a confirmed fence exempts a host (see `enter`). docs/breaker.md says all of this for operators.
 *
 * State lives in Redis only, under `keys.breaker*`, so every engine and worker process shares one breaker,
 * and the changes that must be atomic (count and open; hold versus approve) are Lua scripts.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/config';
import type { AuditRecord, Clock, FailureKind, Host, Recovery } from '../domain';
import { InputError, isoNow } from '../domain';
import type { CloudDriver } from '../drivers/cloud/port';
import type { Notification, Notifier } from '../drivers/notify/port';
import type { AuditLog } from './audit-log';
import type { GatedJob, GateVerdict, RecoveryGate } from './gates';
import { GO } from './gates';
import type { Keys } from './keys';
import type { RecoveryQueue } from './recovery-queue';

export type BreakerSettings = Config['breaker'];

/** The failure kinds the breaker counts (see the module comment for why these two). */
export const COUNTED_KINDS: ReadonlySet<FailureKind> = new Set<FailureKind>(['host-down', 'service-down']);

/** Hosts without the fact that names their scope (or when the cloud could not be asked) count here. */
export const UNKNOWN_SCOPE = 'unknown';

/** How long one list of the cloud's hosts serves for (a burst of failures asks once). */
const HOSTS_CACHE_MS = 5_000;
/**
 * How old a list may be and still answer at once while a fresh one is fetched for the next failure. Zones and
 * their sizes change over days; listing a whole cloud (services, aggregates, hypervisors) takes Nova a second
 * when it is busy, and that second was spent before a failure's recovery could even start (found on the lab).
 */
const HOSTS_STALE_MS = 10 * 60_000;
const FACTS_TIMEOUT_MS = 3_000;

export interface BreakerDeps {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly queue: RecoveryQueue;
  readonly audit: AuditLog;
  readonly notifier: Notifier;
  readonly cloud: CloudDriver;
  readonly clock: Clock;
  readonly log: Logger;
  readonly settings: BreakerSettings;
  /** Who writes the audit records (host:pid or a worker's name). */
  readonly node: string;
}

export interface HostFailure {
  readonly kind: FailureKind;
  readonly host: string;
  readonly incidentId: string;
}

/** What recording one failure did in one scope. */
export interface ScopeCount {
  readonly scope: string;
  /** `counted`: below the threshold; `opened`: this failure opened the breaker; `held`: it was already open. */
  readonly result: 'counted' | 'opened' | 'held';
  /** Distinct hosts of the scope failed within the window, this one included. */
  readonly failed: number;
  /** Hosts in the scope as the cloud lists them; undefined when unknown (no share test then). */
  readonly scopeHosts?: number;
}

export interface HeldRecovery {
  readonly recoveryId: string;
  readonly host: string;
  readonly heldAt: string;
}

export interface ScopeStatus {
  readonly scope: string;
  readonly open: boolean;
  readonly openedAt?: string;
  readonly reason?: string;
  readonly closedAt?: string;
  readonly closedBy?: string;
  /** Hosts failed within the window now, with the time of their last failure. */
  readonly failedHosts: readonly { readonly host: string; readonly at: string }[];
  /** Hosts whose recoveries are held while the breaker is open (failed in the window when it opened, or since). */
  readonly heldHosts: readonly string[];
  readonly approvedHosts: readonly string[];
  readonly heldRecoveries: readonly HeldRecovery[];
}

export interface BreakerStatus {
  readonly enabled: boolean;
  readonly scopeKind: BreakerSettings['scope'];
  readonly windowSeconds: number;
  readonly maxHosts: number;
  readonly maxShare: number;
  readonly minScopeHosts: number;
  readonly scopes: readonly ScopeStatus[];
}

export interface ReleaseResult {
  readonly scope: string;
  /** The hosts approved by this call (for `close`: every host that was held). */
  readonly approved: readonly string[];
  /** The held recoveries re-enqueued. */
  readonly released: readonly string[];
}

export type { GatedJob } from './gates';

/**
 * Counts a failure and opens the breaker, atomically: two processes reporting the threshold-crossing hosts at
 * once open it once (only one of them gets `opened`).
 * KEYS: 1 failures (zset host → ms), 2 state (hash), 3 held hosts (set), 4 incidents (hash host → incident),
 * 5 scope index (set).
 * ARGV: 1 host, 2 now ms, 3 window ms, 4 maxHosts, 5 maxShare, 6 scope hosts (-1 unknown), 7 minScopeHosts,
 * 8 scope, 9 incident id.
 */
const RECORD = `
local host, now, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local maxHosts, maxShare, scopeHosts, minScopeHosts = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
redis.call('ZADD', KEYS[1], now, host)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - window))
redis.call('HSET', KEYS[4], host, ARGV[9])
redis.call('SADD', KEYS[5], ARGV[8])
local failed = redis.call('ZCARD', KEYS[1])
if redis.call('HGET', KEYS[2], 'status') == 'open' then
  redis.call('SADD', KEYS[3], host)
  return {'held', failed}
end
local byCount = maxHosts > 0 and failed > maxHosts
local byShare = maxShare > 0 and scopeHosts > 0 and scopeHosts >= minScopeHosts and (failed / scopeHosts) > maxShare
if not (byCount or byShare) then return {'counted', failed} end
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[3])
redis.call('SADD', KEYS[3], unpack(members))
redis.call('HSET', KEYS[2], 'status', 'open', 'openedAt', now, 'failed', failed, 'scopeHosts', scopeHosts,
  'reason', byCount and 'count' or 'share')
redis.call('HDEL', KEYS[2], 'closedAt', 'closedBy')
local out = {'opened', failed}
for _, m in ipairs(members) do table.insert(out, m) end
return out
`;

/**
 * The gate's check and the hold, in one step, so an approval can never slip between them (a recovery
 * recorded as held after the approval read the held set would never be released).
 * KEYS: 1 state, 2 held hosts, 3 approved, 4 held recoveries (hash id → JSON), 5 the incident's fence
 * evidence for the host. ARGV: 1 host, 2 recovery id, 3 held-at ISO time, 4 event JSON or ''.
 * Returns {'go', why} or {'hold', 1 when newly held}.
 */
const ENTER = `
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then return {'go', 'closed'} end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return {'go', 'not held'} end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return {'go', 'approved'} end
if redis.call('EXISTS', KEYS[5]) == 1 then return {'go', 'fenced'} end
local raw = redis.call('HGET', KEYS[4], ARGV[2])
local entry
if raw then entry = cjson.decode(raw) else entry = {host = ARGV[1], heldAt = ARGV[3], events = {}} end
if ARGV[4] ~= '' then
  if type(entry.events) ~= 'table' then entry.events = {} end
  table.insert(entry.events, cjson.decode(ARGV[4]))
end
redis.call('HSET', KEYS[4], ARGV[2], cjson.encode(entry))
if raw then return {'hold', 0} end
return {'hold', 1}
`;

/**
 * Approves hosts (or every held host: ARGV[1] == '*') while the breaker stays open; returns the held
 * recoveries of those hosts (removed by the caller once their wakes are enqueued).
 * KEYS: 1 state, 2 held hosts, 3 approved, 4 held recoveries. ARGV: 1 '*' or '', 2.. hosts.
 * Returns {'closed'} | {'unknown', host} | {'ok', hosts JSON, entries JSON}.
 */
const APPROVE = `
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then return {'closed'} end
local hosts
if ARGV[1] == '*' then
  hosts = redis.call('SMEMBERS', KEYS[2])
else
  hosts = {}
  for i = 2, #ARGV do
    if redis.call('SISMEMBER', KEYS[2], ARGV[i]) == 0 then return {'unknown', ARGV[i]} end
    table.insert(hosts, ARGV[i])
  end
end
local chosen = {}
for _, h in ipairs(hosts) do chosen[h] = true end
if #hosts > 0 then redis.call('SADD', KEYS[3], unpack(hosts)) end
local entries = {}
local all = redis.call('HGETALL', KEYS[4])
for i = 1, #all, 2 do
  local entry = cjson.decode(all[i + 1])
  if chosen[entry.host] then
    entry.recoveryId = all[i]
    table.insert(entries, entry)
  end
end
return {'ok', cjson.encode(hosts), cjson.encode(entries)}
`;

/**
 * Closes the breaker: every held recovery is released and the window starts again from nothing.
 * KEYS: 1 state, 2 held hosts, 3 approved, 4 held recoveries, 5 failures. ARGV: 1 now ms, 2 by.
 * Returns {was open 1|0, held hosts JSON, entries JSON}.
 */
const CLOSE = `
local wasOpen = redis.call('HGET', KEYS[1], 'status') == 'open'
local hosts = redis.call('SMEMBERS', KEYS[2])
local entries = {}
local all = redis.call('HGETALL', KEYS[4])
for i = 1, #all, 2 do
  local entry = cjson.decode(all[i + 1])
  entry.recoveryId = all[i]
  table.insert(entries, entry)
end
redis.call('HSET', KEYS[1], 'status', 'closed', 'closedAt', ARGV[1], 'closedBy', ARGV[2])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[5])
return {wasOpen and 1 or 0, cjson.encode(hosts), cjson.encode(entries)}
`;

type Commands = {
  rsrBreakerRecord(...args: (string | number)[]): Promise<(string | number)[]>;
  rsrBreakerEnter(...args: (string | number)[]): Promise<[string, string | number]>;
  rsrBreakerApprove(...args: (string | number)[]): Promise<string[]>;
  rsrBreakerClose(...args: (string | number)[]): Promise<[number, string, string]>;
};

interface HeldEntry {
  readonly recoveryId: string;
  readonly host: string;
  readonly heldAt: string;
  /** cjson encodes an empty Lua table as `{}`: not always an array. */
  readonly events?: unknown;
}

export class MassFailureBreaker implements RecoveryGate {
  readonly name = 'breaker';
  /** The last list the cloud gave, and when. */
  private lastHosts?: { at: number; hosts: Host[] };
  /** The listing under way, shared by every failure that waits for it. */
  private listing?: Promise<Host[] | undefined>;

  constructor(private readonly deps: BreakerDeps) {
    const redis = deps.redis;
    redis.defineCommand('rsrBreakerRecord', { numberOfKeys: 5, lua: RECORD });
    redis.defineCommand('rsrBreakerEnter', { numberOfKeys: 5, lua: ENTER });
    redis.defineCommand('rsrBreakerApprove', { numberOfKeys: 4, lua: APPROVE });
    redis.defineCommand('rsrBreakerClose', { numberOfKeys: 5, lua: CLOSE });
  }

  get settings(): BreakerSettings {
    return this.deps.settings;
  }

  private get commands(): Commands {
    return this.deps.redis as unknown as Commands;
  }

  /**
   * Counts a host-level failure (called by `Engine.report` for a new incident, before its job exists, so a
   * failure that opens the breaker holds its own recovery too). Other kinds of failure are not counted.
   */
  async recordHostFailure(failure: HostFailure): Promise<ScopeCount[]> {
    const { keys, clock, settings } = this.deps;
    if (!COUNTED_KINDS.has(failure.kind)) return [];
    const hosts = await this.hosts();
    const facts = hosts?.find((h) => h.name === failure.host);
    const scopes = this.scopesOf(facts);
    await this.deps.redis.hset(keys.breakerHosts(), failure.host, JSON.stringify(scopes));
    const now = clock.now();
    const counts: ScopeCount[] = [];
    for (const scope of scopes) {
      const scopeHosts = scope === UNKNOWN_SCOPE || !hosts ? undefined : hosts.filter((h) => this.scopesOf(h).includes(scope)).length;
      const reply = await this.commands.rsrBreakerRecord.call(
        this.deps.redis,
        keys.breakerFailures(scope), keys.breakerState(scope), keys.breakerHeldHosts(scope), keys.breakerIncidents(scope), keys.breakerScopes(),
        failure.host, now, settings.windowSeconds * 1000, settings.maxHosts, settings.maxShare, scopeHosts ?? -1, settings.minScopeHosts,
        scope, failure.incidentId,
      );
      const result = String(reply[0]) as ScopeCount['result'];
      const failed = Number(reply[1]);
      const count: ScopeCount = { scope, result, failed, ...(scopeHosts !== undefined ? { scopeHosts } : {}) };
      counts.push(count);
      if (result === 'opened') await this.opened(count, reply.slice(2).map(String), failure);
      else if (result === 'held') await this.heldOnArrival(scope, failure);
    }
    return counts;
  }

  /**
   * The gate. A recovery is held when its subject host is held by an open breaker and not approved. Three
   * exceptions: a host whose power-off is already confirmed for this incident goes on (the harm the breaker
   * prevents — powering off a healthy host — is done, and evacuating is now the only way its VMs come
   * back), a wake carrying an operator's decision goes on (a person already decided about it), and so does a
   * recovery an operator asked for (`params.requestedBy`: a host's return to service).
   */
  async enter(recovery: Recovery, job?: GatedJob): Promise<GateVerdict> {
    const { redis, keys, clock } = this.deps;
    const host = recovery.subject.host;
    if (job?.event?.type === 'operator.decision') return GO;
    // An operator's own request (a host's return to service) is no automation to hold back.
    if (typeof recovery.params.requestedBy === 'string') return GO;
    const raw = await redis.hget(keys.breakerHosts(), host);
    if (!raw) return GO;
    for (const scope of parseScopes(raw)) {
      const [verdict, fresh] = await this.commands.rsrBreakerEnter.call(
        redis,
        keys.breakerState(scope), keys.breakerHeldHosts(scope), keys.breakerApproved(scope), keys.breakerHeld(scope), keys.fence(recovery.incidentId, host),
        host, recovery.id, isoNow(clock.now()), job?.event ? JSON.stringify(job.event) : '',
      );
      if (verdict !== 'hold') continue;
      const reason = `mass-failure breaker open for ${this.deps.settings.scope} ${scope}: ${host} is held until an operator approves it (resurrect breaker approve ${scope} --hosts ${host})`;
      // The runner writes the recovery's "held: <reason>" audit line; the log says it once per recovery.
      if (Number(fresh) === 1) this.deps.log.warn({ recovery: recovery.id, host, scope }, `recovery ${recovery.id} held: ${reason}`);
      return { kind: 'hold', reason };
    }
    return GO;
  }

  /**
   * An operator approves hosts of an open breaker (or every held host with 'all'): their held recoveries are
   * enqueued again, and later jobs of those hosts pass. The breaker stays open: hosts failing from now on are
   * held too.
   */
  async approve(scope: string, hosts: readonly string[] | 'all', by: string, comment?: string): Promise<ReleaseResult> {
    requireBy(by);
    await this.requireScope(scope);
    if (hosts !== 'all' && hosts.length === 0) throw new InputError('name at least one host to approve, or approve all', [{ path: 'hosts', message: 'empty' }]);
    const { keys } = this.deps;
    const reply = await this.commands.rsrBreakerApprove.call(
      this.deps.redis,
      keys.breakerState(scope), keys.breakerHeldHosts(scope), keys.breakerApproved(scope), keys.breakerHeld(scope),
      hosts === 'all' ? '*' : '', ...(hosts === 'all' ? [] : hosts),
    );
    if (reply[0] === 'closed') throw new InputError(`the breaker of ${scope} is not open: nothing to approve`, [{ path: 'scope', message: 'not open' }]);
    if (reply[0] === 'unknown') {
      const held = await this.deps.redis.smembers(keys.breakerHeldHosts(scope));
      throw new InputError(`${reply[1]} is not held by the breaker of ${scope} (held: ${held.sort().join(', ') || 'none'})`, [{ path: 'hosts', message: `not held: ${reply[1]}` }]);
    }
    const approved = (JSON.parse(reply[1] ?? '[]') as string[]).sort();
    const entries = JSON.parse(reply[2] ?? '[]') as HeldEntry[] | Record<string, never>;
    const released = await this.release(scope, Array.isArray(entries) ? entries : []);
    const list = approved.join(', ') || 'no host';
    const says = `breaker of ${this.deps.settings.scope} ${scope}: ${by} approved ${hosts === 'all' ? `every held host (${list})` : list}${comment ? ` (${comment})` : ''}; ${released.length} held recover${released.length === 1 ? 'y' : 'ies'} released; the breaker stays open`;
    await this.write({ incidentId: scopeTrail(scope), message: says, details: { scope, by, approved, released, ...(comment ? { comment } : {}) } });
    await this.auditIncidents(scope, approved, `${by} approved ${'{host}'} at the mass-failure breaker of ${scope}: its recovery resumes${comment ? ` (${comment})` : ''}`);
    await this.notify({ severity: 'warning', topic: 'breaker.approved', summary: says, details: { scope, by, approved } });
    this.deps.log.info({ scope, by, approved, released }, says);
    return { scope, approved, released };
  }

  /** Closes the breaker of a scope: every held recovery is released and the failure window starts afresh. */
  async close(scope: string, by: string, comment?: string): Promise<ReleaseResult & { readonly wasOpen: boolean }> {
    requireBy(by);
    await this.requireScope(scope);
    const { keys, clock } = this.deps;
    const [wasOpen, hostsJson, entriesJson] = await this.commands.rsrBreakerClose.call(
      this.deps.redis,
      keys.breakerState(scope), keys.breakerHeldHosts(scope), keys.breakerApproved(scope), keys.breakerHeld(scope), keys.breakerFailures(scope),
      clock.now(), by,
    );
    const held = (JSON.parse(hostsJson) as string[] | Record<string, never>);
    const hosts = Array.isArray(held) ? held.sort() : [];
    const entries = JSON.parse(entriesJson) as HeldEntry[] | Record<string, never>;
    const released = await this.release(scope, Array.isArray(entries) ? entries : []);
    const says = `breaker of ${this.deps.settings.scope} ${scope} closed by ${by}${comment ? ` (${comment})` : ''}${Number(wasOpen) === 1 ? '' : ' (it was not open)'}; ${released.length} held recover${released.length === 1 ? 'y' : 'ies'} released; failures are counted afresh`;
    await this.write({ incidentId: scopeTrail(scope), message: says, details: { scope, by, hosts, released, ...(comment ? { comment } : {}) } });
    await this.auditIncidents(scope, hosts, `the mass-failure breaker of ${scope} was closed by ${by}: the recovery of {host} resumes`);
    await this.notify({ severity: 'info', topic: 'breaker.closed', summary: says, details: { scope, by, hosts } });
    this.deps.log.info({ scope, by, released }, says);
    return { scope, approved: hosts, released, wasOpen: Number(wasOpen) === 1 };
  }

  async status(): Promise<BreakerStatus> {
    const { redis, keys, settings, clock } = this.deps;
    const names = (await redis.smembers(keys.breakerScopes())).sort();
    const since = clock.now() - settings.windowSeconds * 1000;
    const scopes = await Promise.all(names.map(async (scope): Promise<ScopeStatus> => {
      const [state, failures, heldHosts, approved, held] = await Promise.all([
        redis.hgetall(keys.breakerState(scope)),
        redis.zrangebyscore(keys.breakerFailures(scope), since, '+inf', 'WITHSCORES'),
        redis.smembers(keys.breakerHeldHosts(scope)),
        redis.smembers(keys.breakerApproved(scope)),
        redis.hgetall(keys.breakerHeld(scope)),
      ]);
      const failedHosts: { host: string; at: string }[] = [];
      for (let i = 0; i < failures.length; i += 2) failedHosts.push({ host: failures[i] as string, at: isoNow(Number(failures[i + 1])) });
      const open = state.status === 'open';
      return {
        scope,
        open,
        ...(state.openedAt ? { openedAt: isoNow(Number(state.openedAt)) } : {}),
        ...(open && state.reason ? { reason: describeReason(state, settings, scope) } : {}),
        ...(state.closedAt ? { closedAt: isoNow(Number(state.closedAt)) } : {}),
        ...(state.closedBy ? { closedBy: state.closedBy } : {}),
        failedHosts,
        heldHosts: heldHosts.sort(),
        approvedHosts: approved.sort(),
        heldRecoveries: Object.entries(held)
          .map(([recoveryId, json]) => {
            const entry = JSON.parse(json) as { host: string; heldAt: string };
            return { recoveryId, host: entry.host, heldAt: entry.heldAt };
          })
          .sort((a, b) => a.host.localeCompare(b.host) || a.recoveryId.localeCompare(b.recoveryId)),
      };
    }));
    return {
      enabled: settings.enabled, scopeKind: settings.scope, windowSeconds: settings.windowSeconds, maxHosts: settings.maxHosts,
      maxShare: settings.maxShare, minScopeHosts: settings.minScopeHosts, scopes,
    };
  }

  /** The scopes a host counts in under the configured grouping; `unknown` when the fact is missing. */
  scopesOf(host: Host | undefined): string[] {
    if (!host) return [UNKNOWN_SCOPE];
    switch (this.deps.settings.scope) {
      case 'zone':
        return [host.zone || UNKNOWN_SCOPE];
      case 'aggregate':
        return host.aggregates.length > 0 ? [...new Set(host.aggregates)] : [UNKNOWN_SCOPE];
      case 'segment': {
        const segments = host.tags.filter((tag) => tag.startsWith('segment:') && tag.length > 'segment:'.length).map((tag) => tag.slice('segment:'.length));
        return segments.length > 0 ? [...new Set(segments)] : [UNKNOWN_SCOPE];
      }
    }
  }

  /**
   * Wakes each released recovery under a fresh key. A recovery held before it ever ran has no snapshot, and
   * its run job (id = recovery id) may still exist as a completed bull job, so a run would be a no-op: a wake
   * is a new job; a fresh machine ignores the unknown `breaker.approved` event. A held wake (a decision, the
   * children being done) is delivered again as it was, when the runner told the gate about it.
   */
  private async release(scope: string, entries: readonly HeldEntry[]): Promise<string[]> {
    const { redis, keys, queue } = this.deps;
    const released: string[] = [];
    for (const entry of entries) {
      const n = await redis.incr(keys.breakerReleases());
      const events = Array.isArray(entry.events) ? (entry.events as { type: string; [k: string]: unknown }[]) : [];
      if (events.length === 0) await queue.enqueueWake(entry.recoveryId, `breaker-approved-${n}`, { type: 'breaker.approved', scope });
      for (const [i, event] of events.entries()) await queue.enqueueWake(entry.recoveryId, `breaker-approved-${n}-${i}`, event);
      // Only once its wake exists: a crash before this leaves it held, to be released by the next approval.
      await redis.hdel(keys.breakerHeld(scope), entry.recoveryId);
      released.push(entry.recoveryId);
    }
    return released.sort();
  }

  private async opened(count: ScopeCount, hosts: readonly string[], trigger: HostFailure): Promise<void> {
    const { settings } = this.deps;
    const why = count.scopeHosts !== undefined
      ? `${count.failed} of ${count.scopeHosts} hosts failed within ${settings.windowSeconds} s`
      : `${count.failed} hosts failed within ${settings.windowSeconds} s`;
    const limits = [
      settings.maxHosts > 0 ? `more than ${settings.maxHosts} hosts` : undefined,
      settings.maxShare > 0 ? `more than ${Math.round(settings.maxShare * 100)}% of a scope of at least ${settings.minScopeHosts}` : undefined,
    ].filter(Boolean).join(' or ');
    const says = `mass-failure breaker OPEN for ${settings.scope} ${count.scope}: ${why} (limit: ${limits}); fencing and evacuation of ${hosts.join(', ')} are held until an operator approves (resurrect breaker approve ${count.scope} [--hosts a,b]) or closes it`;
    await this.write({
      incidentId: scopeTrail(count.scope), message: says,
      details: { scope: count.scope, scopeKind: settings.scope, failed: count.failed, scopeHosts: count.scopeHosts ?? null, hosts, trigger: trigger.host, windowSeconds: settings.windowSeconds, maxHosts: settings.maxHosts, maxShare: settings.maxShare },
    });
    await this.auditIncidents(count.scope, hosts, `mass-failure breaker open for ${settings.scope} ${count.scope} (${why}): the recovery of {host} is held until an operator approves it`);
    await this.notify({ severity: 'critical', topic: 'breaker.opened', summary: says, details: { scope: count.scope, hosts, failed: count.failed, scopeHosts: count.scopeHosts ?? null } });
    this.deps.log.error({ scope: count.scope, hosts }, says);
  }

  private async heldOnArrival(scope: string, failure: HostFailure): Promise<void> {
    const says = `${failure.host} failed (${failure.kind}) while the mass-failure breaker of ${this.deps.settings.scope} ${scope} is open: its recovery is held until an operator approves it`;
    await this.write({ incidentId: scopeTrail(scope), message: says, details: { scope, host: failure.host, incident: failure.incidentId } });
    await this.write({ incidentId: failure.incidentId, message: says, details: { scope, host: failure.host } });
    this.deps.log.warn({ scope, host: failure.host }, says);
  }

  /** One record in the trail of each host's incident (`{host}` in the message is replaced). */
  private async auditIncidents(scope: string, hosts: readonly string[], template: string): Promise<void> {
    if (hosts.length === 0) return;
    const incidents = await this.deps.redis.hmget(this.deps.keys.breakerIncidents(scope), ...hosts);
    for (const [i, host] of hosts.entries()) {
      const incidentId = incidents[i];
      if (incidentId) await this.write({ incidentId, message: template.replace('{host}', host), details: { scope, host } });
    }
  }

  private async write(record: Omit<AuditRecord, 'at' | 'type' | 'worker'>): Promise<void> {
    await this.deps.audit.write({ at: isoNow(this.deps.clock.now()), type: 'breaker', worker: this.deps.node, ...record });
  }

  /** A notifier that is down must not undo the breaker: the audit trail and `breaker status` still say it. */
  private async notify(notification: Notification): Promise<void> {
    try {
      await this.deps.notifier.notify(notification);
    } catch (err) {
      this.deps.log.error({ err: (err as Error).message, topic: notification.topic }, `breaker notification ${notification.topic} failed: ${(err as Error).message}`);
    }
  }

  /**
   * The cloud's host list, shared by the reports of a burst; undefined when the cloud cannot say. Fresh (within
   * HOSTS_CACHE_MS) it answers alone; older but within HOSTS_STALE_MS it answers at once while a new listing
   * starts for the next failure; with none, or one too old, the failure waits for the listing.
   */
  private hosts(): Promise<Host[] | undefined> {
    const now = this.deps.clock.now();
    const last = this.lastHosts;
    if (last && now - last.at <= HOSTS_CACHE_MS) return Promise.resolve(last.hosts);
    this.listing ??= this.deps.cloud.listHosts({ signal: AbortSignal.timeout(FACTS_TIMEOUT_MS) })
      .then((hosts) => {
        this.lastHosts = { at: this.deps.clock.now(), hosts };
        return hosts;
      }, (err: unknown) => {
        this.deps.log.warn({ err: (err as Error).message }, `breaker: could not list the cloud's hosts (${(err as Error).message}); counting under scope ${UNKNOWN_SCOPE}`);
        return undefined;
      })
      .finally(() => { this.listing = undefined; });
    if (last && now - last.at <= HOSTS_STALE_MS) return Promise.resolve(last.hosts);
    return this.listing;
  }

  private async requireScope(scope: string): Promise<void> {
    if (await this.deps.redis.sismember(this.deps.keys.breakerScopes(), scope)) return;
    const known = (await this.deps.redis.smembers(this.deps.keys.breakerScopes())).sort();
    throw new InputError(`no breaker for ${this.deps.settings.scope} ${scope} (known: ${known.join(', ') || 'none'})`, [{ path: 'scope', message: 'unknown' }]);
  }
}

/** The audit trail of one scope's breaker: `resurrect audit breaker:<scope>`. */
export function scopeTrail(scope: string): string {
  return `breaker:${scope}`;
}

function parseScopes(raw: string): string[] {
  try {
    const scopes = JSON.parse(raw) as unknown;
    return Array.isArray(scopes) ? scopes.filter((s): s is string => typeof s === 'string') : [];
  } catch {
    return [];
  }
}

function requireBy(by: string): void {
  if (by.trim().length === 0) throw new InputError('a breaker change must name who makes it (--by)', [{ path: 'by', message: 'empty' }]);
}

function describeReason(state: Record<string, string>, settings: BreakerSettings, scope: string): string {
  const scopeHosts = Number(state.scopeHosts);
  const of = scopeHosts > 0 ? ` of ${scopeHosts}` : '';
  return `${state.failed}${of} hosts of ${settings.scope} ${scope} failed within ${settings.windowSeconds} s (${state.reason === 'count' ? `more than ${settings.maxHosts}` : `more than ${Math.round(settings.maxShare * 100)}%`})`;
}
