/**
 * An approval gate any workflow can put in front of something drastic ("more than N VMs", "no fencing
 * evidence"): ask an operator, wait durably, then go on or give up.
 *
 *   <check> ──not needed──────────────────────────────────────────────▶ <approved>   (optional)
 *      │ needed
 *      ▼
 *   <request> ──▶ <await> (waiting) ──operator.decision approve──────────▶ <approved>
 *   (requestApproval:        └─────────operator.decision deny | resolve──▶ <denied>
 *    audit + notify)
 *
 * The wait is a durable one (WAITING_TAG): no job holds the recovery, and `resurrect decide <recovery>
 * approve|deny --by NAME` (Engine.decide) wakes it. Only `approve` goes on: `resolve` means the operator dealt
 * with it by hand, so the automation does not go ahead either.
 *
 * Machines spreading these states must declare the actor `requestApproval` and an action `recordApproval`
 * taking `ApprovalParams`; `approvalUpdate` computes what it assigns:
 *
 *   recordApproval: assign(({ context, event }, params: ApprovalParams) => approvalUpdate(context, event, params)),
 *
 * It keeps who decided in `context.approvals[key]` (read it in the `<approved>` state, e.g. to record who
 * attested a power-off) and, on a denial, sets `context.reason`.
 */
import type { RecoveryInput } from '../../src/plugins/api';
import { WAITING_TAG } from '../../src/plugins/api';

export interface Approval {
  readonly decision: 'approve' | 'deny' | 'resolve';
  readonly by: string;
  readonly comment?: string;
}

export interface ApprovalContext {
  readonly input: RecoveryInput;
  approvals?: Record<string, Approval>;
  reason?: string;
}

export interface ApprovalParams {
  /** Names this gate in `context.approvals` (several gates may live in one machine). */
  readonly key: string;
  /** The reason a denial leaves: `<deniedReason>: deny by bob (comment)`. */
  readonly deniedReason: string;
}

export interface ApprovalNames<C extends ApprovalContext> extends ApprovalParams {
  /** A transient state that asks only when `needed` holds, else goes straight to `approved`. */
  readonly check?: string;
  readonly needed?: (context: C) => boolean;
  readonly request: string;
  readonly await: string;
  readonly approved: string;
  /** Where a denial goes (usually the machine's escalation). */
  readonly denied: string;
  /** What the operator is asked, in the notification and the audit trail. */
  readonly why: (context: C) => string;
}

export function approvalStates<C extends ApprovalContext>(names: ApprovalNames<C>) {
  const params: ApprovalParams = { key: names.key, deniedReason: names.deniedReason };
  return {
    ...(names.check
      ? {
        [names.check]: {
          always: [
            { guard: ({ context }: { context: C }) => (names.needed ? names.needed(context) : true), target: names.request },
            { target: names.approved },
          ],
        },
      }
      : {}),
    [names.request]: {
      invoke: {
        src: 'requestApproval',
        input: ({ context }: { context: C }) => ({ key: names.key, why: names.why(context) }),
        onDone: names.await,
        // Asking failed (the notifier is down after every retry): still wait; the audit trail and
        // `resurrect decide` reach the operator anyway.
        onError: names.await,
      },
    },
    [names.await]: {
      tags: [WAITING_TAG],
      on: {
        'operator.decision': [
          {
            guard: ({ event }: { event: { type: string; decision?: string } }) => event.decision === 'approve',
            target: names.approved,
            actions: { type: 'recordApproval', params },
          },
          { target: names.denied, actions: { type: 'recordApproval', params } },
        ],
      },
    },
  };
}

/** What `recordApproval` assigns for an `operator.decision` event. */
export function approvalUpdate(context: ApprovalContext, event: { type: string }, params: ApprovalParams): Partial<ApprovalContext> {
  if (event.type !== 'operator.decision') return {};
  const e = event as { decision?: Approval['decision']; by?: string; comment?: string };
  const approval: Approval = { decision: e.decision ?? 'deny', by: e.by ?? 'unknown', ...(e.comment ? { comment: e.comment } : {}) };
  return {
    approvals: { ...(context.approvals ?? {}), [params.key]: approval },
    ...(approval.decision === 'approve' ? {} : { reason: `${params.deniedReason}: ${approval.decision} by ${approval.by}${approval.comment ? ` (${approval.comment})` : ''}` }),
  };
}
