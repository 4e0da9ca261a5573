/**
 * evacuate-instance — the per-instance child of fence-then-evacuate (and of live-migrate-first's fallback).
 *
 *   checking ──evacuate──▶ evacuating ──▶ recovered
 *      │ already elsewhere       │ failed after the retry budget
 *      ▼                         ▼
 *   recovered              failed (reported to the parent, never skipped silently)
 *      │ not fenced / image gone
 *      ▼
 *   failed
 */
import { assign, setup } from 'xstate';
import type { RecoveryInput, RecoveryOutput } from '../../src/plugins/api';
import { stepActor } from '../../src/plugins/api';
import { errorInfo, hostOf, instanceOf } from '../shared/machine-kit';

interface Context {
  readonly input: RecoveryInput;
  name?: string;
  /** It ran before the failure: start it if the evacuation brings it back stopped (Nova ≥ 2.95). */
  wasActive?: boolean;
  targetHost?: string;
  reason?: string;
  outcome?: RecoveryOutput['outcome'];
}

export const evacuateInstanceMachine = setup({
  types: { context: {} as Context, input: {} as RecoveryInput, output: {} as RecoveryOutput },
  actors: {
    checkEvacuable: stepActor<{ host: string; instance: string }, { action: 'none' | 'evacuate'; name: string; targetHost?: string; wasActive?: boolean }>('checkEvacuable'),
    evacuateInstance: stepActor<{ host: string; instance: string; startIfStopped: boolean }, { targetHost: string }>('evacuateInstance'),
  },
  actions: {
    failWith: assign(({ event }, prefix: string) => ({ reason: `${prefix}: ${errorInfo((event as { error?: unknown }).error).message}` })),
  },
}).createMachine({
  id: 'evacuate-instance',
  initial: 'checking',
  context: ({ input }) => ({ input }),
  states: {
    checking: {
      invoke: {
        src: 'checkEvacuable',
        input: ({ context }) => ({ host: hostOf(context.input), instance: instanceOf(context.input) }),
        onDone: [
          {
            guard: ({ event }) => event.output.action === 'none',
            target: 'recovered',
            actions: assign({ targetHost: ({ event }) => event.output.targetHost, name: ({ event }) => event.output.name }),
          },
          { target: 'evacuating', actions: assign({ name: ({ event }) => event.output.name, wasActive: ({ event }) => event.output.wasActive === true }) },
        ],
        onError: { target: 'failed', actions: { type: 'failWith', params: 'not evacuable' } },
      },
    },
    evacuating: {
      invoke: {
        src: 'evacuateInstance',
        input: ({ context }) => ({ host: hostOf(context.input), instance: instanceOf(context.input), startIfStopped: context.wasActive === true }),
        onDone: { target: 'recovered', actions: assign({ targetHost: ({ event }) => event.output.targetHost }) },
        onError: { target: 'failed', actions: { type: 'failWith', params: 'evacuation failed' } },
      },
    },
    recovered: { type: 'final', entry: assign({ outcome: 'recovered' as const }) },
    failed: { type: 'final', entry: assign({ outcome: 'failed' as const }) },
  },
  output: ({ context }) => ({
    outcome: context.outcome ?? 'failed',
    ...(context.reason ? { reason: context.reason } : {}),
    result: { instance: instanceOf(context.input), name: context.name ?? null, targetHost: context.targetHost ?? null },
  }),
});
