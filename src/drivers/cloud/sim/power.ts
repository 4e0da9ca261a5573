import { retryable, type PowerState } from '../../../domain';
import type { PowerDeviceKind } from './actions';
import type { WorldCore } from './core';

/**
 * The out-of-band power of one host: its BMC (switches the chassis) or its PDU outlet (switches the feed,
 * which also takes the BMC's standby power away). Faults make them misbehave the ways real ones do.
 */
export class SimPowerDevice {
  constructor(
    private readonly core: WorldCore,
    readonly host: string,
    readonly kind: PowerDeviceKind,
  ) {}

  get id(): string {
    return `${this.kind}-${this.host}`;
  }

  off(signal?: AbortSignal): Promise<void> {
    return this.core.call(`${this.kind}.off`, this.host, signal, () => {
      const { h, faults } = this.reach();
      if (faults === 'hang') return hang(signal);
      if (faults.has('bmc-stuck-on')) {
        this.note('accepted power off but the host stays on (stuck)');
      } else if (faults.has('bmc-lies-off')) {
        h.claimedOff.add(this.kind);
        this.note('claims the host is off; it still runs');
      } else {
        this.note('power off');
        this.core.setPower(h, this.kind === 'bmc' ? { chassis: 'off' } : { outlet: 'off' });
      }
      return undefined;
    });
  }

  on(signal?: AbortSignal): Promise<void> {
    return this.core.call(`${this.kind}.on`, this.host, signal, () => {
      const { h, faults } = this.reach();
      if (faults === 'hang') return hang(signal);
      h.claimedOff.delete(this.kind);
      this.note('power on');
      this.core.setPower(h, this.kind === 'bmc' ? { chassis: 'on' } : { outlet: 'on' });
      return undefined;
    });
  }

  status(signal?: AbortSignal): Promise<PowerState> {
    return this.core.call(`${this.kind}.status`, this.host, signal, () => {
      const { h, faults } = this.reach();
      if (faults === 'hang') return hang<PowerState>(signal);
      if (faults.has('bmc-unknown')) return 'unknown';
      if (h.claimedOff.has(this.kind)) return 'off';
      return this.kind === 'bmc' ? h.chassis : h.outlet;
    });
  }

  /** What the device itself believes, without going through the API (for snapshots). */
  belief(): PowerState {
    const h = this.core.host(this.host);
    const faults = this.core.parts.faults.deviceFaults(this.host, this.kind);
    if (faults.has('bmc-unknown') || faults.has('bmc-unreachable') || faults.has('bmc-hangs')) return 'unknown';
    if (this.kind === 'bmc' && h.outlet === 'off') return 'unknown';
    if (h.claimedOff.has(this.kind)) return 'off';
    return this.kind === 'bmc' ? h.chassis : h.outlet;
  }

  private reach() {
    const h = this.core.host(this.host);
    const faults = this.core.parts.faults.deviceFaults(this.host, this.kind);
    // A BMC lives on the host's standby power: with the outlet off it is gone too.
    if (faults.has('bmc-unreachable') || (this.kind === 'bmc' && h.outlet === 'off')) {
      throw retryable('RSR_DRIVER_UNAVAILABLE', `${this.id} is unreachable`, { details: { device: this.id, host: this.host } });
    }
    return { h, faults: faults.has('bmc-hangs') ? ('hang' as const) : faults };
  }

  private note(message: string): void {
    this.core.record({ type: 'device', host: this.host, message: `${this.id}: ${message}` });
  }
}

/** Never answers; rejects with the caller's reason when it gives up. */
function hang<T = undefined>(signal: AbortSignal | undefined): Promise<T> {
  return new Promise<T>((_, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}
