import type Bull from 'bull';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createActor, fromPromise } from 'xstate';
import type { AnyActorLogic, AnyActorRef, AnyMachineSnapshot, InspectionEvent } from 'xstate';
import type { AuditRecord, Clock, Outcome, Recovery } from '../domain';
import { decodeOrThrow, errorToJSON, isoNow, nonRetryable, Outcome as OutcomeCodec, retryable, toResurrectError } from '../domain';
import type { ResurrectError } from '../domain';
import type { Drivers, RecoveryInput, RecoveryOutput, StepDefinition, ChildResult } from '../plugins/api';
import { WAITING_TAG } from '../plugins/api';
import type { Registry } from '../plugins/registry';
import type { AuditLog } from './audit-log';
import type { IncidentStore } from './incident-store';
import type { Keys } from './keys';
import type { JobData, JobResult, RecoveryQueue } from './recovery-queue';
import type { RecoveryStore } from './recovery-store';
import { statePath } from './state-path';
import { RecoveryStepEngine } from './step-engine';

export interface RunnerDeps {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly store: RecoveryStore;
  readonly incidents: IncidentStore;
  readonly queue: RecoveryQueue;
  readonly audit: AuditLog;
  readonly registry: Registry;
  readonly drivers: Drivers;
  readonly clock: Clock;
  readonly log: Logger;
  /** Names this worker in every audit record. */
  readonly worker: string;
  readonly dedupeWindowSeconds: number;
}

/** How a single job's run of a machine ended. */
type Settled =
  | { readonly kind: 'done'; readonly output: RecoveryOutput }
  | { readonly kind: 'parked' }
  | { readonly kind: 'retry'; readonly error: ResurrectError; readonly step: string }
  | { readonly kind: 'crashed'; readonly error: ResurrectError }
  | { readonly kind: 'halted' };

/**
 * Runs recoveries: one bull job = one run of a recovery's xstate machine, restored from its persisted
 * snapshot when there is one. On every transition the new snapshot and an audit record are written in one
 * MULTI, so a crash at any point resumes from the last transition and replays at most the step in flight
 * (steps check the world before acting).
 *
 * Retries are the engine's business, failure branches the workflow's: a retryable step error fails the job
 * (bull backs off and retries, the snapshot puts the machine back into the interrupted state) until the last
 * attempt, where it is handed to the machine as `xstate.error.actor.*` for its onError branch.
 */
export class RecoveryRunner {
  private readonly active = new Set<Execution>();

  constructor(private readonly deps: RunnerDeps) {}

  async process(job: Bull.Job<JobData>): Promise<JobResult> {
    const { store, log } = this.deps;
    const { recoveryId } = job.data;
    const recovery = await store.get(recoveryId);
    if (!recovery) throw nonRetryable('RSR_RECOVERY_NOT_FOUND', `job ${job.id} names unknown recovery ${recoveryId}`);
    const claim = await store.claim(recoveryId, String(job.id), recovery.subject.instance);
    if (claim === 'done') {
      // A crash between finishing and telling the parent would otherwise strand the parent.
      await this.propagateToParent(recovery);
      return { recoveryId, status: 'done', outcome: recovery.outcome };
    }
    if (claim === 'missing') throw nonRetryable('RSR_RECOVERY_NOT_FOUND', `recovery ${recoveryId} vanished`);
    if (claim === 'busy' || claim === 'instance-busy') {
      // Waiting for another job (or another recovery of the same instance) is not a failure: hand the work
      // to a fresh job a little later rather than spend this one's retry budget.
      log.debug({ recovery: recoveryId, job: job.id }, claim === 'instance-busy'
        ? `instance ${recovery.subject.instance} is being recovered by another recovery; deferring`
        : `recovery ${recoveryId} is being run by another job; deferring`);
      await this.deps.queue.defer(job);
      return { recoveryId, status: 'deferred' };
    }
    const attempt = job.attemptsMade + 1;
    const maxAttempts = job.opts.attempts ?? 1;
    const execution = new Execution(this.deps, { ...recovery, status: 'running', attempts: Math.max(recovery.attempts, attempt) as Recovery['attempts'] }, {
      attempt,
      lastAttempt: attempt >= maxAttempts,
      event: job.data.kind === 'wake' ? job.data.event : undefined,
    });
    this.active.add(execution);
    try {
      const settled = await execution.run();
      switch (settled.kind) {
        case 'done':
          await this.finish(execution.recovery, settled.output, attempt);
          return { recoveryId, status: 'done', outcome: settled.output.outcome };
        case 'parked':
          return { recoveryId, status: 'waiting' };
        case 'retry':
          log.warn({ recovery: recoveryId, step: settled.step, attempt, code: settled.error.code }, `${describe(execution.recovery)}: step ${settled.step} failed on attempt ${attempt}: ${settled.error.message}; will retry`);
          throw settled.error;
        case 'crashed':
          await this.finish(execution.recovery, { outcome: 'failed', reason: settled.error.message }, attempt);
          throw nonRetryable(settled.error.code, settled.error.message, { cause: settled.error });
        case 'halted':
          // The worker is shutting down abruptly: leave the job to the stall check, as a dead worker would.
          return new Promise<JobResult>(() => undefined);
      }
    } finally {
      this.active.delete(execution);
    }
  }

