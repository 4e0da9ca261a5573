/**
 * live-migrate-first — the host still runs its instances (degraded hardware, or nova-compute died): move them
 * away while they live; nothing is rebuilt unless the fallback allows it.
 *
 *   disabling ──▶ awaitingService ──up──▶ listing ──▶ migrating ──▶ awaitingMigrations (waiting) ──▶ summarizing
 *                    │ never came back                   │ none                                      │ all moved ─▶ recovered
 *                    ▼                                   ▼                                           ▼ some failed
 *                 choosingFallback ◀──────────────────────────────────────────────────────────────────┘
 *                    │ fallback = fence-then-evacuate           │ otherwise (default: stop and escalate)
 *                    ▼                                          ▼
 *   fencing ▶ verifying ▶ isolating ▶ listingRemaining ▶ evacuating ▶ awaitingEvacuations ▶ summarizingEvacuations
 *                                                               escalating ▶ escalated / partial
 *
 * Parameters: `fallback` (`escalate` | `fence-then-evacuate`, default escalate). Fencing a host whose guests
 * still run is drastic; the policy decides where it is allowed.
 */
import { assign, setup } from 'xstate';
import type { DoneActorEvent } from 'xstate';
import type { RecoveryInput, RecoveryOutput } from '../../src/plugins/api';
import { stepActor } from '../../src/plugins/api';
import type { ChildSummary } from '../shared/machine-kit';
import { fanOutStates } from '../shared/fan-out-states';
import { fenceStates } from '../shared/fence-states';
import type { FenceOutput } from '../shared/fence-states';
import { describeFailures, errorInfo, hostOf, param } from '../shared/machine-kit';

interface Context {
  readonly input: RecoveryInput;
  instances: { id: string }[];
  fence?: FenceOutput;
  migrations?: ChildSummary;
  evacuations?: ChildSummary;
  reason?: string;
  outcome?: RecoveryOutput['outcome'];
}

type FanOut = { host: string; workflow: string; instances: { id: string }[]; keyPrefix: string };

export const liveMigrateFirstMachine = setup({
  types: { context: {} as Context, input: {} as RecoveryInput, output: {} as RecoveryOutput },
  actors: {
    isolateComputeService: stepActor<{ host: string; reason: string; forceDown: boolean }, unknown>('isolateComputeService'),
    awaitComputeService: stepActor<{ host: string }, unknown>('awaitComputeService'),
    listInstances: stepActor<{ host: string }, { id: string }[]>('listInstances'),
    spawnRecoveries: stepActor<FanOut, { count: number }>('spawnRecoveries'),
    summarizeChildren: stepActor<{ keyPrefix: string }, ChildSummary>('summarizeChildren'),
    fenceHost: stepActor<{ host: string }, FenceOutput>('fenceHost'),
    verifyFenced: stepActor<object, unknown>('verifyFenced'),
    notify: stepActor<{ severity: string; topic: string; summary: string }, unknown>('notify'),
  },
  actions: {
    recordFence: assign({ fence: ({ event }) => (event as DoneActorEvent<FenceOutput>).output }),
    recordInstances: assign({ instances: ({ event }) => (event as DoneActorEvent<{ id: string }[]>).output.map((i) => ({ id: i.id })) }),
    failWith: assign(({ event }, prefix: string) => ({ reason: `${prefix}: ${errorInfo((event as { error?: unknown }).error).message}` })),
  },
  guards: {
    mayFence: ({ context }) => param<string>(context.input, 'fallback', 'escalate') === 'fence-then-evacuate',
  },
}).createMachine({
  id: 'live-migrate-first',
  initial: 'disabling',
  context: ({ input }) => ({ input, instances: [] }),
  states: {
    disabling: {
      invoke: {
        src: 'isolateComputeService',
        input: ({ context }) => ({ host: hostOf(context.input), forceDown: false, reason: `resurrect: draining for incident ${context.input.incidentId}` }),
        onDone: 'awaitingService',
        onError: { target: 'choosingFallback', actions: { type: 'failWith', params: 'could not disable the compute service' } },
      },
    },
    awaitingService: {
      invoke: {
        src: 'awaitComputeService',
        input: ({ context }) => ({ host: hostOf(context.input) }),
        onDone: 'listing',
        onError: { target: 'choosingFallback', actions: { type: 'failWith', params: 'live migration impossible' } },
      },
    },
    ...fanOutStates({
      list: 'listing', spawn: 'migrating', await: 'awaitingMigrations', summarize: 'summarizing', failed: 'choosingFallback',
      workflow: 'live-migrate-instance', keyPrefix: 'lm-', what: 'migrations',
    }),
    summarizing: {
      invoke: {
        src: 'summarizeChildren',
        input: () => ({ keyPrefix: 'lm-' }),
        onDone: [
          { guard: ({ event }) => event.output.outcome === 'recovered', target: 'recovered', actions: assign({ migrations: ({ event }) => event.output }) },
          {
            target: 'choosingFallback',
            actions: assign({ migrations: ({ event }) => event.output, reason: ({ event }) => `live migration failed for ${describeFailures(event.output)}` }),
          },
        ],
        onError: { target: 'choosingFallback', actions: { type: 'failWith', params: 'could not read the migrations' } },
      },
    },
    choosingFallback: {
      always: [{ guard: 'mayFence', target: 'fencing' }, { target: 'escalating' }],
    },
    ...fenceStates({ confirmed: 'listingRemaining', failed: 'escalating', label: 'fallback ' }),
    ...fanOutStates({
      list: 'listingRemaining', spawn: 'evacuating', await: 'awaitingEvacuations', summarize: 'summarizingEvacuations', failed: 'escalating',
      workflow: 'evacuate-instance', keyPrefix: 'evac-', what: 'evacuations',
    }),
    summarizingEvacuations: {
      invoke: {
        src: 'summarizeChildren',
        input: () => ({ keyPrefix: 'evac-' }),
        onDone: [
          { guard: ({ event }) => event.output.outcome === 'recovered', target: 'recovered', actions: assign({ evacuations: ({ event }) => event.output }) },
          {
            target: 'escalating',
            actions: assign({ evacuations: ({ event }) => event.output, reason: ({ event }) => `fallback evacuation incomplete: ${describeFailures(event.output)}` }),
          },
        ],
        onError: { target: 'escalating', actions: { type: 'failWith', params: 'could not read the evacuations' } },
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
    escalated: {
      type: 'final',
      // Some instances did move: say so rather than calling the whole host a failure.
      entry: assign({ outcome: ({ context }) => ((context.migrations?.recovered ?? 0) + (context.evacuations?.recovered ?? 0) > 0 ? 'partial' as const : 'escalated' as const) }),
    },
  },
  output: ({ context }) => ({
    outcome: context.outcome ?? 'failed',
    ...(context.reason ? { reason: context.reason } : {}),
    result: { host: hostOf(context.input), migrations: context.migrations ?? null, evacuations: context.evacuations ?? null, fence: context.fence ?? null },
  }),
});
