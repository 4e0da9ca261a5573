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

  recovery(id: string): string { return `${this.prefix}:recovery:${id}`; }
  recoveryIndex(): string { return `${this.prefix}:idx:recoveries`; }
  /** Counter giving each operator decision on a recovery its own wake job. */
  decisions(id: string): string { return `${this.prefix}:decisions:${id}`; }
  /** child key → child recovery id, written in full before any child job exists. */
  children(parentId: string): string { return `${this.prefix}:children:${parentId}`; }
  /** child recovery id → its final result; the parent wakes when this is as long as `children`. */
  childResults(parentId: string): string { return `${this.prefix}:child-results:${parentId}`; }
  /** One active recovery per instance: instance id → recovery id. */
  activeInstance(instance: string): string { return `${this.prefix}:active:instance:${instance}`; }
  fence(incidentId: string, host: string): string { return `${this.prefix}:fence:${incidentId}:${host}`; }
  /** Manual fencing of a host: a hash with the pending power-off `request` and the operator's `confirmation`. */
  manualFence(host: string): string { return `${this.prefix}:manual-fence:${host}`; }

  audit(id: string): string { return `${this.prefix}:audit:${id}`; }
  globalAudit(): string { return `${this.prefix}:audit`; }
}
