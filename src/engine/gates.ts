import type { Recovery } from '../domain';

/**
 * What a gate says about a recovery a job is about to run:
 * - `go`: run it;
 * - `wait`: not now, soon (a concurrency slot is taken): the job is deferred without spending a retry;
 * - `hold`: not until someone releases it (an operator's approval): the recovery is parked, no job is left,
 *   and the gate's owner enqueues it again when it is released.
 */
export type GateVerdict =
  | { readonly kind: 'go' }
  | { readonly kind: 'wait'; readonly reason: string }
  | { readonly kind: 'hold'; readonly reason: string };

/**
 * Why a run let go of a recovery. `held`: it cannot run until something else happens (another gate holds it,
 * another recovery holds its instance), so it must not keep a place in any line meanwhile.
 */
export type LeaveReason = 'done' | 'parked' | 'retry' | 'preempted' | 'held';

/**
 * A check every job passes before it runs a recovery's machine (after claiming it), shared by all workers
 * through Redis: the concurrency limits (`admission.ts`) and the mass-failure breaker (`breaker.ts`).
 * Gates are asked in order; the first that does not say `go` decides, and the gates before it are left again.
 */
/** What the job at the gate carries: the event of a wake job (a gate that holds must not lose it). */
export interface GatedJob {
  readonly event?: { readonly type: string; readonly [k: string]: unknown };
}

export interface RecoveryGate {
  readonly name: string;
  enter(recovery: Recovery, job?: GatedJob): Promise<GateVerdict>;
  /** The run let go of the recovery: free what `enter` took. Must be safe to call when nothing was taken. */
  leave?(recovery: Recovery, reason: LeaveReason): Promise<void>;
  /** Called every few seconds while the recovery runs: keep leases taken by `enter` alive. */
  renew?(recovery: Recovery): Promise<void>;
  /**
   * New recoveries, before any of their jobs exist (a fan-out's children): a gate that orders work puts them
   * in line now, so the first job to arrive cannot jump ahead of siblings whose jobs are still being added.
   */
  enlist?(recoveries: readonly Recovery[]): Promise<void>;
}

export const GO: GateVerdict = { kind: 'go' };
