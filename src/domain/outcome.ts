import * as t from 'io-ts';

/** How a recovery ended. `partial` is only for recoveries with children. */
export const Outcome = t.keyof(
  { recovered: null, partial: null, failed: null, escalated: null, skipped: null, cancelled: null },
  'Outcome',
);
export type Outcome = t.TypeOf<typeof Outcome>;

export const RecoveryStatus = t.keyof(
  { queued: null, running: null, waiting: null, retrying: null, done: null },
  'RecoveryStatus',
);
export type RecoveryStatus = t.TypeOf<typeof RecoveryStatus>;

/** `cancelled`: an operator cancelled its root recovery (`Engine.cancel`). */
export const IncidentStatus = t.keyof({ open: null, resolved: null, escalated: null, cancelled: null }, 'IncidentStatus');
export type IncidentStatus = t.TypeOf<typeof IncidentStatus>;

/** The status an incident closes with when its root recovery ends with `outcome`. */
export function incidentStatusOf(outcome: Outcome): Exclude<IncidentStatus, 'open'> {
  switch (outcome) {
    case 'recovered':
    case 'skipped':
      return 'resolved';
    case 'cancelled':
      return 'cancelled';
    case 'partial':
    case 'failed':
    case 'escalated':
      return 'escalated';
  }
}

/** Derive a parent's outcome from its children: all recovered, some, or none. */
export function summarizeOutcomes(outcomes: readonly Outcome[]): Outcome {
  if (outcomes.length === 0) return 'recovered';
  const ok = outcomes.filter((o) => o === 'recovered' || o === 'skipped').length;
  if (ok === outcomes.length) return 'recovered';
  if (ok > 0) return 'partial';
  return outcomes.some((o) => o === 'escalated') ? 'escalated' : 'failed';
}
