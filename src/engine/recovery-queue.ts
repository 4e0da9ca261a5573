import Bull from 'bull';
import type { Logger } from 'pino';
import { ResurrectError, toResurrectError } from '../domain';
import type { Keys } from './keys';

/**
 * A recovery job either runs a recovery's machine (`run`) or wakes a parked one with an outside event
 * (`wake`). The job id is derived from the recovery (and the event's key), so a repeated enqueue is a no-op.
 */
export type JobData =
  | { readonly kind: 'run'; readonly recoveryId: string }
  | { readonly kind: 'wake'; readonly recoveryId: string; readonly event: { readonly type: string; readonly [k: string]: unknown } }
  | { readonly kind: 'timer'; readonly recoveryId: string; readonly timer: RecoveryTimer };

/** A recovery's SLA clocks (escalation.ts): its deadline, and the time budget of the ladder rung it is on. */
export type RecoveryTimer = { readonly type: 'deadline' } | { readonly type: 'rung'; readonly rung: number };

export interface JobResult {
  readonly recoveryId: string;
  readonly status: string;
  readonly outcome?: string;
}

/**
 * Crash recovery rides on bull's lock and stall check. A worker renews its job lock every lockDuration/2;
 * a SIGKILLed worker stops renewing, and within lockDuration + stalledInterval another worker moves the job
 * back to wait and resumes it from the persisted snapshot. Shorter means faster resumption but more Redis
 * traffic and a risk of a false stall when a worker's event loop is blocked for longer than lockDuration.
 */
export interface QueueSettings {
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
  /** Stalls tolerated before bull gives a job up; recoveries resume, so we allow several. */
  readonly maxStalledCount: number;
  readonly attempts: number;
  readonly backoffMs: number;
}

export const DEFAULT_QUEUE_SETTINGS: QueueSettings = {
  lockDurationMs: 10_000,
  stalledIntervalMs: 5_000,
  maxStalledCount: 5,
  attempts: 5,
  backoffMs: 2_000,
};

/** A job whose recovery (or instance) is held by another job comes back after this delay. */
const DEFER_MS = 250;

export const QUEUE_NAME = 'recoveries';

export class RecoveryQueue {
  readonly queue: Bull.Queue<JobData>;
  private naming: Promise<unknown> = Promise.resolve();

