import { retryable, toResurrectError } from '../../domain';
import type { CallOptions } from '../cloud/port';
import type { Notification, Notifier } from './port';

export interface NotifierFailure {
  readonly notifier: string;
  readonly code: string;
  readonly message: string;
}

/**
 * Sends every notification to all notifiers at once. One failing channel does not keep the others from
 * delivering; if any failed, a retryable RSR_NOTIFY_FAILED lists the failures and who did receive it (a
 * retry then delivers again to those: a duplicate page is better than a lost one).
 */
export class FanoutNotifier implements Notifier {
  readonly name: string;

  constructor(
    private readonly notifiers: readonly Notifier[],
    options: { readonly name?: string } = {},
  ) {
    this.name = options.name ?? 'fanout';
  }

  async notify(notification: Notification, options?: CallOptions): Promise<void> {
    if (options?.signal?.aborted) throw options.signal.reason;
    const results = await Promise.allSettled(this.notifiers.map((n) => n.notify(notification, options)));
    if (options?.signal?.aborted) throw options.signal.reason;
    const failures: NotifierFailure[] = [];
    const delivered: string[] = [];
    results.forEach((result, i) => {
      const name = (this.notifiers[i] as Notifier).name;
      if (result.status === 'fulfilled') delivered.push(name);
      else {
        const error = toResurrectError(result.reason);
        failures.push({ notifier: name, code: error.code, message: error.message });
      }
    });
    if (failures.length === 0) return;
    throw retryable('RSR_NOTIFY_FAILED', `${failures.length} of ${this.notifiers.length} notifiers failed: ${failures.map((f) => `${f.notifier} (${f.message})`).join('; ')}`, {
      details: { failures, delivered },
    });
  }
}
