import type { Registry } from '../plugins/registry';

export interface JobOptions {
  readonly priority?: number;
  readonly attempts?: number;
  readonly backoffMs?: number;
  readonly exponential?: boolean;
}

/**
 * A recovery's bull job options from the SLA its decision named (`params.sla`): priority (1 first; bull's
 * wait list is ordered by it for every worker), and the SLA's retry budget and backoff. No SLA, or one no
 * plugin registered: the queue's defaults.
 */
export function jobOptionsFor(params: Readonly<Record<string, unknown>>, registry: Registry): JobOptions {
  const name = params.sla;
  if (typeof name !== 'string') return {};
  const sla = registry.findSla(name);
  if (!sla) return {};
  return { priority: sla.priority, attempts: sla.retry.attempts, backoffMs: sla.retry.backoffMs, exponential: sla.retry.exponential };
}
