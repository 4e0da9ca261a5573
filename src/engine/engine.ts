import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AnyMachineSnapshot } from 'xstate';
import type { Clock, FailureKind, Incident, IsoTime, Outcome, Recovery, RecoveryStatus } from '../domain';
import { decodeOrThrow, dedupeKeyOf, FailureEvent, InputError, isoNow, nonRetryable, subjectOf } from '../domain';
import { WAITING_TAG } from '../plugins/api';
import type { ChildResult } from '../plugins/api';
import type { Registry } from '../plugins/registry';
import type { CloudDriver } from '../drivers/cloud/port';
import type { Decision, Policy } from '../policy/policy';
import type { PolicyStore, ReloadResult } from '../policy/policy-store';
import type { AuditLog } from './audit-log';
import { EventFeed } from './event-feed';
import type { FeedEvent, FeedFilter } from './event-feed';
import { joinReturn, openReturnOf, returnHost as returnHostFor } from './host-return';
import type { HostReturnOptions } from './host-return';
import { Indexes } from './indexes';
import type { IncidentFilter, Page, RecoveryFilter } from './indexes';
import { newIncidentId, rootRecoveryId } from './ids';
import { jobOptionsFor } from './sla-job-options';
import type { IncidentStore } from './incident-store';
import type { Keys } from './keys';
import type { RecoveryQueue } from './recovery-queue';
import type { CancelRequest, RecoveryStore, ReopenPlan, ResumePoint } from './recovery-store';
import { statePath } from './state-path';

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
  /** The cloud: what `returnHost` checks a host against (is it forced down?). */
  readonly cloud?: CloudDriver;
  /** The mass-failure breaker (breaker.ts), when enabled: counts each new host-level failure. */
  readonly breaker?: { recordHostFailure(failure: { kind: FailureKind; host: string; incidentId: string }): Promise<unknown> };
}

/** How long gathering the facts a policy needs (host, instance) may take before deciding without them. */
const FACTS_TIMEOUT_MS = 3_000;

/** Why a failure event inside a closed incident's dedupe window opened a new incident (audited). */
interface CameBack {
  readonly incident: string;
  readonly closedAt: string;
  readonly serviceUpdatedAt: string;
  readonly why: string;
}

export interface ReportResult {
  readonly incident: Incident;
  /** False when the event joined an incident already holding its subject. */
  readonly created: boolean;
}

/** What `Engine.cancel` did. */
export interface CancelResult {
  readonly recoveryId: string;
  /**
   * `cancelling`: requested now (a running recovery stops within a second, a parked or queued one at once);
   * `already-requested`: a cancel was requested before and is under way; `finished`: it had already ended
   * (nothing done; `outcome` says how).
   */
  readonly state: 'cancelling' | 'already-requested' | 'finished';
  readonly outcome?: Outcome;
  /** Descendants cancelled with it by this call. */
  readonly descendants: readonly string[];
}

/** What `Engine.retry` did. */
export interface RetryResult {
  readonly recoveryId: string;
  /** The state it resumes at (null: from the start, no state was recorded). */
  readonly from: string | null;
  /** `queued`: a job runs it from `from`; `waiting`: it waits again (for an operator, or for its children). */
  readonly status: 'queued' | 'waiting';
  /** Its failed children run again too (a parent waiting for its children again). */
  readonly children: readonly string[];
  /** Ancestors reopened to take the retried recovery back (waiting for their children again). */
  readonly reopened: readonly string[];
  readonly incidentReopened: boolean;
}

/** Outcomes a retry may start from; `recovered` and `skipped` have nothing left to do. */
const RETRYABLE_OUTCOMES: ReadonlySet<Outcome> = new Set<Outcome>(['failed', 'escalated', 'cancelled', 'partial']);
const SETTLED_OUTCOMES: ReadonlySet<Outcome> = new Set<Outcome>(['recovered', 'skipped']);

interface Reopening {
  readonly recovery: Recovery;
  readonly snapshot: unknown;
  readonly state: string | undefined;
  readonly waiting: boolean;
}

