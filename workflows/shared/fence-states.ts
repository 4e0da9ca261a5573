/**
 * The fence sequence both host workflows use, defined once because invariant I1 lives in it:
 *
 *   fencing ──ok──▶ verifying ──confirmed──▶ isolating ──▶ <confirmed>
 *      └─fail────────────┴─unconfirmed───────────┴─fail──▶ <failed>
 *
 * The only way to <confirmed> is through isolating, entered by verifying's done event — or, in a machine
 * that routes `fenceFailed` to an approval gate, by an operator's attested power-off (fence-then-evacuate's
 * attestingFence); test/unit/workflows/fence-first.test.ts checks it on every machine that uses this. Machines spreading these states must declare the actors
 * `fenceHost`, `verifyFenced`, `isolateComputeService`, a `failWith` action taking a reason prefix, and
 * `recordFence`, which stores the fence step's output as `context.fence`.
 */
import type { RecoveryInput } from '../../src/plugins/api';
import { hostOf } from './machine-kit';

export interface FenceOutput {
  readonly level: number;
  readonly devices: string[];
  readonly alreadyOff: boolean;
  readonly fencedAt: number;
}

interface FenceContext {
  readonly input: RecoveryInput;
  fence?: FenceOutput;
}

export function fenceStates(next: {
  readonly confirmed: string;
  readonly failed: string;
  readonly label: string;
  /**
   * Where a fence that failed at every level goes instead of <failed> (default <failed>): a machine may ask an
   * operator to attest the power-off there. An unconfirmed fence (a host seen alive) always goes to <failed>.
   */
  readonly fenceFailed?: string;
}) {
  return {
    fencing: {
      invoke: {
        src: 'fenceHost',
        input: ({ context }: { context: FenceContext }) => ({ host: hostOf(context.input) }),
        onDone: { target: 'verifying', actions: 'recordFence' },
        onError: { target: next.fenceFailed ?? next.failed, actions: { type: 'failWith', params: `${next.label}fencing failed, no instance evacuated` } },
      },
    },
    verifying: {
      invoke: {
        src: 'verifyFenced',
        input: ({ context }: { context: FenceContext }) => ({ host: hostOf(context.input), ...context.fence }),
        onDone: 'isolating',
        onError: { target: next.failed, actions: { type: 'failWith', params: `${next.label}fencing not confirmed, no instance evacuated` } },
      },
    },
    isolating: {
      invoke: {
        src: 'isolateComputeService',
        input: ({ context }: { context: FenceContext }) => ({ host: hostOf(context.input), forceDown: true, reason: `resurrect: fenced for incident ${context.input.incidentId}` }),
        onDone: next.confirmed,
        onError: { target: next.failed, actions: { type: 'failWith', params: 'could not isolate the compute service' } },
      },
    },
  } as const;
}
