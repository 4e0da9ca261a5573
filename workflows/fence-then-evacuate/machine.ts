/**
 * fence-then-evacuate — a host is down: make sure it is off, then rebuild its instances elsewhere.
 *
 *   fencing ──ok──▶ verifying ──ok──▶ isolating ──▶ listing ──▶ checkingFanOut ──▶ fanningOut ──▶ awaitingChildren (waiting)
 *      │ fail          │ unconfirmed      ▲                         │ > approval.aboveVms │ none        │ children.done
 *      ▼               ▼                  │                         ▼                     ▼             ▼
 *   fenceFailed        │            attestingFence      requestingFanOutApproval      summarizing ◀────┘
 *      │ ask           │                  ▲             awaitingFanOutApproval (waiting)  │ all ok / some / none
 *      ▼               │                  │ approve       │ approve ▶ fanningOut          ▼
 *   requestingFenceConfirmation ──▶ awaitingFenceConfirmation (waiting)   recovered | reportingPartial → partial | escalating
 *      │ escalate (default)                │ deny           │ deny
 *      ▼                                   ▼                ▼
 *   escalating ◀───────────── (no instance is ever evacuated) ──▶ escalated (final)
 *
 * Invariant I1 lives here and in the steps: the only ways to isolating (and so to fanningOut) are
 * verifying's done event and an operator's attested power-off (attestingFence, reached only by an approve
 * of awaitingFenceConfirmation); every child re-checks the fence evidence before it evacuates.
 *
 * Parameters (`params.approval`): `aboveVms: N` — more than N instances on the host ⇒ an operator approves
 * the evacuations first (absent: never ask); `onNoFenceEvidence: 'ask' | 'escalate'` (default escalate) —
 * when every fence level failed, ask an operator to attest the host is off (Pacemaker's
 * `stonith_admin --confirm`) instead of escalating at once. An unconfirmed fence (the host looks alive)
 * always escalates.
 */
import { assign, setup } from 'xstate';
import type { DoneActorEvent } from 'xstate';
import type { RecoveryInput, RecoveryOutput } from '../../src/plugins/api';
import { stepActor } from '../../src/plugins/api';
import type { ChildSummary, ErrorInfo } from '../shared/machine-kit';
import type { Approval, ApprovalParams } from '../shared/approval-states';
import { approvalStates, approvalUpdate } from '../shared/approval-states';
import { fanOutStates } from '../shared/fan-out-states';
import { fenceStates } from '../shared/fence-states';
import type { FenceOutput } from '../shared/fence-states';
import { describeFailures, errorInfo, hostOf, param } from '../shared/machine-kit';

interface Context {
  readonly input: RecoveryInput;
  fence?: FenceOutput;
  instances: { id: string }[];
  summary?: ChildSummary;
  reason?: string;
  error?: ErrorInfo;
  outcome?: RecoveryOutput['outcome'];
  approvals?: Record<string, Approval>;
}

interface ApprovalSettings {
  readonly aboveVms?: number;
  readonly onNoFenceEvidence?: 'ask' | 'escalate';
}

const approvalSettings = (context: Context): ApprovalSettings => param<ApprovalSettings>(context.input, 'approval', {}) ?? {};

