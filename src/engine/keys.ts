/**
 * Every Redis key the engine uses, derived from one prefix (tests isolate themselves by prefix). Bull's own
 * keys live under `<prefix>:bull`: bull builds keys inside Lua, so isolation must go through its `prefix`.
 */
export class Keys {
  constructor(readonly prefix: string = 'rsr') {}

  get bullPrefix(): string { return `${this.prefix}:bull`; }

  incident(id: string): string { return `${this.prefix}:incident:${id}`; }
  /** dedupe key (`host:compute-3`, `host:compute-3:drain`) → the incident holding it. */
  subject(subject: string): string { return `${this.prefix}:subject:${subject}`; }
  incidentIndex(): string { return `${this.prefix}:idx:incidents`; }

  /**
   * Filter indexes (indexes.ts): one sorted set per field value, scored by the time the incident opened / the
   * recovery was created (ms), kept in the same script or MULTI as the write they index. `field` is `status`,
   * `host`, `instance`, `kind`, `workflow`, `sla` for incidents; `status`, `outcome`, `host`, `instance`,
   * `workflow`, `sla`, `parent`, `incident`, `root` for recoveries.
   */
  incidentsBy(field: string, value: string): string { return `${this.prefix}:ix:incidents:${field}:${value}`; }

  recovery(id: string): string { return `${this.prefix}:recovery:${id}`; }
  recoveryIndex(): string { return `${this.prefix}:idx:recoveries`; }
  recoveriesBy(field: string, value: string): string { return `${this.prefix}:ix:recoveries:${field}:${value}`; }
  /** Counter giving each operator decision on a recovery its own wake job. */
  decisions(id: string): string { return `${this.prefix}:decisions:${id}`; }
  /** child key → child recovery id, written in full before any child job exists. */
  children(parentId: string): string { return `${this.prefix}:children:${parentId}`; }
  /** child recovery id → its final result; the parent wakes when this is as long as `children`. */
  childResults(parentId: string): string { return `${this.prefix}:child-results:${parentId}`; }
  /** One active recovery per instance: instance id → recovery id. */
  activeInstance(instance: string): string { return `${this.prefix}:active:instance:${instance}`; }
  fence(incidentId: string, host: string): string { return `${this.prefix}:fence:${incidentId}:${host}`; }
  /**
   * When a host was last powered back on by a return to service (ms): fence evidence recorded for it before
   * then no longer counts, whatever incident recorded it (step-engine.ts `fenceEvidence`).
   */
  hostReturned(host: string): string { return `${this.prefix}:returned:${host}`; }
  /** Manual fencing of a host: a hash with the pending power-off `request` and the operator's `confirmation`. */
  manualFence(host: string): string { return `${this.prefix}:manual-fence:${host}`; }

  /** Set once when a recovery's SLA deadline passes before it finished (escalation.ts). */
  deadlineBreached(id: string): string { return `${this.prefix}:breached:${id}`; }
  /** Recoveries waiting for a slot, by rank (admission.ts). */
  admissionWaiting(): string { return `${this.prefix}:admission:waiting`; }
  /** Waiting recoveries already handed a job: id → until (ms). */
  admissionPromoted(): string { return `${this.prefix}:admission:promoted`; }
  /** Slot holders of one pool (`global`, `target:<host>`): id → lease end (ms). */
  admissionSlots(pool: string): string { return `${this.prefix}:admission:slots:${pool}`; }
  /** The target host each waiting recovery will land on ('' for none), so a freed slot goes to one that fits. */
  admissionTargets(): string { return `${this.prefix}:admission:targets`; }

  /** The mass-failure breaker (breaker.ts): the scopes it has seen (set). */
  breakerScopes(): string { return `${this.prefix}:breaker:scopes`; }
  /** host → JSON array of the scopes it was last counted in: lets a job's gate check find a host's breaker without cloud facts. */
  breakerHosts(): string { return `${this.prefix}:breaker:hosts`; }
  /** Per scope: failed hosts by time (zset, the window), state (hash), held and approved hosts (sets), held recoveries (hash). */
  breakerFailures(scope: string): string { return `${this.prefix}:breaker:scope:${scope}:failures`; }
  breakerState(scope: string): string { return `${this.prefix}:breaker:scope:${scope}:state`; }
  breakerHeldHosts(scope: string): string { return `${this.prefix}:breaker:scope:${scope}:held-hosts`; }
  breakerApproved(scope: string): string { return `${this.prefix}:breaker:scope:${scope}:approved`; }
  breakerHeld(scope: string): string { return `${this.prefix}:breaker:scope:${scope}:held`; }
  /** host → the incident its failure opened (for the per-incident audit of breaker changes). */
  breakerIncidents(scope: string): string { return `${this.prefix}:breaker:scope:${scope}:incidents`; }
  /** Numbers the wakes that release held recoveries, so each release gets its own job. */
  breakerReleases(): string { return `${this.prefix}:breaker:releases`; }

  audit(id: string): string { return `${this.prefix}:audit:${id}`; }
  globalAudit(): string { return `${this.prefix}:audit`; }

  /** A token bucket shared by every worker (`cloud-api`: the cloud API rate limit): a hash of tokens and refill time. */
  tokenBucket(name: string): string { return `${this.prefix}:bucket:${name}`; }
  /** SLA compliance of one SLA: counters (hash) and the latest times to recover (list). */
  slaCounts(sla: string): string { return `${this.prefix}:sla:${sla}:counts`; }
  slaDurations(sla: string): string { return `${this.prefix}:sla:${sla}:durations`; }
  /** The SLAs that have compliance records. */
  slaIndex(): string { return `${this.prefix}:idx:slas`; }
  /** Per recovery: whether its compliance was recorded and its breach counted (each at most once). */
  slaMarks(recoveryId: string): string { return `${this.prefix}:sla-marks:${recoveryId}`; }
}
