import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createActor, fromPromise } from 'xstate';
import type { AnyActorLogic, AnyActorRef, AnyMachineSnapshot, InspectionEvent } from 'xstate';
import type { AuditRecord, Clock, Recovery, ResurrectError } from '../domain';
import { decodeOrThrow, errorToJSON, isoNow, nonRetryable, retryable, toResurrectError } from '../domain';
import type { Drivers, RecoveryInput, RecoveryOutput, StepDefinition } from '../plugins/api';
import { WAITING_TAG } from '../plugins/api';
import type { Registry } from '../plugins/registry';
import type { CloudDriver } from '../drivers/cloud/port';
import type { PolicyStore } from '../policy/policy-store';
import type { AuditLog } from './audit-log';
import type { Escalation } from './escalation';
import type { RecoveryGate } from './gates';
import type { SlaCompliance } from './sla-compliance';
import type { IncidentStore } from './incident-store';
import type { Keys } from './keys';
import type { PollPacer } from './poll-pacer';
import type { RecoveryQueue } from './recovery-queue';
import type { RecoveryStore, ResumePoint } from './recovery-store';
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
  /** The policy, when configured (children are decided per instance at fan-out). */
  readonly policy?: { readonly store: PolicyStore; readonly cloud: CloudDriver };
  /** Checked before a job runs a recovery (`gates.ts`): the breaker, the concurrency limits. */
  readonly gates?: readonly RecoveryGate[];
  /** SLA deadlines and escalation ladders; without it, SLAs only set job priority and retries. */
  readonly escalation?: Escalation;
  /** Where finished per-VM recoveries are counted against their SLA. */
  readonly compliance?: SlaCompliance;
  /** Spaces the polls of every recovery this process runs (`worker.pollsPerSecond`). */
  readonly pacer?: PollPacer;
}

/** How a single job's run of a machine ended. */
export type Settled =
  | { readonly kind: 'done'; readonly output: RecoveryOutput }
  | { readonly kind: 'parked' }
  | { readonly kind: 'retry'; readonly error: ResurrectError; readonly step: string }
  | { readonly kind: 'crashed'; readonly error: ResurrectError }
  | { readonly kind: 'halted' }
  /** Stopped on purpose (its ladder rung ran out of time); everything up to here is written. */
  | { readonly kind: 'preempted' }
  /** An operator cancelled it (`Engine.cancel`): stopped where it stood, or it could not take `recovery.cancel`. */
  | { readonly kind: 'cancelled'; readonly reason: string };

export interface ExecutionOptions {
  readonly attempt: number;
  readonly lastAttempt: boolean;
  readonly event?: { readonly type: string; readonly [k: string]: unknown };
  /**
   * The event is an operator's `recovery.cancel` for a parked recovery: it is delivered only if the machine
   * waits in a state that takes it (the workflow then finishes as it defines); otherwise nothing is started
   * and the run settles `cancelled` with this reason.
   */
  readonly cancelling?: { readonly reason: string };
}

/**
 * One job's run of one recovery's machine: restore or start the actor, persist and audit every transition,
 * run steps with their timeouts, and settle as done, parked, retry, crashed or halted.
 */
export class Execution {
  private halted = false;
  private persistFailure?: ResurrectError;
  private writes: Promise<unknown> = Promise.resolve();
  private settle!: (settled: Settled) => void;
  /** Exists from the start: a halt may come while run() is still reading the snapshot. */
  private readonly settled = new Promise<Settled>((resolve) => { this.settle = resolve; });
  private actor?: AnyActorRef;
  private previousState?: string;
  /** The persisted snapshot of the state the machine is in, and whether that state waits: a retry's resume point. */
  private lastPersisted?: unknown;
  private lastWaiting = false;
  private enteredAt: number;
  /** The steps in flight, so a preemption can cancel them. */
  private readonly controllers = new Set<AbortController>();

  constructor(private readonly deps: RunnerDeps, public recovery: Recovery, private readonly options: ExecutionOptions) {
    this.enteredAt = deps.clock.now();
  }

