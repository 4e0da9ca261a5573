/**
 * restart-in-place — one instance is down on a healthy host: restart it where it is.
 *
 *   restarting ──ok──▶ recovered
 *      │ failed after the retry budget
 *      ▼
 *   [fallback = hard-reboot and mode was stop-start] ──▶ rebooting ──ok──▶ recovered
 *      │ otherwise                                          │ failed
 *      ▼                                                    ▼
 *   escalating ─────────────────────────────────────────▶ escalated
 *
 * Parameters: `mode` (`stop-start` | `hard-reboot`, default stop-start), `fallback` (`hard-reboot` | `escalate`,
 * default escalate).
 */
import { assign, setup } from 'xstate';
import type { RecoveryInput, RecoveryOutput } from '../../src/plugins/api';
import { stepActor } from '../../src/plugins/api';
import { errorInfo, instanceOf, param } from '../shared/machine-kit';

interface Context {
  readonly input: RecoveryInput;
  host?: string;
  reason?: string;
  outcome?: RecoveryOutput['outcome'];
}

type Mode = 'stop-start' | 'hard-reboot';

export const restartInPlaceMachine = setup({
  types: { context: {} as Context, input: {} as RecoveryInput, output: {} as RecoveryOutput },
  actors: {
    restartInstance: stepActor<{ instance: string; mode: Mode }, { host: string }>('restartInstance'),
    notify: stepActor<{ severity: string; topic: string; summary: string }, unknown>('notify'),
  },
  actions: {
    failWith: assign(({ event }, prefix: string) => ({ reason: `${prefix}: ${errorInfo((event as { error?: unknown }).error).message}` })),
  },
  guards: {
    mayHardReboot: ({ context }) => param<Mode>(context.input, 'mode', 'stop-start') === 'stop-start' && param<string>(context.input, 'fallback', 'escalate') === 'hard-reboot',
  },
}).createMachine({
  id: 'restart-in-place',
  initial: 'restarting',
  context: ({ input }) => ({ input }),
  states: {
    restarting: {
      invoke: {
        src: 'restartInstance',
        input: ({ context }) => ({ instance: instanceOf(context.input), mode: param<Mode>(context.input, 'mode', 'stop-start') }),
        onDone: { target: 'recovered', actions: assign({ host: ({ event }) => event.output.host }) },
        onError: [
          { guard: 'mayHardReboot', target: 'rebooting', actions: { type: 'failWith', params: 'stop/start failed' } },
          { target: 'escalating', actions: { type: 'failWith', params: 'restart failed' } },
        ],
      },
    },
    rebooting: {
      invoke: {
        src: 'restartInstance',
        input: ({ context }) => ({ instance: instanceOf(context.input), mode: 'hard-reboot' as const }),
        onDone: { target: 'recovered', actions: assign({ host: ({ event }) => event.output.host }) },
        onError: { target: 'escalating', actions: { type: 'failWith', params: 'hard reboot failed' } },
      },
    },
    escalating: {
      invoke: {
        src: 'notify',
        input: ({ context }) => ({ severity: 'critical', topic: 'incident.escalated', summary: `${instanceOf(context.input)}: ${context.reason}` }),
        onDone: 'escalated',
        onError: 'escalated',
      },
    },
    recovered: { type: 'final', entry: assign({ outcome: 'recovered' as const }) },
    escalated: { type: 'final', entry: assign({ outcome: 'escalated' as const }) },
  },
  output: ({ context }) => ({
    outcome: context.outcome ?? 'failed',
    ...(context.reason ? { reason: context.reason } : {}),
    result: { instance: instanceOf(context.input), host: context.host ?? context.input.subject.host },
  }),
});
