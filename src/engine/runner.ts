import type Bull from 'bull';
import type { ChainableCommander } from 'ioredis';
import type { Outcome, Recovery } from '../domain';
import { incidentStatusOf, isoNow, nonRetryable, Outcome as OutcomeCodec } from '../domain';
import type { ChildResult, RecoveryOutput } from '../plugins/api';
import { describe, Execution } from './execution';
import type { RunnerDeps } from './execution';
import type { LeaveReason, RecoveryGate } from './gates';
import type { JobData, JobResult } from './recovery-queue';
import type { CancelRequest } from './recovery-store';
import { jobOptionsFor } from './sla-job-options';

/** How often a running recovery checks its ladder's clock (and every fifth beat renews its slot lease). */
const HEARTBEAT_MS = 1_000;

export type { RunnerDeps } from './execution';

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
  /** Set by haltAll: from then on this runner behaves as a killed process, and starts nothing. */
  private halted = false;

  constructor(private readonly deps: RunnerDeps) {}

  async process(job: Bull.Job<JobData>): Promise<JobResult> {
    const { store, log } = this.deps;
    const { recoveryId } = job.data;
    if (this.halted) return this.hang();
    if (job.data.kind === 'timer') {
      const status = this.deps.escalation ? await this.deps.escalation.onTimer(recoveryId, job.data.timer) : 'no-sla-clocks';
      return { recoveryId, status };
    }
    const recovery = await store.get(recoveryId);
    if (!recovery) throw nonRetryable('RSR_RECOVERY_NOT_FOUND', `job ${job.id} names unknown recovery ${recoveryId}`);
    if (this.halted) return this.hang();
    const claim = await store.claim(recoveryId, String(job.id), recovery.subject.instance);
    // Halted while claiming: this process is "dead" now and must not act; the claim it holds is its job's,
    // which the stall check hands to another worker.
    if (this.halted) return this.hang();
    if (claim === 'done') {
      // A crash between finishing and telling the parent would otherwise strand the parent.
      await this.leaveGates(recovery, 'done');
      await this.propagateToParent(recovery);
      return { recoveryId, status: 'done', outcome: recovery.outcome };
    }
    if (claim === 'missing') throw nonRetryable('RSR_RECOVERY_NOT_FOUND', `recovery ${recoveryId} vanished`);
    if (claim === 'instance-busy' && (await store.cancelRequest(recovery))) {
      // A cancel needs no instance lock: claim without it and end the recovery now rather than wait for the
      // recovery holding its instance (which may wait for an operator for hours).
      if ((await store.claim(recoveryId, String(job.id))) === 'ok') return this.cancelClaimed(recovery, job, (await store.cancelRequest(recovery))!);
    }
    if (claim === 'busy' || claim === 'instance-busy') {
      // Waiting for another job (or another recovery of the same instance) is not a failure: hand the work
      // to a fresh job a little later rather than spend this one's retry budget.
      log.debug({ recovery: recoveryId, job: job.id }, claim === 'instance-busy'
        ? `instance ${recovery.subject.instance} is being recovered by another recovery; deferring`
        : `recovery ${recoveryId} is being run by another job; deferring`);
      // Its instance may stay busy for long (a recovery waiting for an operator): out of the slot line meanwhile.
      if (claim === 'instance-busy') await this.leaveGates(recovery, 'held');
      await this.deps.queue.defer(job);
      return { recoveryId, status: 'deferred' };
    }
    // An operator cancelled it (or its parent) while it was queued, parked or backing off: whoever holds it
    // next ends it, before any gate or clock.
    const cancel = await store.cancelRequest(recovery);
    if (cancel) return this.cancelClaimed(recovery, job, cancel);
    const escalation = this.deps.escalation;
    const armed = escalation ? await escalation.arm({ ...recovery, status: 'running' }, 'deadline') : recovery;
    const gated = await this.passGates(armed, job);
    if (gated !== 'go') return { recoveryId, status: gated };
    const attempt = job.attemptsMade + 1;
    const maxAttempts = job.opts.attempts ?? 1;
    let current: Recovery = { ...armed, status: 'running', attempts: Math.max(recovery.attempts, attempt) as Recovery['attempts'] };
    if (escalation) {
      current = await escalation.arm(current, 'ladder');
      if (await escalation.climbRequested(current)) return this.climb(current, String(job.id), attempt, 'its rung ran out of time');
    }
    const execution = new Execution(this.deps, current, {
      attempt,
      lastAttempt: attempt >= maxAttempts,
      event: job.data.kind === 'wake' ? job.data.event : undefined,
    });
    this.active.add(execution);
    const heartbeat = this.heartbeat(execution);
    try {
      const settled = await execution.run();
      switch (settled.kind) {
        case 'done':
          if (escalation?.shouldClimb(execution.recovery, settled.output)) {
            return await this.climb(execution.recovery, String(job.id), attempt, `${execution.recovery.workflow} ended ${settled.output.outcome}${settled.output.reason ? `: ${settled.output.reason}` : ''}`);
          }
          await this.finish(execution.recovery, settled.output, attempt);
          return { recoveryId, status: 'done', outcome: settled.output.outcome };
        case 'parked':
          await this.leaveGates(execution.recovery, 'parked');
          return { recoveryId, status: 'waiting' };
        case 'preempted':
          return await this.climb(execution.recovery, String(job.id), attempt, `${execution.recovery.workflow} used its rung's time budget`);
        case 'cancelled':
          await this.finish(execution.recovery, { outcome: 'cancelled', reason: settled.reason }, attempt);
          return { recoveryId, status: 'done', outcome: 'cancelled' };
        case 'retry':
          await this.leaveGates(execution.recovery, 'retry');
          log.warn({ recovery: recoveryId, step: settled.step, attempt, code: settled.error.code }, `${describe(execution.recovery)}: step ${settled.step} failed on attempt ${attempt}: ${settled.error.message}; will retry`);
          throw settled.error;
        case 'crashed':
          if (escalation?.shouldClimb(execution.recovery, { outcome: 'failed' })) {
            return await this.climb(execution.recovery, String(job.id), attempt, `${execution.recovery.workflow} crashed: ${settled.error.message}`);
          }
          await this.finish(execution.recovery, { outcome: 'failed', reason: settled.error.message }, attempt);
          throw nonRetryable(settled.error.code, settled.error.message, { cause: settled.error });
        case 'halted':
          // The worker is shutting down abruptly: leave the job to the stall check, as a dead worker would.
          return this.hang();
      }
    } finally {
      clearInterval(heartbeat);
      this.active.delete(execution);
    }
  }

  /**
   * A claimed recovery an operator cancelled. Parked where its workflow takes `recovery.cancel` (the job is the
   * cancel's wake): the event is delivered and the workflow finishes as it defines. Otherwise it is ended
   * `cancelled` at once, with no step run.
   */
  private async cancelClaimed(recovery: Recovery, job: Bull.Job<JobData>, request: CancelRequest): Promise<JobResult> {
    const attempt = job.attemptsMade + 1;
    const reason = describeCancel(request);
    const current: Recovery = { ...recovery, status: 'running' };
    const event = job.data.kind === 'wake' && job.data.event.type === 'recovery.cancel' ? job.data.event : undefined;
    if (event && recovery.status === 'waiting') {
      const execution = new Execution(this.deps, current, { attempt, lastAttempt: attempt >= (job.opts.attempts ?? 1), event, cancelling: { reason } });
      this.active.add(execution);
      try {
        const settled = await execution.run();
        if (settled.kind === 'done') {
          await this.finish(execution.recovery, settled.output, attempt);
          return { recoveryId: recovery.id, status: 'done', outcome: settled.output.outcome };
        }
        if (settled.kind === 'halted') return this.hang();
        if (settled.kind === 'retry') throw settled.error;
        // Cancelled outright, or the workflow took the event and neither finished nor failed: it ends here.
        await this.finish(execution.recovery, { outcome: 'cancelled', reason }, attempt);
        return { recoveryId: recovery.id, status: 'done', outcome: 'cancelled' };
      } finally {
        this.active.delete(execution);
      }
    }
    await this.finish(current, { outcome: 'cancelled', reason }, attempt);
    return { recoveryId: recovery.id, status: 'done', outcome: 'cancelled' };
  }

  /**
   * While a machine runs: keeps the gates' leases alive, stops it when an operator cancels it (or its parent),
   * and preempts the run when its ladder rung has run out of time (the rung's timer job may fire in any
   * process; the flags are read here).
   */
  private heartbeat(execution: Execution): NodeJS.Timeout {
    let tick = 0;
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      tick += 1;
      void (async () => {
        if (tick % 5 === 0) for (const gate of this.deps.gates ?? []) await gate.renew?.(execution.recovery);
        const cancel = await this.deps.store.cancelRequest(execution.recovery);
        if (cancel) {
          execution.cancel(describeCancel(cancel));
          return;
        }
        if (this.deps.escalation && (await this.deps.escalation.climbRequested(execution.recovery))) {
          execution.preempt(`rung ${(execution.recovery.ladder?.rung ?? 0) + 1} of ${execution.recovery.id}'s ladder ran out of time`);
        }
      })().catch((err: unknown) => this.deps.log.debug({ err, recovery: execution.recovery.id }, 'heartbeat failed; next tick retries'))
        .finally(() => { busy = false; });
    }, HEARTBEAT_MS);
    timer.unref();
    return timer;
  }

  /** The rung ran out of time or ended without recovering: the next rung runs, or the ladder ends. */
  private async climb(recovery: Recovery, jobId: string, attempt: number, why: string): Promise<JobResult> {
    const escalation = this.deps.escalation!;
    await this.leaveGates(recovery, 'preempted');
    const climbed = await escalation.climb(recovery, why);
    if (climbed.kind === 'end') {
      await this.finish(recovery, climbed.output, attempt);
      return { recoveryId: recovery.id, status: 'done', outcome: climbed.output.outcome };
    }
    const rung = climbed.recovery.ladder?.rung ?? 0;
    await this.deps.queue.enqueueAgain(recovery.id, `rung-${rung}-${jobId.replace(/[^A-Za-z0-9-]/g, '')}`, jobOptionsFor(climbed.recovery.params, this.deps.registry));
    return { recoveryId: recovery.id, status: 'climbed' };
  }

  /**
   * Asks every gate in turn. A `wait` or `hold` lets go of the claim (no job is left: the gate hands one back
   * when the recovery may run) and says why in the audit trail, once per reason.
   */
  private async passGates(recovery: Recovery, job: Bull.Job<JobData>): Promise<'go' | 'waiting-slot' | 'held' | 'deferred'> {
    const entered: RecoveryGate[] = [];
    const event = job.data.kind === 'wake' ? job.data.event : undefined;
    for (const gate of this.deps.gates ?? []) {
      const verdict = await gate.enter(recovery, event ? { event } : undefined);
      if (verdict.kind === 'go') {
        entered.push(gate);
        continue;
      }
      if (verdict.kind === 'hold') {
        // Held for a human: every other gate lets go of it, places in line included.
        for (const other of this.deps.gates ?? []) if (other !== gate) await other.leave?.(recovery, 'held');
      } else {
        for (const earlier of entered) await earlier.leave?.(recovery, 'parked');
      }
      await this.noteGate(recovery, `${gate.name}:${verdict.kind}`, verdict.reason);
      if (verdict.kind === 'wait' && event) {
        // A wake carries its event: keep the job (deferred, event and all) rather than hand the recovery to a
        // plain run later, which would resume it without the event. It stays parked meanwhile.
        await this.deps.store.release(recovery.id, String(job.id), 'waiting');
        await this.deps.queue.defer(job);
        return 'deferred';
      }
      // A hold keeps a wake's event with the gate, which delivers it again on release.
      await this.deps.store.release(recovery.id, String(job.id), verdict.kind === 'hold' ? 'waiting' : 'queued');
      return verdict.kind === 'hold' ? 'held' : 'waiting-slot';
    }
    await this.noteGate(recovery, undefined, undefined);
    return 'go';
  }

  /** One audit line when a recovery starts waiting at a gate, and one when it gets through. */
  private async noteGate(recovery: Recovery, note: string | undefined, reason: string | undefined): Promise<void> {
    const { redis, keys, audit, clock, worker } = this.deps;
    const key = keys.recovery(recovery.id);
    const previous = await redis.hget(key, 'gate');
    if ((previous ?? undefined) === note) return;
    if (note) await redis.hset(key, 'gate', note);
    else await redis.hdel(key, 'gate');
    await audit.write({
      at: isoNow(clock.now()), type: 'decision', incidentId: recovery.incidentId, recoveryId: recovery.id, workflow: recovery.workflow, worker,
      message: note ? `${note.endsWith(':hold') ? 'held' : 'waiting'}: ${reason}` : `admitted (was ${previous?.replace(/:.*/, '')} ${previous?.endsWith(':hold') ? 'hold' : 'wait'})`,
    });
  }

  private async leaveGates(recovery: Recovery, reason: LeaveReason): Promise<void> {
    for (const gate of this.deps.gates ?? []) {
      await gate.leave?.(recovery, reason).catch((err: unknown) => this.deps.log.warn({ err, recovery: recovery.id, gate: gate.name }, `could not leave gate ${gate.name}`));
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
    this.halted = true;
    for (const execution of this.active) execution.halt();
  }

  /** What a job gets from a halted runner: no answer at all, as from a killed process. */
  private hang(): Promise<JobResult> {
    return new Promise<JobResult>(() => undefined);
  }

  private async finish(recovery: Recovery, output: RecoveryOutput, attempt: number): Promise<void> {
    const { redis, store, incidents, audit, clock, worker, log, dedupeWindowSeconds } = this.deps;
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
    await this.countAgainstSla(multi, finished, now);
    audit.append(multi, {
      at: isoNow(now), type: 'decision', incidentId: recovery.incidentId, recoveryId: recovery.id, workflow: recovery.workflow,
      attempt, worker, outcome, message: `recovery ${outcome}${reason ? `: ${reason}` : ''}`,
      ...(typeof recovery.params.sla === 'string' ? { sla: recovery.params.sla } : {}),
    });
    if (!recovery.parentId) {
      const incident = await incidents.get(recovery.incidentId);
      if (incident && incident.status === 'open') {
        incidents.close(multi, incident, outcome, isoNow(now), reason, dedupeWindowSeconds);
        audit.append(multi, {
          at: isoNow(now), type: 'incident', incidentId: recovery.incidentId, recoveryId: recovery.id, outcome, worker,
          message: `incident ${incidentStatusOf(outcome)}${reason ? `: ${reason}` : ''}`,
        });
      }
    }
    await multi.exec();
    log.info({ recovery: recovery.id, incident: recovery.incidentId, outcome, reason }, `${describe(recovery)}: ${outcome}${reason ? ` (${reason})` : ''}`);
    await this.leaveGates(finished, 'done');
    await this.propagateToParent(finished);
  }

  /**
   * Per-VM recoveries are what an SLA promises (a host recovery is only the means), so only they are counted:
   * time to recover from the incident's opening, against the deadline of the SLA their decision named.
   */
  private async countAgainstSla(multi: ChainableCommander, finished: Recovery, now: number): Promise<void> {
    const { compliance, registry, incidents } = this.deps;
    const slaName = finished.params.sla;
    if (!compliance || !finished.subject.instance || typeof slaName !== 'string') return;
    const incident = await incidents.get(finished.incidentId);
    const openedAt = incident ? Date.parse(incident.openedAt) : Date.parse(finished.createdAt);
    compliance.record(multi, {
      recoveryId: finished.id, sla: slaName, workflow: finished.workflow, outcome: finished.outcome ?? 'failed',
      seconds: Math.max(0, (now - openedAt) / 1000), deadlineSeconds: registry.findSla(slaName)?.deadlineSeconds ?? null, breached: false,
    });
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
      .hget(keys.recovery(child.parentId), 'round')
      .exec();
    const finishedCount = Number(replies?.[1]?.[1] ?? 0);
    const total = Number(replies?.[2]?.[1] ?? -1);
    const round = Number(replies?.[3]?.[1] ?? 0);
    if (finishedCount >= total && total > 0) {
      // Keyed by the size of the set: a later fan-out of the same parent wakes it again; and by the parent's
      // round, so the same set completed again after a retry (Engine.retry) wakes it again too.
      await queue.enqueueWake(child.parentId, round > 0 ? `children-done-${total}-r${round}` : `children-done-${total}`, { type: 'children.done' });
    }
  }
}

/** The reason a cancelled recovery ends with: who, why, and the ancestor the request was made on. */
export function describeCancel(request: CancelRequest): string {
  return `cancelled by ${request.by}${request.via ? ` with ${request.via}` : ''}${request.reason ? `: ${request.reason}` : ''}`;
}