  /**
   * bull will not run this job again (its attempts are spent, it was discarded, or it stalled too often). A
   * recovery left unfinished now would hold its instance lock and strand its parent and incident: end it
   * failed, with the reason, through the same path as any finish.
   */
  async gaveUp(job: Bull.Job<JobData>, error: Error): Promise<void> {
    const recovery = await this.deps.store.get(job.data.recoveryId);
    if (!recovery || recovery.status === 'done') return;
    this.deps.log.error({ recovery: recovery.id, job: job.id, err: error.message }, `${describe(recovery)}: job ${job.id} given up: ${error.message}`);
    await this.finish(recovery, { outcome: 'failed', reason: `job ${job.id} given up: ${error.message}` }, job.attemptsMade);
  }

  /** Stops every machine in flight without writing anything more: what a killed worker would leave behind. */
  haltAll(): void {
    for (const execution of this.active) execution.halt();
  }

  private async finish(recovery: Recovery, output: RecoveryOutput, attempt: number): Promise<void> {
    const { redis, keys, store, incidents, audit, clock, worker, log, dedupeWindowSeconds } = this.deps;
    const now = clock.now();
    const outcome: Outcome = OutcomeCodec.is(output.outcome) ? output.outcome : 'failed';
    const reason = OutcomeCodec.is(output.outcome) ? output.reason : `workflow ended with an invalid outcome ${JSON.stringify(output.outcome)}`;
    const finished: Recovery = {
      ...recovery,
      status: 'done',
      outcome,
      updatedAt: isoNow(now),
      finishedAt: isoNow(now),
      ...(reason ? { reason } : {}),
      ...(output.result ? { result: output.result } : {}),
    };
    const multi = redis.multi();
    store.save(multi, finished);
    if (recovery.subject.instance) store.releaseInstance(multi, recovery.subject.instance, recovery.id);
    audit.append(multi, {
      at: isoNow(now), type: 'decision', incidentId: recovery.incidentId, recoveryId: recovery.id, workflow: recovery.workflow,
      attempt, worker, outcome, message: `recovery ${outcome}${reason ? `: ${reason}` : ''}`,
    });
    if (!recovery.parentId) {
      const incident = await incidents.get(recovery.incidentId);
      if (incident && incident.status === 'open') {
        incidents.close(multi, incident, outcome, isoNow(now), reason, dedupeWindowSeconds);
        audit.append(multi, {
          at: isoNow(now), type: 'incident', incidentId: recovery.incidentId, recoveryId: recovery.id, outcome,
          message: `incident ${outcome === 'recovered' || outcome === 'skipped' ? 'resolved' : 'escalated'}${reason ? `: ${reason}` : ''}`,
        });
      }
    }
    await multi.exec();
    log.info({ recovery: recovery.id, incident: recovery.incidentId, outcome, reason }, `${describe(recovery)}: ${outcome}${reason ? ` (${reason})` : ''}`);
    await this.propagateToParent(finished);
  }

  /** Records a child's result with its parent; the child that completes the set wakes the parent, once. */
  private async propagateToParent(child: Recovery): Promise<void> {
    if (!child.parentId || child.status !== 'done') return;
    const { redis, keys, queue } = this.deps;
    const result: ChildResult = {
      recoveryId: child.id,
      key: child.id.slice(child.parentId.length + 1),
      subject: child.subject,
      outcome: child.outcome ?? 'failed',
      attempts: child.attempts,
      seconds: Math.max(0, (Date.parse(child.finishedAt ?? child.updatedAt) - Date.parse(child.createdAt)) / 1000),
      ...(child.reason ? { reason: child.reason } : {}),
      ...(child.result ? { result: child.result } : {}),
    };
    const replies = await redis.multi()
      .hset(keys.childResults(child.parentId), child.id, JSON.stringify(result))
      .hlen(keys.childResults(child.parentId))
      .hlen(keys.children(child.parentId))
      .exec();
    const finishedCount = Number(replies?.[1]?.[1] ?? 0);
    const total = Number(replies?.[2]?.[1] ?? -1);
    if (finishedCount >= total && total > 0) {
      // Keyed by the size of the set: a later fan-out of the same parent wakes it again.
      await queue.enqueueWake(child.parentId, `children-done-${total}`, { type: 'children.done' });
    }
  }
}

