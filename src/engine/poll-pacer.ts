import type { Clock } from '../domain';

/**
 * Spaces the polls of every recovery a worker process runs, so that following many evacuations at once does
 * not multiply the load on the cloud's API by their number: each recovery still polls at its own interval
 * when few run, and at most `perSecond` polls a second leave the process when many do (their turns come in
 * the order asked). Actions (an evacuate, a force-down) never wait here: only the waiting-for-the-world reads
 * do, which is what keeps a loaded nova-api free for the actions. Seen on the lab, whose nova-api has one
 * worker: 10 recoveries polling every 250 ms are 40 requests a second, and their evacuate POSTs were accepted
 * seconds apart. `perSecond` 0: no pacing (the default: a trial there was inconclusive, docs/benchmarks.md).
 */
export class PollPacer {
  /** When the next turn may be taken. */
  private nextAt = 0;

  constructor(private readonly perSecond: number, private readonly clock: Clock) {}

  /** Waits for this process's next turn to poll; a turn is reserved at once, so callers are served FIFO. */
  async turn(signal?: AbortSignal): Promise<void> {
    if (!(this.perSecond > 0)) return;
    const now = this.clock.now();
    const at = Math.max(now, this.nextAt);
    this.nextAt = at + 1000 / this.perSecond;
    if (at > now) await this.clock.sleep(at - now, signal);
  }
}
