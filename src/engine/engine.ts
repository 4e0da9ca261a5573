import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock, FailureKind, Incident, Recovery } from '../domain';
import { decodeOrThrow, dedupeKeyOf, FailureEvent, isoNow, nonRetryable, subjectOf } from '../domain';
import type { ChildResult } from '../plugins/api';
import type { Registry } from '../plugins/registry';
import type { CloudDriver } from '../drivers/cloud/port';
import type { Decision, Policy } from '../policy/policy';
import type { PolicyStore, ReloadResult } from '../policy/policy-store';
import type { AuditLog } from './audit-log';
import { newIncidentId, rootRecoveryId } from './ids';
import { jobOptionsFor } from './sla-job-options';
import type { IncidentStore } from './incident-store';
import type { Keys } from './keys';
import type { RecoveryQueue } from './recovery-queue';
import type { RecoveryStore } from './recovery-store';

export interface EngineSettings {
  /** Event kind → workflow, until the policy engine decides per host and VM. */
  readonly workflows: Readonly<Record<FailureKind, string>>;
  /** Parameters every recovery gets (poll interval, timeouts, fallbacks); per-kind overrides below. */
  readonly params: Readonly<Record<string, unknown>>;
  readonly paramsByKind: Readonly<Partial<Record<FailureKind, Record<string, unknown>>>>;
  readonly dedupeWindowSeconds: number;
}

export interface EngineDeps {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly incidents: IncidentStore;
  readonly store: RecoveryStore;
  readonly queue: RecoveryQueue;
  readonly audit: AuditLog;
  readonly registry: Registry;
  readonly clock: Clock;
  readonly log: Logger;
  readonly settings: EngineSettings;
  /** This process's name (host:pid, or a worker's name): every audit record says who wrote it. */
  readonly node: string;
  /** When a policy file is configured: it decides workflow, SLA and params instead of `settings.workflows`. */
  readonly policy?: { readonly store: PolicyStore; readonly file: string; readonly cloud: CloudDriver };
  /** The mass-failure breaker (breaker.ts), when enabled: counts each new host-level failure. */
  readonly breaker?: { recordHostFailure(failure: { kind: FailureKind; host: string; incidentId: string }): Promise<unknown> };
}

/** How long gathering the facts a policy needs (host, instance) may take before deciding without them. */
const FACTS_TIMEOUT_MS = 3_000;

export interface ReportResult {
  readonly incident: Incident;
  /** False when the event joined an incident already holding its subject. */
  readonly created: boolean;
}

/**
 * The engine's front door: failure events in, incidents and recoveries out. Everything here is safe to call
 * from any number of processes at once; the atomic pieces live in the stores' scripts.
 */
export class Engine {
  constructor(private readonly deps: EngineDeps) {}

  async report(raw: unknown): Promise<ReportResult> {
    const { incidents, store, queue, audit, clock, registry, settings, log } = this.deps;
    const event = decodeOrThrow(FailureEvent, raw, 'failure event');
    const now = clock.now();
    const decision = await this.policyDecision(event);
    const workflow = decision?.workflow ?? settings.workflows[event.kind];
    registry.workflow(workflow); // unknown workflow ⇒ refuse before anything is written
    const id = newIncidentId(now);
    const recoveryId = rootRecoveryId(id);
    const candidate: Incident = {
      id, kind: event.kind, subject: subjectOf(event), dedupeKey: dedupeKeyOf(event), host: event.host, status: 'open', openedAt: isoNow(now),
      event: { ...event, observedAt: event.observedAt ?? isoNow(now) }, duplicates: 0 as Incident['duplicates'], workflow, recoveryId,
      ...(event.instance ? { instance: event.instance } : {}),
    };
    const recovery: Recovery = {
      id: recoveryId, incidentId: id, workflow, status: 'queued', createdAt: isoNow(now), updatedAt: isoNow(now),
      attempts: 0 as Recovery['attempts'],
      subject: { host: event.host, ...(event.instance ? { instance: event.instance } : {}) },
      params: {
        ...settings.params,
        ...(settings.paramsByKind[event.kind] ?? {}),
        ...(decision ? { ...decision.params, sla: decision.sla, policy: { version: decision.policyVersion, rule: decision.rule } } : {}),
        // Children decide again per instance, for the same kind of failure.
        event: event.kind,
      },
    };
    const opened = await incidents.open(candidate, recovery, now);
    if (!opened.created) {
      const duplicates = await incidents.countDuplicate(opened.id);
      await audit.write({
        at: isoNow(now), type: 'incident', incidentId: opened.id, worker: this.deps.node,
        message: `duplicate ${event.kind} event for ${candidate.subject} from ${event.source ?? 'unknown'} joined the incident (${duplicates} so far)`,
        details: { event },
      });
      log.info({ incident: opened.id, subject: candidate.subject }, `duplicate ${event.kind} for ${candidate.subject} joined incident ${opened.id}`);
      const existing = await incidents.get(opened.id);
      if (!existing) throw nonRetryable('RSR_INCIDENT_NOT_FOUND', `incident ${opened.id} holds ${candidate.subject} but is missing`);
      // Heals a crash between opening and enqueueing: the job id is the recovery's, so this is a no-op
      // whenever the job exists.
      const root = await store.get(existing.recoveryId);
      if (existing.status === 'open' && root?.status === 'queued') await queue.enqueueRun(existing.recoveryId, jobOptionsFor(root.params, registry));
      return { incident: existing, created: false };
    }
    await audit.write({
      at: isoNow(now), type: 'incident', incidentId: id, recoveryId, workflow, worker: this.deps.node,
      message: `incident opened: ${event.kind} ${candidate.subject} (source ${event.source ?? 'unknown'}); workflow ${workflow}${decision ? `, SLA ${decision.sla} (policy ${decision.policyVersion}, rule ${decision.rule})` : ''}`,
      details: { event, ...(decision ? { decision } : {}) },
    });
    // Before the job exists, so a failure that opens the breaker holds its own recovery too. A breaker that
    // cannot count must not keep the incident from being recovered: it is logged, not thrown.
    await this.deps.breaker?.recordHostFailure({ kind: event.kind, host: event.host, incidentId: id })
      .catch((err: unknown) => log.error({ err: (err as Error).message, incident: id }, `mass-failure breaker could not count ${event.host}: ${(err as Error).message}`));
    await queue.enqueueRun(recoveryId, jobOptionsFor(recovery.params, registry));
    log.info({ incident: id, recovery: recoveryId, workflow }, `incident ${id} opened: ${event.kind} ${candidate.subject} → ${workflow}`);
    return { incident: candidate, created: true };
  }

