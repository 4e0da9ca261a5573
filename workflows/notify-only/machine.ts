/**
 * notify-only — record, tell a human, and wait for their decision. The wait is durable: the recovery is parked
 * (no job holds it) and an operator's decision wakes it, whatever restarted in between.
 *
 *   notifying ──▶ awaitingDecision (waiting) ──operator.decision──▶ resolved | dismissed
 *                         │ recovery.cancel
 *                         ▼
 *                      cancelled
 */
import { assign, setup } from 'xstate';
import type { OperatorDecisionEvent, RecoveryInput, RecoveryOutput } from '../../src/plugins/api';
import { WAITING_TAG, stepActor } from '../../src/plugins/api';

interface Context {
  readonly input: RecoveryInput;
  decidedBy?: string;
  comment?: string;
  outcome?: RecoveryOutput['outcome'];
}

type Events = OperatorDecisionEvent | { type: 'recovery.cancel'; by?: string };

export const notifyOnlyMachine = setup({
  types: { context: {} as Context, input: {} as RecoveryInput, output: {} as RecoveryOutput, events: {} as Events },
  actors: {
    notify: stepActor<{ severity: string; topic: string; summary: string; details?: Record<string, unknown> }, unknown>('notify'),
  },
  actions: {
    recordDecision: assign(({ event }) => (event.type === 'operator.decision' ? { decidedBy: event.by, ...(event.comment ? { comment: event.comment } : {}) } : {})),
  },
}).createMachine({
  id: 'notify-only',
  initial: 'notifying',
  context: ({ input }) => ({ input }),
  states: {
    notifying: {
      invoke: {
        src: 'notify',
        input: ({ context }) => ({
          severity: 'warning',
          topic: 'decision.requested',
          summary: `${context.input.subject.instance ?? context.input.subject.host}: failure recorded, waiting for an operator's decision (recovery ${context.input.recoveryId})`,
        }),
        onDone: 'awaitingDecision',
        // A notifier that is down must not stop the record: the operator still finds it in the list.
        onError: 'awaitingDecision',
      },
    },
    awaitingDecision: {
      tags: [WAITING_TAG],
      on: {
        'operator.decision': [
          { guard: ({ event }) => event.decision === 'deny', target: 'dismissed', actions: 'recordDecision' },
          { target: 'resolved', actions: 'recordDecision' },
        ],
        'recovery.cancel': 'cancelled',
      },
    },
    resolved: { type: 'final', entry: assign({ outcome: 'recovered' as const }) },
    dismissed: { type: 'final', entry: assign({ outcome: 'skipped' as const }) },
    cancelled: { type: 'final', entry: assign({ outcome: 'cancelled' as const }) },
  },
  output: ({ context }) => ({
    outcome: context.outcome ?? 'failed',
    ...(context.decidedBy ? { reason: `decided by ${context.decidedBy}${context.comment ? `: ${context.comment}` : ''}` } : {}),
    result: { decidedBy: context.decidedBy ?? null },
  }),
});
