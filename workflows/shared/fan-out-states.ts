/**
 * List a host's instances, start one child recovery each, wait durably until they are all done:
 *
 *   <list> ──▶ <spawn> ──▶ <await> (waiting) ──children.done──▶ <summarize>
 *                 └──── no instance ──────────────────────────▶ <summarize>
 *   any failure ──▶ <failed>
 *
 * The summarize state (what each outcome leads to) belongs to the machine. Machines spreading these states
 * must declare the actors `listInstances` and `spawnRecoveries`, a `failWith` action taking a reason prefix,
 * and `recordInstances`, which stores the list step's output as `context.instances` (ids only).
 */
import type { DoneActorEvent } from 'xstate';
import type { RecoveryInput } from '../../src/plugins/api';
import { WAITING_TAG } from '../../src/plugins/api';
import { hostOf } from './machine-kit';

interface FanOutContext {
  readonly input: RecoveryInput;
  instances: { id: string }[];
}

export interface FanOutNames {
  readonly list: string;
  readonly spawn: string;
  readonly await: string;
  readonly summarize: string;
  readonly failed: string;
  /** The child workflow, one recovery per instance. */
  readonly workflow: string;
  /** Distinguishes this fan-out's children from another fan-out of the same parent. */
  readonly keyPrefix: string;
  /** What the children do, for failure reasons: `evacuations`, `migrations`. */
  readonly what: string;
  /**
   * Where the list's done event goes instead of <spawn>: a state of the machine's that must lead to <spawn>
   * (an approval gate, approval-states.ts). Default: straight to <spawn>.
   */
  readonly beforeSpawn?: string;
}

export function fanOutStates(names: FanOutNames) {
  return {
    [names.list]: {
      invoke: {
        src: 'listInstances',
        input: ({ context }: { context: FanOutContext }) => ({ host: hostOf(context.input) }),
        onDone: { target: names.beforeSpawn ?? names.spawn, actions: 'recordInstances' },
        onError: { target: names.failed, actions: { type: 'failWith', params: 'could not list instances' } },
      },
    },
    [names.spawn]: {
      invoke: {
        src: 'spawnRecoveries',
        input: ({ context }: { context: FanOutContext }) => ({
          host: hostOf(context.input), workflow: names.workflow, instances: context.instances, keyPrefix: names.keyPrefix,
        }),
        onDone: [
          { guard: ({ event }: { event: unknown }) => (event as DoneActorEvent<{ count: number }>).output.count === 0, target: names.summarize },
          { target: names.await },
        ],
        onError: { target: names.failed, actions: { type: 'failWith', params: `could not start the ${names.what}` } },
      },
    },
    [names.await]: { tags: [WAITING_TAG], on: { 'children.done': names.summarize } },
  };
}
