import type Bull from 'bull';
import type { Outcome, Recovery } from '../domain';
import { isoNow, nonRetryable, Outcome as OutcomeCodec } from '../domain';
import type { ChildResult, RecoveryOutput } from '../plugins/api';
import { describe, Execution } from './execution';
import type { RunnerDeps } from './execution';
import type { JobData, JobResult } from './recovery-queue';

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
    const recovery = await store.get(recoveryId);
    if (!recovery) throw nonRetryable('RSR_RECOVERY_NOT_FOUND', `job ${job.id} names unknown recovery ${recoveryId}`);
    if (this.halted) return this.hang();
    const claim = await store.claim(recoveryId, String(job.id), recovery.subject.instance);
    // Halted while claiming: this process is "dead" now and must not act; the claim it holds is its job's,
    // which the stall check hands to another worker.
    if (this.halted) return this.hang();
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
          return this.hang();
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
    audit.append(multi, {
      at: isoNow(now), type: 'decision', incidentId: recovery.incidentId, recoveryId: recovery.id, workflow: recovery.workflow,
      attempt, worker, outcome, message: `recovery ${outcome}${reason ? `: ${reason}` : ''}`,
    });
    if (!recovery.parentId) {
      const incident = await incidents.get(recovery.incidentId);
      if (incident && incident.status === 'open') {
        incidents.close(multi, incident, outcome, isoNow(now), reason, dedupeWindowSeconds);
        audit.append(multi, {
          at: isoNow(now), type: 'incident', incidentId: recovery.incidentId, recoveryId: recovery.id, outcome, worker,
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

