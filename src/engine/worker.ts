import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Keys } from './keys';
import type { RecoveryQueue } from './recovery-queue';
import { requeueOrphans } from './requeue-orphans';
import type { RecoveryRunner } from './runner';

/** Pulls recovery jobs from the queue and runs them, `concurrency` at a time. */
export class RecoveryWorker {
  private started = false;

  /** Settles when the start-up sweep for recoveries left without a job is done. */
  swept: Promise<string[]> = Promise.resolve([]);

  constructor(
    private readonly queue: RecoveryQueue,
    private readonly runner: RecoveryRunner,
    private readonly store: { readonly redis: Redis; readonly keys: Keys },
    private readonly log: Logger,
    readonly name: string,
    /** Periodic duties of a working process (the admission sweep), started and stopped with it. */
    private readonly duties: readonly { start(): void; stop(): void }[] = [],
  ) {}

  start(concurrency: number): void {
    if (this.started) return;
    this.started = true;
    this.queue.process(concurrency, (job) => this.runner.process(job), (job, error) => this.runner.gaveUp(job, error));
    for (const duty of this.duties) duty.start();
    this.log.info({ worker: this.name, concurrency }, `worker ${this.name} processing recoveries (concurrency ${concurrency})`);
    this.swept = requeueOrphans({ ...this.store, queue: this.queue, log: this.log }).catch((err: unknown) => {
      this.log.error({ err }, 'could not sweep for recoveries left without a job');
      return [];
    });
  }

  /**
   * `abrupt` stops every machine where it stands and leaves the jobs locked, as a killed process would:
   * another worker resumes them after the stall check. Otherwise in-flight jobs finish first.
   */
  async close(options: { abrupt?: boolean } = {}): Promise<void> {
    for (const duty of this.duties) duty.stop();
    if (options.abrupt) this.runner.haltAll();
    await this.queue.close(Boolean(options.abrupt));
  }

  /**
   * SIGTERM: take no new job, give the jobs in flight `graceMs` to finish, then hand the rest back: their
   * machines stop where they stand (nothing more is written) and another worker resumes them from their last
   * snapshot once the lock lapses (lockDuration + stalledInterval). Evacuations can take minutes, so waiting
   * for them all would hold a deploy hostage; handing back loses nothing.
   */
  async shutdown(graceMs: number): Promise<'drained' | 'handed-back'> {
    if (!this.started) {
      await this.queue.close();
      return 'drained';
    }
    for (const duty of this.duties) duty.stop();
    await this.queue.queue.pause(true, true);
    const drained = await Promise.race([
      this.queue.queue.whenCurrentJobsFinished().then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), graceMs).unref()),
    ]);
    if (!drained) {
      this.log.warn({ worker: this.name, graceMs }, `jobs still running after ${graceMs} ms: handing them back to the other workers`);
      await this.close({ abrupt: true });
      return 'handed-back';
    }
    await this.close();
    return 'drained';
  }
}
