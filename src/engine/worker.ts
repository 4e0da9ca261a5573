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
  ) {}

  start(concurrency: number): void {
    if (this.started) return;
    this.started = true;
    this.queue.process(concurrency, (job) => this.runner.process(job), (job, error) => this.runner.gaveUp(job, error));
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
    if (options.abrupt) this.runner.haltAll();
    await this.queue.close(Boolean(options.abrupt));
  }
}
