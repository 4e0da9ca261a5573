import type { Logger } from 'pino';
import type { RecoveryQueue } from './recovery-queue';
import type { RecoveryRunner } from './runner';

/** Pulls recovery jobs from the queue and runs them, `concurrency` at a time. */
export class RecoveryWorker {
  private started = false;

  constructor(private readonly queue: RecoveryQueue, private readonly runner: RecoveryRunner, private readonly log: Logger, readonly name: string) {}

  start(concurrency: number): void {
    if (this.started) return;
    this.started = true;
    this.queue.process(concurrency, (job) => this.runner.process(job), (job, error) => this.runner.gaveUp(job, error));
    this.log.info({ worker: this.name, concurrency }, `worker ${this.name} processing recoveries (concurrency ${concurrency})`);
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
