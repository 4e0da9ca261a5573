/**
 * live-migrate-instance — the per-instance child of live-migrate-first.
 *
 *   migrating ──▶ recovered
 *      │ stopped instance      │ failed after the retry budget
 *      ▼                       ▼
 *   skipped                  failed (the parent applies its fallback)
 */
import { assign, setup } from 'xstate';
import type { RecoveryInput, RecoveryOutput } from '../../src/plugins/api';
import { stepActor } from '../../src/plugins/api';
import { errorInfo, hostOf, instanceOf } from '../shared/machine-kit';

interface Context {
  readonly input: RecoveryInput;
  targetHost?: string;
  reason?: string;
  outcome?: RecoveryOutput['outcome'];
}

export const liveMigrateInstanceMachine = setup({
  types: { context: {} as Context, input: {} as RecoveryInput, output: {} as RecoveryOutput },
  actors: {
    liveMigrateInstance: stepActor<{ host: string; instance: string }, { targetHost?: string; skipped?: boolean; reason?: string }>('liveMigrateInstance'),
  },
}).createMachine({
  id: 'live-migrate-instance',
  initial: 'migrating',
  context: ({ input }) => ({ input }),
  states: {
    migrating: {
      invoke: {
        src: 'liveMigrateInstance',
        input: ({ context }) => ({ host: hostOf(context.input), instance: instanceOf(context.input) }),
        onDone: [
          { guard: ({ event }) => event.output.skipped === true, target: 'skipped', actions: assign({ reason: ({ event }) => event.output.reason }) },
          { target: 'recovered', actions: assign({ targetHost: ({ event }) => event.output.targetHost }) },
        ],
        onError: { target: 'failed', actions: assign({ reason: ({ event }) => errorInfo(event.error).message }) },
      },
    },
    recovered: { type: 'final', entry: assign({ outcome: 'recovered' as const }) },
    failed: { type: 'final', entry: assign({ outcome: 'failed' as const }) },
    skipped: { type: 'final', entry: assign({ outcome: 'skipped' as const }) },
  },
  output: ({ context }) => ({
    outcome: context.outcome ?? 'failed',
    ...(context.reason ? { reason: context.reason } : {}),
    result: { instance: instanceOf(context.input), targetHost: context.targetHost ?? null },
  }),
});