  async run(): Promise<Settled> {
    const { registry, store } = this.deps;
    const workflow = registry.workflow(this.recovery.workflow);
    const snapshot = await store.snapshot(this.recovery.id);
    if (this.halted) return this.settled;
    const input: RecoveryInput = {
      recoveryId: this.recovery.id,
      incidentId: this.recovery.incidentId,
      workflow: this.recovery.workflow,
      subject: this.recovery.subject,
      params: this.recovery.params,
    };
    const machine = workflow.machine.provide({ actors: this.stepActors() } as never);

    const restoredState = snapshot ? statePath((snapshot as AnyMachineSnapshot).value) : undefined;
    this.previousState = restoredState;
    this.lastPersisted = snapshot;
    await this.auditAttempt(snapshot
      ? `${this.options.event ? `woken by ${this.options.event.type}` : `attempt ${this.options.attempt} resumed`} at ${restoredState}`
      : `attempt ${this.options.attempt} started`);
    // Halted while reading (the worker is going down): start nothing, as a killed process would not.
    if (this.halted) return this.settled;

    const actor = createActor(machine, {
      input,
      ...(snapshot ? { snapshot: snapshot as never } : {}),
      inspect: (event: InspectionEvent) => this.onInspect(event),
    });
    this.actor = actor;
    this.lastWaiting = snapshot !== undefined && (actor.getSnapshot() as AnyMachineSnapshot).hasTag(WAITING_TAG);
    if (this.options.cancelling) {
      const restored = actor.getSnapshot() as AnyMachineSnapshot;
      if (!this.options.event || !this.lastWaiting || restored.status !== 'active' || !restored.can(this.options.event as never)) {
        // Not parked where the workflow understands a cancel: nothing runs, the runner ends it cancelled.
        this.halted = true;
        this.settle({ kind: 'cancelled', reason: this.options.cancelling.reason });
        return this.settled;
      }
    }
    actor.subscribe({ error: () => undefined }); // errors are read from the snapshot; keep xstate from rethrowing
    actor.start();
    if (this.options.event) actor.send(this.options.event as never);
    this.check();
    const result = await this.settled;
    await this.writes;
    // A machine may have finished (or parked) in memory after a write was lost: what Redis holds decides.
    return this.persistFailure ? { kind: 'retry', error: this.persistFailure, step: '(persist)' } : result;
  }

  halt(): void {
    if (this.halted) return;
    this.halted = true;
    this.actor?.stop();
    this.settle({ kind: 'halted' });
  }

  /** Stops the machine where it stands and cancels the step in flight; the writes made so far are kept. */
  preempt(reason: string): void {
    if (this.halted) return;
    this.halted = true;
    this.actor?.stop();
    for (const controller of this.controllers) controller.abort(retryable('RSR_STEP_TIMEOUT', reason));
    this.settle({ kind: 'preempted' });
  }

  /** An operator's cancel: stops the machine where it stands and cancels the step in flight; nothing more is written. */
  cancel(reason: string): void {
    if (this.halted) return;
    this.halted = true;
    this.actor?.stop();
    for (const controller of this.controllers) controller.abort(nonRetryable('RSR_RECOVERY_CANCELLED', reason));
    this.settle({ kind: 'cancelled', reason });
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
    const points = this.resumePoints(eventType, from, to, snapshot, persisted);
    this.deps.log.info({ recovery: recovery.id, workflow: recovery.workflow, from: record.from, to, event: eventType }, `${describe(recovery)}: ${record.from} → ${to}`);
    this.enqueueWrite(() => {
      const multi = this.deps.redis.multi();
      this.deps.store.save(multi, recovery, persisted);
      for (const [field, point] of points) this.deps.store.markResumePoint(multi, recovery.id, field, point);
      this.deps.audit.append(multi, record);
      return multi.exec();
    });
    queueMicrotask(() => this.check());
  }