interface ExecutionOptions {
  readonly attempt: number;
  readonly lastAttempt: boolean;
  readonly event?: { readonly type: string; readonly [k: string]: unknown };
}

/** One job's run of one recovery's machine. */
class Execution {
  private halted = false;
  private writes: Promise<unknown> = Promise.resolve();
  private settle!: (settled: Settled) => void;
  private actor?: AnyActorRef;
  private previousState?: string;
  private enteredAt: number;

  constructor(private readonly deps: RunnerDeps, public recovery: Recovery, private readonly options: ExecutionOptions) {
    this.enteredAt = deps.clock.now();
  }

  async run(): Promise<Settled> {
    const { registry, store } = this.deps;
    const workflow = registry.workflow(this.recovery.workflow);
    const snapshot = await store.snapshot(this.recovery.id);
    const input: RecoveryInput = {
      recoveryId: this.recovery.id,
      incidentId: this.recovery.incidentId,
      workflow: this.recovery.workflow,
      subject: this.recovery.subject,
      params: this.recovery.params,
    };
    const machine = workflow.machine.provide({ actors: this.stepActors() } as never);
    const settled = new Promise<Settled>((resolve) => { this.settle = resolve; });

    const restoredState = snapshot ? statePath((snapshot as AnyMachineSnapshot).value) : undefined;
    this.previousState = restoredState;
    await this.auditAttempt(snapshot
      ? `${this.options.event ? `woken by ${this.options.event.type}` : `attempt ${this.options.attempt} resumed`} at ${restoredState}`
      : `attempt ${this.options.attempt} started`);

    const actor = createActor(machine, {
      input,
      ...(snapshot ? { snapshot: snapshot as never } : {}),
      inspect: (event: InspectionEvent) => this.onInspect(event),
    });
    this.actor = actor;
    actor.subscribe({ error: () => undefined }); // errors are read from the snapshot; keep xstate from rethrowing
    actor.start();
    if (this.options.event) actor.send(this.options.event as never);
    this.check();
    const result = await settled;
    await this.writes;
    return result;
  }

  halt(): void {
    if (this.halted) return;
    this.halted = true;
    this.actor?.stop();
    this.settle({ kind: 'halted' });
  }

  private onInspect(event: InspectionEvent): void {
    if (this.halted || event.type !== '@xstate.snapshot' || event.actorRef !== this.actor) return;
    const snapshot = event.snapshot as AnyMachineSnapshot;
    if (snapshot.status === 'stopped') return;
    const to = statePath(snapshot.value);
    const from = this.previousState;
    const eventType = event.event.type;
    // Restoring a snapshot re-emits the state we were in; that is the "resumed" line, not a transition.
    if (eventType === 'xstate.init' && from !== undefined) return;
    const now = this.deps.clock.now();
    const durationMs = now - this.enteredAt;
    this.previousState = to;
    this.enteredAt = now;
    const persisted = this.actor!.getPersistedSnapshot();
    const record: AuditRecord = {
      at: isoNow(now), type: 'transition', incidentId: this.recovery.incidentId, recoveryId: this.recovery.id,
      workflow: this.recovery.workflow, from: from ?? '(start)', to, event: eventType, attempt: this.options.attempt,
      worker: this.deps.worker, durationMs,
      message: `${from ?? '(start)'} → ${to}`,
      ...(eventType.startsWith('xstate.error') ? { details: { error: errorToJSON((event.event as { error?: unknown }).error) } } : {}),
    };
    if (snapshot.status === 'done') record.outcome = (snapshot.output as RecoveryOutput | undefined)?.outcome;
    this.recovery = { ...this.recovery, state: to, updatedAt: isoNow(now) };
    const recovery = this.recovery;
    this.deps.log.info({ recovery: recovery.id, workflow: recovery.workflow, from: record.from, to, event: eventType }, `${describe(recovery)}: ${record.from} → ${to}`);
    this.enqueueWrite(() => {
      const multi = this.deps.redis.multi();
      this.deps.store.save(multi, recovery, persisted);
      this.deps.audit.append(multi, record);
      return multi.exec();
    });
    queueMicrotask(() => this.check());
  }

