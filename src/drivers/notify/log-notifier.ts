import type { Logger } from 'pino';
import { redact } from '../../domain';
import type { CallOptions } from '../cloud/port';
import type { Notification, Notifier, Severity } from './port';

const LEVEL: Readonly<Record<Severity, 'info' | 'warn' | 'error'>> = { info: 'info', warning: 'warn', critical: 'error' };

/** Notifications as log lines: always available, and the baseline every other notifier is compared with. */
export class LogNotifier implements Notifier {
  readonly name: string;

  constructor(
    private readonly log: Logger,
    options: { readonly name?: string } = {},
  ) {
    this.name = options.name ?? 'log';
  }

  async notify(notification: Notification, options?: CallOptions): Promise<void> {
    if (options?.signal?.aborted) throw options.signal.reason;
    const { severity, topic, summary, incidentId, recoveryId, details } = notification;
    this.log[LEVEL[severity]](
      redact({ notification: { topic, severity, ...(incidentId ? { incidentId } : {}), ...(recoveryId ? { recoveryId } : {}), ...(details ? { details } : {}) } }),
      summary,
    );
  }
}