  /**
   * Where a retry of this recovery (`Engine.retry`) would resume, written with the transition that decides it:
   * - a step failed and the machine took its failure branch (`xstate.error.actor.*`, also a machine that errors):
   *   `resume` = the state that invoked the step, as persisted before this transition, so the step runs again;
   * - the machine parks in a waiting state: `resume` and `parked` = this state (later progress supersedes an
   *   earlier failure; a parent takes a retried child back at `parked`);
   * - it reaches a final state by any other event: `lastActive` = the state before (used when nothing failed).
   */
  private resumePoints(eventType: string, from: string | undefined, to: string, snapshot: AnyMachineSnapshot, persisted: unknown): ['resume' | 'parked' | 'lastActive', ResumePoint][] {
    const workflow = this.recovery.workflow;
    const before = this.lastPersisted;
    const beforeWaiting = this.lastWaiting;
    const waiting = snapshot.status === 'active' && snapshot.hasTag(WAITING_TAG);
    this.lastPersisted = persisted;
    this.lastWaiting = waiting;
    const points: ['resume' | 'parked' | 'lastActive', ResumePoint][] = [];
    if (eventType.startsWith('xstate.error.actor') && from !== undefined && before !== undefined) {
      points.push(['resume', { workflow, state: from, snapshot: before, waiting: beforeWaiting }]);
    } else if (waiting) {
      const point = { workflow, state: to, snapshot: persisted, waiting: true };
      points.push(['resume', point], ['parked', point]);
    } else if (snapshot.status === 'done' && from !== undefined && before !== undefined) {
      points.push(['lastActive', { workflow, state: from, snapshot: before, waiting: beforeWaiting }]);
    }
    return points;
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

  /**
   * Writes run one after another, in transition order. A write that fails (Redis unreachable) must not be
   * skipped: the run stops where it is and ends as a retry, so the next attempt restores the last snapshot
   * that was written and replays from there (steps check the world first). Later writes are not attempted,
   * so the trail has no gap.
   */
  private enqueueWrite(write: () => Promise<unknown>): void {
    this.writes = this.writes.then(async () => {
      if (this.persistFailure) return;
      try {
        await write();
      } catch (err) {
        this.persistFailure = retryable('RSR_REDIS_UNAVAILABLE', `could not persist recovery ${this.recovery.id}: ${(err as Error).message}`, { cause: err });
        this.deps.log.error({ err: (err as Error).message, recovery: this.recovery.id }, 'could not persist a transition; this attempt stops here');
        this.failAttempt(this.persistFailure, '(persist)');
      }
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
    // Nothing acts before the transition into its state is written: xstate starts the step within that
    // transition, and its write is queued by the subscriber right after. A crash in between would otherwise
    // leave an action with no audited state behind it (the resumed run re-checks the world, but the trail
    // would skip the state that acted).
    await new Promise((resolve) => setImmediate(resolve));
    await this.writes;
    if (this.persistFailure) throw this.persistFailure;
    const controller = new AbortController();
    this.controllers.add(controller);
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(
      () => controller.abort(retryable('RSR_STEP_TIMEOUT', `step ${step.name} did not finish within ${step.timeoutMs} ms`, { details: { step: step.name } })),
      step.timeoutMs,
    );
    const log = this.deps.log.child({ recovery: this.recovery.id, step: step.name });
    try {
      const decoded = step.input ? decodeOrThrow(step.input, input, `input of step ${step.name}`) : input;
      const engine = new RecoveryStepEngine({ ...this.deps, notifier: this.deps.drivers.notifier, cloud: this.deps.drivers.cloud }, this.recovery, this.options.attempt);
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
      this.controllers.delete(controller);
      signal.removeEventListener('abort', onAbort);
    }
  }
}

/** `fence-then-evacuate compute-3`, `evacuate-instance compute-3/<id>`: how logs name a recovery. */
export function describe(recovery: Recovery): string {
  const subject = recovery.subject.instance ? `${recovery.subject.host}/${recovery.subject.instance}` : recovery.subject.host;
  return `${recovery.workflow} ${subject}`;
}
