import type { PowerState } from '../../domain';
import type { CallOptions } from '../cloud/port';

export const FENCING_DRIVER = Symbol.for('resurrect.FencingDriver');

/**
 * One out-of-band power device (a BMC, a PDU outlet, a fence agent configured for a target). `off` and `on`
 * resolve when the device accepted the request; they do not prove anything: callers read `status` back.
 * `status` answers `unknown` rather than guessing; an unreachable device throws RSR_DRIVER_UNAVAILABLE.
 */
export interface FenceDevice {
  readonly id: string;
  off(target: string, options?: CallOptions): Promise<void>;
  on(target: string, options?: CallOptions): Promise<void>;
  status(target: string, options?: CallOptions): Promise<PowerState>;
}

export interface FenceAttempt {
  readonly level: number;
  readonly device: string;
  readonly action: 'off' | 'status';
  readonly ok: boolean;
  readonly result?: PowerState;
  readonly error?: string;
}

export interface FenceReport {
  readonly host: string;
  /** The level (1-based) whose devices all confirmed off. */
  readonly level: number;
  readonly devices: readonly string[];
  readonly attempts: readonly FenceAttempt[];
  /** True when every device already read off before we acted (Pacemaker's "Already OFF" counts as fenced). */
  readonly alreadyOff: boolean;
}

/**
 * Fencing as Pacemaker's topology does it: levels tried in order; within a level every device must power off
 * and read back off, or the level fails and the next is tried. Throws RSR_FENCE_FAILED (not retryable by
 * itself: the attempts are in `details`) when no level succeeds.
 */
export interface FencingDriver {
  fence(host: string, options?: CallOptions): Promise<FenceReport>;
  /**
   * Power state as the devices of the first level that answers see it (or of `level` only: the level that
   * fenced, whose devices are the ones that can tell); `unknown` if they disagree.
   */
  status(host: string, options?: CallOptions & { readonly level?: number }): Promise<PowerState>;
  /** Power the host back on (first level whose devices all accept). */
  unfence(host: string, options?: CallOptions): Promise<void>;
  /** The configured levels, device ids only, for the audit and the UI. */
  topology(host: string): readonly (readonly string[])[];
}