export const fenceThenEvacuateMachine = setup({
  types: { context: {} as Context, input: {} as RecoveryInput, output: {} as RecoveryOutput },
  actors: {
    fenceHost: stepActor<{ host: string }, FenceOutput>('fenceHost'),
    verifyFenced: stepActor<object, unknown>('verifyFenced'),
    isolateComputeService: stepActor<{ host: string; reason: string; forceDown: boolean }, unknown>('isolateComputeService'),
    listInstances: stepActor<{ host: string }, { id: string }[]>('listInstances'),
    spawnRecoveries: stepActor<{ host: string; workflow: string; instances: { id: string }[] }, { count: number }>('spawnRecoveries'),
    summarizeChildren: stepActor<{ keyPrefix: string }, ChildSummary>('summarizeChildren'),
    notify: stepActor<{ severity: string; topic: string; summary: string; details?: Record<string, unknown> }, unknown>('notify'),
    requestApproval: stepActor<{ key: string; why: string }, unknown>('requestApproval'),
    attestFenced: stepActor<{ host: string; by: string; comment?: string }, unknown>('attestFenced'),
  },
  actions: {
    recordFence: assign({ fence: ({ event }) => (event as DoneActorEvent<FenceOutput>).output }),
    recordInstances: assign({ instances: ({ event }) => (event as DoneActorEvent<{ id: string }[]>).output.map((i) => ({ id: i.id })) }),
    failWith: assign(({ event }, prefix: string) => {
      const error = errorInfo((event as { error?: unknown }).error);
      return { error, reason: `${prefix}: ${error.message}` };
    }),
    recordApproval: assign(({ context, event }, params: ApprovalParams) => approvalUpdate(context, event, params)),
    // The operator vouched for the power-off: the fence failure is no longer the story of this recovery.
    clearFailure: assign({ reason: undefined, error: undefined }),
  },
  guards: {
    askOnNoFenceEvidence: ({ context }) => approvalSettings(context).onNoFenceEvidence === 'ask',
  },
}).createMachine({
  id: 'fence-then-evacuate',
  initial: 'fencing',
  context: ({ input }) => ({ input, instances: [] }),
  states: {
    ...fenceStates({ confirmed: 'listing', failed: 'escalating', fenceFailed: 'fenceFailed', label: '' }),
    fenceFailed: {
      always: [{ guard: 'askOnNoFenceEvidence', target: 'requestingFenceConfirmation' }, { target: 'escalating' }],
    },
    ...approvalStates<Context>({
      key: 'fence', request: 'requestingFenceConfirmation', await: 'awaitingFenceConfirmation', approved: 'attestingFence', denied: 'escalating',
      deniedReason: 'fencing failed and no operator attested the power-off, no instance evacuated',
      why: (context) => `every fencing level failed for ${hostOf(context.input)} (${context.error?.message ?? 'no detail'}); approve only once you have made sure it is powered off (its instances are then evacuated), deny to escalate`,
    }),
    attestingFence: {
      invoke: {
        src: 'attestFenced',
        input: ({ context }) => ({
          host: hostOf(context.input), by: context.approvals?.fence?.by ?? '',
          ...(context.approvals?.fence?.comment ? { comment: context.approvals.fence.comment } : {}),
        }),
        onDone: { target: 'isolating', actions: 'clearFailure' },
        onError: { target: 'escalating', actions: { type: 'failWith', params: "could not record the operator's power-off attestation, no instance evacuated" } },
      },
    },
    ...fanOutStates({
      list: 'listing', spawn: 'fanningOut', await: 'awaitingChildren', summarize: 'summarizing', failed: 'escalating',
      workflow: 'evacuate-instance', keyPrefix: '', what: 'evacuations', beforeSpawn: 'checkingFanOut',
    }),
    ...approvalStates<Context>({
      key: 'fanOut', check: 'checkingFanOut', request: 'requestingFanOutApproval', await: 'awaitingFanOutApproval', approved: 'fanningOut', denied: 'escalating',
      needed: (context) => {
        const above = approvalSettings(context).aboveVms;
        return typeof above === 'number' && context.instances.length > above;
      },
      deniedReason: 'evacuation not approved, no instance evacuated',
      why: (context) => `${hostOf(context.input)} is fenced and has ${context.instances.length} instances to evacuate (more than approval.aboveVms = ${approvalSettings(context).aboveVms})`,
    }),
    summarizing: {
      invoke: {
        src: 'summarizeChildren',
        input: () => ({ keyPrefix: '' }),
        onDone: [
          { guard: ({ event }) => event.output.outcome === 'recovered', target: 'recovered', actions: assign({ summary: ({ event }) => event.output }) },
          {
            guard: ({ event }) => event.output.outcome === 'partial',
            target: 'reportingPartial',
            actions: assign({ summary: ({ event }) => event.output, reason: ({ event }) => `not every instance was recovered: ${describeFailures(event.output)}` }),
          },
          { target: 'escalating', actions: assign({ summary: ({ event }) => event.output, reason: ({ event }) => `no instance was recovered: ${describeFailures(event.output)}` }) },
        ],
        onError: { target: 'escalating', actions: { type: 'failWith', params: 'could not read the children' } },
      },
    },
    reportingPartial: {
      invoke: {
        src: 'notify',
        input: ({ context }) => ({ severity: 'critical', topic: 'recovery.partial', summary: `${hostOf(context.input)}: ${context.reason}` }),
        onDone: 'partial',
        onError: 'partial',
      },
    },
    escalating: {
      invoke: {
        src: 'notify',
        input: ({ context }) => ({ severity: 'critical', topic: 'incident.escalated', summary: `${hostOf(context.input)}: ${context.reason}` }),
        onDone: 'escalated',
        onError: 'escalated',
      },
    },
    recovered: { type: 'final', entry: assign({ outcome: 'recovered' as const }) },
    partial: { type: 'final', entry: assign({ outcome: 'partial' as const }) },
    escalated: { type: 'final', entry: assign({ outcome: 'escalated' as const }) },
  },
  output: ({ context }) => {
    return {
      outcome: context.outcome ?? 'failed',
      ...(context.reason ? { reason: context.reason } : {}),
      result: { host: hostOf(context.input), fence: context.fence ?? null, summary: context.summary ?? null, approvals: context.approvals ?? null },
    };
  },
});