  /** Decides, after each macrostep, whether this job's run is over. */
  private check(): void {
    if (this.halted || !this.actor) return;
    const snapshot = this.actor.getSnapshot() as AnyMachineSnapshot;
    if (snapshot.status === 'done') {
      this.halted = true;
      this.settle({ kind: 'done', output: (snapshot.output ?? { outcome: 'failed', reason: 'workflow ended without output' }) as RecoveryOutput });
    } else if (snapshot.status === 'error') {
      this.halted = true;
      this.settle({ kind: 'crashed', error: toResurrectError(snapshot.error) });
    } else if (snapshot.hasTag(WAITING_TAG)) {
      this.halted = true;
      this.actor.stop();
      const parked: Recovery = { ...this.recovery, status: 'waiting' };
      this.recovery = parked;
      this.enqueueWrite(() => this.deps.store.save(this.deps.redis.multi(), parked).exec());
      this.settle({ kind: 'parked' });
    }
  }

  private failAttempt(error: ResurrectError, step: string): void {
    if (this.halted) return;
    this.halted = true;
    this.actor?.stop();
    const now = this.deps.clock.now();
    const retrying: Recovery = { ...this.recovery, status: 'retrying', updatedAt: isoNow(now) };
    this.recovery = retrying;
    this.enqueueWrite(() => {
      const multi = this.deps.redis.multi();
      this.deps.store.save(multi, retrying);
      this.deps.audit.append(multi, {
        at: isoNow(now), type: 'attempt', incidentId: retrying.incidentId, recoveryId: retrying.id, workflow: retrying.workflow,
        attempt: this.options.attempt, worker: this.deps.worker, from: this.previousState,
        message: `step ${step} failed on attempt ${this.options.attempt}: ${error.message}; will retry`,
        details: { step, error: errorToJSON(error) },
      });
      return multi.exec();
    });
    this.settle({ kind: 'retry', error, step });
  }

  private enqueueWrite(write: () => Promise<unknown>): void {
    this.writes = this.writes.then(write).catch((err) => {
      // A lost write would break the audit promise; stop here and let bull retry from the last good snapshot.
      this.deps.log.error({ err, recovery: this.recovery.id }, 'could not persist a transition');
      this.failAttempt(toResurrectError(err), '(persist)');
    });
  }

  private async auditAttempt(message: string): Promise<void> {
    await this.deps.audit.write({
      at: isoNow(this.deps.clock.now()), type: 'attempt', incidentId: this.recovery.incidentId, recoveryId: this.recovery.id,
      workflow: this.recovery.workflow, attempt: this.options.attempt, worker: this.deps.worker, message,
      ...(this.previousState ? { from: this.previousState } : {}),
    });
  }

  private stepActors(): Record<string, AnyActorLogic> {
    const actors: Record<string, AnyActorLogic> = {};
    for (const step of this.deps.registry.listSteps()) {
      actors[step.name] = fromPromise(({ input, signal }) => this.runStep(step, input, signal));
    }
    return actors;
  }

  private async runStep(step: StepDefinition, input: unknown, signal: AbortSignal): Promise<unknown> {
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(
      () => controller.abort(retryable('RSR_STEP_TIMEOUT', `step ${step.name} did not finish within ${step.timeoutMs} ms`, { details: { step: step.name } })),
      step.timeoutMs,
    );
    const log = this.deps.log.child({ recovery: this.recovery.id, step: step.name });
    try {
      const decoded = step.input ? decodeOrThrow(step.input, input, `input of step ${step.name}`) : input;
      const engine = new RecoveryStepEngine({ ...this.deps, notifier: this.deps.drivers.notifier }, this.recovery, this.options.attempt);
      const aborted = new Promise<never>((_, reject) => {
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
      });
      return await Promise.race([
        step.run(decoded, {
          drivers: this.deps.drivers, engine, recovery: {
            recoveryId: this.recovery.id, incidentId: this.recovery.incidentId, workflow: this.recovery.workflow,
            subject: this.recovery.subject, params: this.recovery.params,
          },
          signal: controller.signal, clock: this.deps.clock, log, attempt: this.options.attempt, lastAttempt: this.options.lastAttempt,
        }),
        aborted,
      ]);
    } catch (err) {
      const error = toResurrectError(err);
      if (this.halted) return new Promise(() => undefined);
      if (error.retryable && !this.options.lastAttempt) {
        this.failAttempt(error, step.name);
        return new Promise(() => undefined);
      }
      log.warn({ code: error.code, err: error.message }, `step ${step.name} failed: ${error.message}`);
      throw error;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }
}

function describe(recovery: Recovery): string {
  const subject = recovery.subject.instance ? `${recovery.subject.host}/${recovery.subject.instance}` : recovery.subject.host;
  return `${recovery.workflow} ${subject}`;
}
