import type { CallOptions } from '../cloud/port';

export const NOTIFIER = Symbol.for('resurrect.Notifier');

export type Severity = 'info' | 'warning' | 'critical';

export interface Notification {
  readonly severity: Severity;
  /** Dotted lowercase topic, e.g. `incident.escalated`, `approval.requested`. */
  readonly topic: string;
  readonly summary: string;
  readonly incidentId?: string;
  readonly recoveryId?: string;
  readonly details?: Record<string, unknown>;
}

/** Delivers a notification to humans or other systems. Throws RSR_NOTIFY_FAILED (retryable) on failure. */
export interface Notifier {
  readonly name: string;
  notify(notification: Notification, options?: CallOptions): Promise<void>;
}