  constructor(redisUrl: string, keys: Keys, readonly settings: QueueSettings, private readonly log: Logger) {
    this.queue = new Bull<JobData>(QUEUE_NAME, redisUrl, {
      prefix: keys.bullPrefix,
      settings: {
        lockDuration: settings.lockDurationMs,
        lockRenewTime: Math.floor(settings.lockDurationMs / 2),
        stalledInterval: settings.stalledIntervalMs,
        maxStalledCount: settings.maxStalledCount,
      },
      defaultJobOptions: {
        removeOnComplete: { age: 24 * 3600, count: 10_000 },
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    });
    this.queue.on('error', (err) => this.log.error({ err }, 'recovery queue error'));
  }

  async enqueueRun(recoveryId: string, options: { priority?: number; attempts?: number; backoffMs?: number; exponential?: boolean } = {}): Promise<void> {
    await this.queue.add({ kind: 'run', recoveryId }, {
      jobId: recoveryId,
      priority: options.priority,
      attempts: options.attempts ?? this.settings.attempts,
      backoff: { type: options.exponential === false ? 'fixed' : 'exponential', delay: options.backoffMs ?? this.settings.backoffMs },
    });
  }

  /**
   * `key` makes the wake idempotent: the same key never wakes twice. A woken run retries its steps like any
   * run (same attempts and backoff).
   */
  async enqueueWake(recoveryId: string, key: string, event: { type: string; [k: string]: unknown }): Promise<void> {
    await this.queue.add({ kind: 'wake', recoveryId, event }, {
      jobId: `${recoveryId}:wake:${key}`,
      attempts: this.settings.attempts,
      backoff: { type: 'exponential', delay: this.settings.backoffMs },
    });
  }

  /**
   * Another run of a recovery whose first job is spent (admitted after waiting for a slot, moved to the next
   * rung of its ladder): a fresh job id under `tag`, the same SLA options.
   */
  async enqueueAgain(recoveryId: string, tag: string, options: { priority?: number; attempts?: number; backoffMs?: number; exponential?: boolean } = {}): Promise<void> {
    await this.queue.add({ kind: 'run', recoveryId }, {
      jobId: `${recoveryId}~${tag}`,
      priority: options.priority,
      attempts: options.attempts ?? this.settings.attempts,
      backoff: { type: options.exponential === false ? 'fixed' : 'exponential', delay: options.backoffMs ?? this.settings.backoffMs },
    });
  }

  /**
   * A delayed job that fires at `atMs` (a bull delayed job lives in Redis, so the timer survives restarts of
   * every process). The id makes it idempotent: one deadline per recovery, one timer per rung.
   */
  async scheduleTimer(recoveryId: string, timer: RecoveryTimer, atMs: number): Promise<void> {
    const name = timer.type === 'deadline' ? 'deadline' : `rung-${timer.rung}`;
    await this.queue.add({ kind: 'timer', recoveryId, timer }, {
      jobId: `${recoveryId}:timer:${name}`,
      delay: Math.max(0, atMs - Date.now()),
      priority: 1,
      attempts: this.settings.attempts,
      backoff: { type: 'exponential', delay: this.settings.backoffMs },
    });
  }

  /** Runs a recovery's delayed retry now (a rung's budget ran out while it was backing off). */
  async promote(jobId: string): Promise<boolean> {
    const job = await this.queue.getJob(jobId);
    if (!job || !(await job.isDelayed())) return false;
    await job.promote().catch(() => undefined);
    return true;
  }

  /** Re-queues a job's work under a fresh id, a little later (see RecoveryRunner: busy claims). */
  async defer(job: Bull.Job<JobData>): Promise<void> {
    await this.queue.add(job.data, {
      jobId: `${String(job.id).replace(/~\d+$/, '')}~${Date.now()}`,
      delay: DEFER_MS,
      priority: job.opts.priority,
      attempts: job.opts.attempts ?? this.settings.attempts,
      backoff: job.opts.backoff ?? { type: 'exponential', delay: this.settings.backoffMs },
    });
  }

  /**
   * Runs `handler` for each job. The bridge between our errors and bull's retries lives here and only here:
   * a non-retryable error discards the job (bull 4 has no UnrecoverableError) before it is rethrown.
   */
  process(
    concurrency: number,
    handler: (job: Bull.Job<JobData>) => Promise<JobResult>,
    onGaveUp?: (job: Bull.Job<JobData>, error: Error) => Promise<void>,
  ): void {
    if (onGaveUp) {
      // 'failed' fires for every failed attempt; only a job bull will not run again (no attempts left,
      // discarded, or stalled too often) is given up. The stall check emits it in whichever worker ran it.
      this.queue.on('failed', (job, error) => {
        void (async () => {
          if ((await job.getState()) === 'failed') await onGaveUp(job, error);
        })().catch((err: unknown) => this.log.error({ err, job: job.id }, 'could not record a job given up'));
      });
    }
    // bull 4 names the worker's connection (CLIENT SETNAME) without awaiting or catching it: a close right
    // after start rejects it unhandled. Keep the promise so close() can wait for it, and catch it.
    const queue = this.queue as unknown as { setWorkerName(): Promise<unknown> };
    const setWorkerName = queue.setWorkerName.bind(queue);
    queue.setWorkerName = () => (this.naming = setWorkerName().catch(() => undefined));
    // bull's process() promise settles only when the queue closes (rejecting, on a close mid-start); the
    // errors that matter arrive on the queue's 'error' event.
    this.queue.process(concurrency, async (job) => {
      try {
        return await handler(job);
      } catch (err) {
        const error = toResurrectError(err);
        if (!error.retryable) await job.discard();
        throw error instanceof ResurrectError ? error : err;
      }
    }).catch((err: unknown) => {
      if (err !== undefined) this.log.warn({ err }, 'recovery queue stopped processing');
    });
  }

  async close(doNotWaitJobs = false): Promise<void> {
    // Closing while bull is still creating its connections leaks one that reconnects forever: bull 4 creates
    // the blocking client lazily after process() (`_initializingProcess`), so wait for that first.
    await this.queue.isReady().catch(() => undefined);
    await (this.queue as unknown as { _initializingProcess?: Promise<unknown> })._initializingProcess?.catch(() => undefined);
    await this.naming;
    await this.queue.close(doNotWaitJobs);
  }
}
