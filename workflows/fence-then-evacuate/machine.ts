/**
 * fence-then-evacuate — a host is down: make sure it is off, then rebuild its instances elsewhere.
 *
 *   fencing ──ok──▶ verifying ──ok──▶ isolating ──▶ listing ──▶ fanningOut ──▶ awaitingChildren (waiting)
 *      │ fail          │ unconfirmed                               │ none            │ children.done
 *      ▼               ▼                                           ▼                 ▼
 *   escalating ◀───────┴──── (no instance is ever evacuated) ─── summarizing ◀─────┘
 *      │                                                          │ all ok / some / none
 *      ▼                                                          ▼
 *   escalated (final)                                recovered | reportingPartial → partial | escalating
 *
 * Invariant I1 lives here and in the steps: the only way to fanningOut is through verifying, and every
 * child re-checks the fence evidence before it evacuates.
 */
import { assign, setup } from 'xstate';
import type { DoneActorEvent } from 'xstate';
import type { RecoveryInput, RecoveryOutput } from '../../src/plugins/api';
import { stepActor } from '../../src/plugins/api';
import type { ChildSummary, ErrorInfo } from '../shared/machine-kit';
import { fanOutStates } from '../shared/fan-out-states';
import { fenceStates } from '../shared/fence-states';
import type { FenceOutput } from '../shared/fence-states';
import { describeFailures, errorInfo, hostOf } from '../shared/machine-kit';

interface Context {
  readonly input: RecoveryInput;
  fence?: FenceOutput;
  instances: { id: string }[];
  summary?: ChildSummary;
  reason?: string;
  error?: ErrorInfo;
  outcome?: RecoveryOutput['outcome'];
}

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
  },
  actions: {
    recordFence: assign({ fence: ({ event }) => (event as DoneActorEvent<FenceOutput>).output }),
    recordInstances: assign({ instances: ({ event }) => (event as DoneActorEvent<{ id: string }[]>).output.map((i) => ({ id: i.id })) }),
    failWith: assign(({ event }, prefix: string) => {
      const error = errorInfo((event as { error?: unknown }).error);
      return { error, reason: `${prefix}: ${error.message}` };
    }),
  },
}).createMachine({
  id: 'fence-then-evacuate',
  initial: 'fencing',
  context: ({ input }) => ({ input, instances: [] }),
  states: {
    ...fenceStates({ confirmed: 'listing', failed: 'escalating', label: '' }),
    ...fanOutStates({
      list: 'listing', spawn: 'fanningOut', await: 'awaitingChildren', summarize: 'summarizing', failed: 'escalating',
      workflow: 'evacuate-instance', keyPrefix: '', what: 'evacuations',
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
      result: { host: hostOf(context.input), fence: context.fence ?? null, summary: context.summary ?? null },
    };
  },
});