/**
 * The engine's front door: failure events in, incidents and recoveries out. Everything here is safe to call
 * from any number of processes at once; the atomic pieces live in the stores' scripts.
 */
export class Engine {
  private readonly indexes: Indexes;
  private readonly feed: EventFeed;

  constructor(private readonly deps: EngineDeps) {
    this.indexes = new Indexes(deps.redis, deps.keys);
    this.feed = new EventFeed(deps.redis, deps.keys, deps.log);
  }

  /**
   * `options.workflow`: an operator's explicit choice (one VM live-migrated, say) instead of the policy's; it
   * must be registered and allowed by the SLA the policy gives the subject, and the audit says who chose it.
   */
  async report(raw: unknown, options: { readonly workflow?: string; readonly by?: string } = {}): Promise<ReportResult> {
    const { incidents, store, queue, audit, clock, registry, settings, log } = this.deps;
    const event = decodeOrThrow(FailureEvent, raw, 'failure event');
    const now = clock.now();
    const decision = await this.policyDecision(event);
    if (options.workflow !== undefined) this.checkChosenWorkflow(options.workflow, decision?.sla);
    const workflow = options.workflow ?? decision?.workflow ?? settings.workflows[event.kind];
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
    // A host being returned to service is down because it boots: its failures join the return (host-return.ts).
    const returning = event.kind === 'instance-down' ? undefined : await openReturnOf(this.deps, event.host);
    if (returning) return joinReturn(this.deps, returning, event);
    let opened = await incidents.open(candidate, recovery, now);
    let cameBack: CameBack | undefined;
    if (!opened.created && (cameBack = await this.cameBackSinceClosed(event, opened.id))) {
      await incidents.releaseClosed(candidate.dedupeKey, opened.id);
      opened = await incidents.open(candidate, recovery, now);
    }
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
      message: `incident opened: ${event.kind} ${candidate.subject} (source ${event.source ?? 'unknown'}); workflow ${workflow}${options.workflow ? ` (chosen by ${options.by ?? event.source ?? 'an operator'})` : ''}${decision ? `, SLA ${decision.sla} (policy ${decision.policyVersion}, rule ${decision.rule})` : ''}${cameBack ? `; not a duplicate of ${cameBack.incident}, closed ${cameBack.closedAt}: ${cameBack.why}` : ''}`,
      details: { event, ...(decision ? { decision } : {}), ...(cameBack ? { supersedes: cameBack } : {}) },
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
   * A host-level failure inside the dedupe window of a closed incident about the same host is a late duplicate
   * of that failure, unless the host came back since. That incident fenced the host (its evidence is on record)
   * and left it forced down; if the compute service is no longer forced down and Nova recorded it after the
   * close (a heartbeat, or the lift itself), someone brought the host back by hand, and this is a new failure of
   * a host that may run instances again: swallowing it would leave them unrecovered. The way back through
   * Resurrect (`returnHost`) ends the window itself. An incident that never fenced (notify-only, escalated
   * before the fence: the host may well be alive) keeps its window, or a monitor repeating itself would open
   * one incident per report. A cloud that cannot answer in time keeps the duplicate verdict (logged).
   */
  private async cameBackSinceClosed(event: FailureEvent, holder: string): Promise<CameBack | undefined> {
    const { cloud, incidents, log, redis, keys } = this.deps;
    if (!cloud || event.instance !== undefined) return undefined;
    const closed = await incidents.get(holder);
    if (!closed || closed.status === 'open' || closed.closedAt === undefined || closed.kind === 'host-return') return undefined;
    if (!(await redis.exists(keys.fence(closed.id, event.host)))) return undefined;
    try {
      const service = await cloud.getService(event.host, { signal: AbortSignal.timeout(FACTS_TIMEOUT_MS) });
      if (service.forcedDown || !(Date.parse(service.updatedAt) > Date.parse(closed.closedAt))) return undefined;
      return {
        incident: closed.id, closedAt: closed.closedAt, serviceUpdatedAt: service.updatedAt,
        why: `${event.host} came back since (its compute service is not forced down, updated ${service.updatedAt})`,
      };
    } catch (err) {
      log.warn({ err: (err as Error).message, host: event.host, incident: holder }, `could not tell whether ${event.host} came back since incident ${holder} closed; the event joins it as a duplicate`);
      return undefined;
    }
  }

  /**
   * An operator brings a fenced host back into service: opens an incident of kind `host-return` running the
   * `return-to-service` workflow (src/engine/host-return.ts says what is refused and which params it gets).
   * `created: false` when a return of the host is already under way (the request joined it).
   */
  returnHost(host: string, options: HostReturnOptions): Promise<ReportResult> {
    return returnHostFor(this.deps, host, options);
  }

  private checkChosenWorkflow(workflow: string, slaName: string | undefined): void {
    const { registry } = this.deps;
    if (!registry.findWorkflow(workflow)) {
      throw new InputError(`unknown workflow "${workflow}"`, [{ path: 'workflow', message: `unknown workflow "${workflow}" (known: ${registry.listWorkflows().map((w) => w.name).sort().join(', ')})` }]);
    }
    const sla = slaName ? registry.findSla(slaName) : undefined;
    if (sla && !sla.workflows.allowed.includes(workflow)) {
      throw new InputError(`workflow "${workflow}" is not allowed by SLA "${sla.name}"`, [{ path: 'workflow', message: `not allowed by SLA "${sla.name}" (allowed: ${sla.workflows.allowed.join(', ')})` }]);
    }
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

  /**
   * Incidents matching every given filter, newest first (by opening time), one page at a time: pass the
   * `nextCursor` of a page to get the next. Served from the filter indexes (indexes.ts), never a scan. Invalid
   * filters throw an InputError (`RSR_INPUT_INVALID`).
   */
  listIncidents(filter?: IncidentFilter): Promise<Page<Incident>>;
  /** @deprecated offset paging (not stable under inserts): pass an IncidentFilter and page with its cursor. */
  listIncidents(options: { offset: number; limit?: number }): Promise<Incident[]>;
  async listIncidents(filter: IncidentFilter | { offset: number; limit?: number } = {}): Promise<Page<Incident> | Incident[]> {
    if ('offset' in filter) {
      const ids = await this.deps.redis.zrevrange(this.deps.keys.incidentIndex(), filter.offset, filter.offset + (filter.limit ?? 100) - 1);
      return this.deps.incidents.getMany(ids);
    }
    const page = await this.indexes.page(this.indexes.incidentSets(filter), filter);
    return { items: await this.deps.incidents.getMany(page.items), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
  }

  /** Recoveries matching every given filter, newest first (by creation time); paged like `listIncidents`. */
  async listRecoveries(filter: RecoveryFilter = {}): Promise<Page<Recovery>> {
    const page = await this.indexes.page(this.indexes.recoverySets(filter), filter);
    return { items: await this.deps.store.getMany(page.items), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
  }

  /**
   * A live feed of audit records (transitions, incidents opened and closed, decisions, cancels, retries) for
   * server-sent events: iterate it; it ends when `signal` aborts or the engine closes. See event-feed.ts for
   * `after` (Last-Event-ID) and which stream a filter reads.
   */
  events(filter: FeedFilter = {}, signal?: AbortSignal): AsyncIterableIterator<FeedEvent> {
    return this.feed.subscribe(filter, signal);
  }

  /** Ends the live feeds' connections (the app is closing). */
  close(): void {
    this.feed.close();
  }

  /**
   * An operator stops a recovery and its descendants. Recorded once per recovery (a repeated call changes
   * nothing) and audited with who. A running one is stopped by its worker within a second (the step in flight
   * is cancelled); a parked one is woken with `recovery.cancel` and finishes as its workflow defines when it
   * understands the event (notify-only), else ends `cancelled`; a queued or backing-off one ends `cancelled`
   * as soon as a job claims it (one is added now). A root recovery's incident closes `cancelled`.
   */
  async cancel(recoveryId: string, by: string, reason?: string): Promise<CancelResult> {
    const { store, audit, queue, clock, redis, keys } = this.deps;
    const recovery = await this.recovery(recoveryId);
    if (recovery.status === 'done') return { recoveryId, state: 'finished', ...(recovery.outcome ? { outcome: recovery.outcome } : {}), descendants: [] };
    const at = isoNow(clock.now());
    const request: CancelRequest = { by, at, ...(reason ? { reason } : {}) };
    const descendants: string[] = [];
    let state: CancelResult['state'] = 'already-requested';
    for (const id of [recoveryId, ...(await this.descendantsOf(recoveryId))]) {
      const target = id === recoveryId ? recovery : await store.get(id);
      if (!target) continue;
      const answer = await store.requestCancel(id, id === recoveryId ? request : { ...request, via: recoveryId });
      if (answer === 'done' || answer === 'missing') continue;
      if (answer === 'set') {
        if (id === recoveryId) state = 'cancelling';
        else descendants.push(id);
        await audit.write({
          at, type: 'decision', incidentId: target.incidentId, recoveryId: id, workflow: target.workflow, worker: this.deps.node,
          message: `cancel requested by ${by}${id === recoveryId ? '' : ` with ${recoveryId}`}${reason ? `: ${reason}` : ''} (was ${target.status}${target.state ? ` at ${target.state}` : ''})`,
          details: { by, ...(reason ? { reason } : {}), ...(id === recoveryId ? {} : { via: recoveryId }), status: target.status },
        });
      }
      // Whoever claims it next ends it: a wake carrying the event (delivered to a parked machine that takes it);
      // a running one defers this job until its worker has stopped it. A retry backing off runs now.
      const round = await store.round(id);
      await queue.enqueueWake(id, `cancel-r${round}`, { type: 'recovery.cancel', by, ...(reason ? { reason } : {}) });
      if (target.status === 'retrying') {
        const job = await redis.hget(keys.recovery(id), 'job');
        if (job) await queue.promote(job);
      }
    }
    return { recoveryId, state, descendants };
  }

  /**
   * Runs a recovery that ended failed, escalated, cancelled or partial again, from the state where it failed
   * (the state whose step failed, or where it waited), not from the start: the restored machine re-enters that
   * state and runs its step again. Its parent, if finished, is reopened to wait for it again (at the state it
   * waited for its children), and the incident is reopened if it had closed — unless another open incident now
   * holds its subject (`RSR_SUBJECT_BUSY`). A parent that waits for its children runs its failed children
   * again. Refused (`RSR_RECOVERY_NOT_RETRYABLE`) for a recovery that has not finished, one that recovered or
   * was skipped, or one whose parent is running. Audited with who and from which state.
   */
  async retry(recoveryId: string, by: string): Promise<RetryResult> {
    const { store, incidents, queue, audit, clock, registry, redis, keys } = this.deps;
    const recovery = await this.recovery(recoveryId);
    if (recovery.status !== 'done') {
      throw nonRetryable('RSR_RECOVERY_NOT_RETRYABLE', `recovery ${recoveryId} is ${recovery.status}: only a finished recovery can be retried`, { details: { status: recovery.status } });
    }
    if (!recovery.outcome || !RETRYABLE_OUTCOMES.has(recovery.outcome)) {
      throw nonRetryable('RSR_RECOVERY_NOT_RETRYABLE', `recovery ${recoveryId} ended ${recovery.outcome ?? 'without an outcome'}: nothing to retry`, { details: { status: recovery.status, outcome: recovery.outcome } });
    }
    const now = isoNow(clock.now());
    const target = await this.reopening(recovery, now);

    // A parent waiting for its children again: the children that did not recover run again.
    const children: Reopening[] = [];
    let wakeParent = false;
    if (target.waiting) {
      const all = await this.children(recoveryId);
      const unfinished = all.filter((c) => c.status !== 'done');
      if (unfinished.length > 0) throw nonRetryable('RSR_RECOVERY_NOT_RETRYABLE', `recovery ${recoveryId} still has children finishing: ${unfinished.map((c) => c.id).join(', ')}`);
      for (const child of all.filter((c) => !c.outcome || !SETTLED_OUTCOMES.has(c.outcome))) children.push(await this.reopening(child, now));
      wakeParent = all.length > 0 && children.length === 0;
    }

    // Its ancestors take it back: a finished one waits for its children again, at the state where it waited.
    const ancestors: Reopening[] = [];
    const checks: { id: string; expect: (RecoveryStatus | 'missing')[] }[] = [];
    for (let cursor = recovery; cursor.parentId;) {
      const parent = await this.recovery(cursor.parentId);
      if (parent.status === 'waiting') {
        const [results, total] = await Promise.all([redis.hlen(keys.childResults(parent.id)), redis.hlen(keys.children(parent.id))]);
        if (results >= total) throw nonRetryable('RSR_RECOVERY_NOT_RETRYABLE', `its parent ${parent.id} is being woken by its children; retry once it has finished`, { details: { parent: parent.id } });
        checks.push({ id: parent.id, expect: ['waiting'] });
        break;
      }
      if (parent.status !== 'done') {
        throw nonRetryable('RSR_RECOVERY_NOT_RETRYABLE', `its parent ${parent.id} is ${parent.status}; retry once it has finished or waits`, { details: { parent: parent.id, status: parent.status } });
      }
      const parked = (await store.retryPoints(parent.id)).parked;
      if (!parked || parked.workflow !== parent.workflow) {
        throw nonRetryable('RSR_RECOVERY_NOT_RETRYABLE', `its parent ${parent.id} has no state where it waited for its children, so it cannot take a retried child back`, { details: { parent: parent.id } });
      }
      ancestors.push({ recovery: reopened(parent, now, 'waiting', parked.state), snapshot: parked.snapshot, state: parked.state, waiting: true });
      cursor = parent;
    }

    // The incident opens again when its root recovery does.
    const root = ancestors.length > 0 ? ancestors[ancestors.length - 1]!.recovery : recovery;
    const incident = await this.incident(recovery.incidentId);
    const reopenIncident = !root.parentId && (ancestors.length > 0 || !recovery.parentId) && incident.status !== 'open';

    const all = [target, ...children, ...ancestors];
    const plan: ReopenPlan = {
      checks: [...all.map((r) => ({ id: r.recovery.id, expect: ['done' as const] })), ...checks],
      reopen: all.map((r) => ({ recovery: r.recovery, snapshot: r.snapshot })),
      forget: [
        ...(recovery.parentId ? [{ parent: recovery.parentId, child: recovery.id }] : []),
        ...children.map((c) => ({ parent: recoveryId, child: c.recovery.id })),
      ],
      ...(reopenIncident ? { incident: incidents.reopened(incident) } : {}),
    };
    const result = await store.reopen(plan, (id) => keys.incident(id), (key) => keys.subject(key), keys.incidentsBy('status', ''));
    if (result.kind === 'conflict') {
      throw nonRetryable('RSR_RECOVERY_NOT_RETRYABLE', `recovery ${result.id} changed while being retried (now ${result.status}); nothing was changed`, { details: { recovery: result.id, status: result.status } });
    }
    if (result.kind === 'subject-busy') {
      throw nonRetryable('RSR_SUBJECT_BUSY', `incident ${incident.id} cannot reopen: incident ${result.holder} now holds ${incident.subject}; nothing was changed`, { details: { incident: incident.id, holder: result.holder, subject: incident.subject } });
    }

    const from = (r: Reopening) => (r.state ? `from ${r.state}` : 'from the start (no state was recorded)');
    const write = (r: Recovery, message: string, details: Record<string, unknown>) => audit.write({
      at: now, type: 'decision', incidentId: r.incidentId, recoveryId: r.id, workflow: r.workflow, worker: this.deps.node, message, details: { by, ...details },
    });
    await write(target.recovery, `retried by ${by} ${from(target)}${target.waiting ? ' (waiting again)' : ''}`, { from: target.state ?? null, round: result.rounds[0] });
    for (const [i, child] of children.entries()) {
      await write(child.recovery, `retried by ${by} with ${recoveryId} ${from(child)}`, { from: child.state ?? null, via: recoveryId, round: result.rounds[1 + i] });
    }
    for (const [i, ancestor] of ancestors.entries()) {
      await write(ancestor.recovery, `reopened by ${by} to take back retried ${recoveryId}: waiting at ${ancestor.state}`, { from: ancestor.state ?? null, child: recoveryId, round: result.rounds[1 + children.length + i] });
    }
    if (reopenIncident) {
      await audit.write({
        at: now, type: 'incident', incidentId: incident.id, recoveryId: root.id, worker: this.deps.node, details: { by, retried: recoveryId, was: incident.status },
        message: `incident reopened by ${by}: retry of ${recoveryId} (was ${incident.status})`,
      });
    }
    for (const [i, r] of all.entries()) {
      if (r.recovery.status === 'queued') await queue.enqueueAgain(r.recovery.id, `retry-${result.rounds[i]}`, jobOptionsFor(r.recovery.params, registry));
    }
    if (wakeParent) await queue.enqueueWake(recoveryId, `children-done-retry-r${result.rounds[0]}`, { type: 'children.done' });
    this.deps.log.info({ recovery: recoveryId, by, from: target.state }, `recovery ${recoveryId} retried by ${by} ${from(target)}`);
    return {
      recoveryId, from: target.state ?? null, status: target.waiting ? 'waiting' : 'queued',
      children: children.map((c) => c.recovery.id), reopened: ancestors.map((a) => a.recovery.id), incidentReopened: reopenIncident,
    };
  }

  /**
   * Where a finished recovery resumes: a machine stopped mid-run (cancelled, given up) where it stood; one that
   * finished at the state whose step failed or where it last waited (`resume`); else the state before its final
   * one (`lastActive`); else from the start.
   */
  private async reopening(recovery: Recovery, now: IsoTime): Promise<Reopening> {
    const workflow = this.deps.registry.workflow(recovery.workflow);
    const points = await this.deps.store.retryPoints(recovery.id);
    const current = points.snapshot as AnyMachineSnapshot | undefined;
    let point: Omit<ResumePoint, 'workflow'> | undefined;
    if (current?.status === 'active') {
      let waiting = false;
      try {
        waiting = workflow.machine.resolveState({ value: current.value, context: current.context }).hasTag(WAITING_TAG);
      } catch {
        waiting = false;
      }
      point = { state: statePath(current.value), snapshot: current, waiting };
    } else if (points.resume?.workflow === recovery.workflow) point = points.resume;
    else if (points.lastActive?.workflow === recovery.workflow) point = points.lastActive;
    const status = point?.waiting ? 'waiting' : 'queued';
    return { recovery: reopened(recovery, now, status, point?.state), snapshot: point?.snapshot, state: point?.state, waiting: point?.waiting ?? false };
  }

  /** Every recovery below this one (children, their children …), parents before children. */
  private async descendantsOf(recoveryId: string): Promise<string[]> {
    const out: string[] = [];
    const queue = [recoveryId];
    while (queue.length > 0 && out.length < 100_000) {
      const id = queue.shift()!;
      const children = Object.values(await this.deps.redis.hgetall(this.deps.keys.children(id)));
      out.push(...children);
      queue.push(...children);
    }
    return out;
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

/** A finished recovery as it is when reopened by a retry: no outcome, in `status`, at `state`. */
/**
 * What the fan-out saw of the cloud (`target`, `noTarget`: placement's verdicts; `seen`: the instance): true when
 * the recovery first ran. A retry comes later, often because capacity came back, so it lets their absence
 * speak: Nova's scheduler chooses, "no host has room" is not repeated from memory, and the instance is read.
 */
const FAN_OUT_FACTS = ['target', 'noTarget', 'seen'] as const;

function reopened(recovery: Recovery, now: IsoTime, status: 'queued' | 'waiting', state: string | undefined): Recovery {
  const params = { ...recovery.params };
  for (const key of FAN_OUT_FACTS) delete params[key];
  const next: Partial<Recovery> = { ...recovery, params, status, updatedAt: now, ...(state ? { state } : {}) };
  delete next.outcome;
  delete next.reason;
  delete next.finishedAt;
  delete next.result;
  if (!state) delete next.state;
  return next as Recovery;
}