  /**
   * The policy's decision for an event, from the facts the cloud gives about its host and instance. Facts
   * that cannot be had in time are left out (rules needing them do not match, the default rule still does):
   * a cloud API outage must not stop an incident from opening.
   */
  private async policyDecision(event: FailureEvent): Promise<Decision | undefined> {
    const policy = this.deps.policy;
    if (!policy) return undefined;
    const signal = AbortSignal.timeout(FACTS_TIMEOUT_MS);
    const [host, instance] = await Promise.all([
      policy.cloud.listHosts({ signal }).then((hosts) => hosts.find((h) => h.name === event.host)).catch(() => undefined),
      event.instance ? policy.cloud.getInstance(event.instance, { signal }).catch(() => undefined) : Promise.resolve(undefined),
    ]);
    if (!host) this.deps.log.warn({ host: event.host }, `policy: no facts about host ${event.host}; deciding without them`);
    return policy.store.current().decide({ event: event.kind, ...(host ? { host } : {}), ...(instance ? { instance } : {}) });
  }

  /**
   * Re-reads the policy file (SIGHUP, the API). A file that does not validate is refused and the running
   * policy stays; recoveries already started keep the version they recorded.
   */
  reloadPolicy(text: string): ReloadResult | undefined {
    const policy = this.deps.policy;
    if (!policy) return undefined;
    const result = policy.store.reload(text, policy.file);
    if (result.ok) this.deps.log.info({ version: result.policy.version, previous: result.previous }, `policy ${result.changed ? `now ${result.policy.version} (was ${result.previous})` : `unchanged (${result.previous})`}`);
    else this.deps.log.warn({ file: policy.file }, `policy reload refused, keeping ${result.current}: ${result.error.message}`);
    return result;
  }

  /** The policy new decisions are made with (the last one loaded); undefined without `policy.file`. Dry-run plans use it. */
  currentPolicy(): Policy | undefined {
    return this.deps.policy?.store.current();
  }

  /** Wakes a parked recovery with an operator's decision. */
  async decide(recoveryId: string, decision: 'approve' | 'deny' | 'resolve', by: string, comment?: string): Promise<void> {
    const recovery = await this.recovery(recoveryId);
    const n = await this.deps.redis.incr(this.deps.keys.decisions(recoveryId));
    await this.deps.audit.write({
      at: isoNow(this.deps.clock.now()), type: 'decision', incidentId: recovery.incidentId, recoveryId, worker: this.deps.node,
      message: `operator ${by} decided: ${decision}${comment ? ` (${comment})` : ''}`,
    });
    await this.deps.queue.enqueueWake(recoveryId, `decision-${n}`, { type: 'operator.decision', decision, by, ...(comment ? { comment } : {}) });
  }

  async recovery(id: string): Promise<Recovery> {
    const recovery = await this.deps.store.get(id);
    if (!recovery) throw nonRetryable('RSR_RECOVERY_NOT_FOUND', `no recovery ${id}`);
    return recovery;
  }

  async incident(id: string): Promise<Incident> {
    const incident = await this.deps.incidents.get(id);
    if (!incident) throw nonRetryable('RSR_INCIDENT_NOT_FOUND', `no incident ${id}`);
    return incident;
  }

  async children(recoveryId: string): Promise<Recovery[]> {
    const ids = Object.values(await this.deps.redis.hgetall(this.deps.keys.children(recoveryId)));
    const rows = await Promise.all(ids.map((id) => this.deps.store.get(id)));
    return rows.filter((r): r is Recovery => r !== undefined);
  }

  async childResults(recoveryId: string): Promise<ChildResult[]> {
    const raw = await this.deps.redis.hgetall(this.deps.keys.childResults(recoveryId));
    return Object.values(raw).map((entry) => JSON.parse(entry) as ChildResult);
  }

  audit(id: string) {
    return this.deps.audit.read(id);
  }

  listIncidents(options?: { offset?: number; limit?: number }) {
    return this.deps.incidents.list(options);
  }

  /** Resolves when the incident is closed (resolved or escalated); for the demo, the CLI and tests. */
  async waitForIncident(id: string, options: { timeoutMs: number; pollMs?: number; onPoll?: (incident: Incident) => void }): Promise<Incident> {
    const deadline = Date.now() + options.timeoutMs;
    for (;;) {
      const incident = await this.incident(id);
      options.onPoll?.(incident);
      if (incident.status !== 'open') return incident;
      if (Date.now() > deadline) throw nonRetryable('RSR_INTERNAL', `incident ${id} still open after ${options.timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 100));
    }
  }
}
