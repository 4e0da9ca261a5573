import type { Clock, PowerState } from '../../domain';
import { nonRetryable, retryable, systemClock } from '../../domain';
import type { CallOptions } from '../cloud/port';
import type { FenceAttempt, FenceDevice, FenceReport, FencingDriver } from './port';

export type FenceLevels = readonly (readonly FenceDevice[])[];

export interface FencingTopologyOptions {
  /** Levels per host, tried in order; or a function answering them for a host. */
  readonly levels: Readonly<Record<string, FenceLevels>> | ((host: string) => FenceLevels);
  /**
   * Budget for each single device call. A hung device fails its level instead of hanging the recovery
   * (Pacemaker's pcmk_off_timeout plays the same role). Default 20 s.
   */
  readonly timeoutMs?: number;
  /** Times the device calls. Default: the system clock. */
  readonly clock?: Clock;
  /**
   * After the power-off, how long `status` is polled for every device of the level to read `off` (a BMC
   * may take seconds to report the new state), every `confirmIntervalMs`. 0: read once. Default 10 s / 1 s.
   */
  readonly confirmTimeoutMs?: number;
  readonly confirmIntervalMs?: number;
}

type Reading = PowerState | 'error';

/**
 * Pacemaker's fencing topology: levels in order; within a level every device is switched off in turn and
 * then every device must read back `off`, or the level fails and the next one is tried. A level whose
 * devices all read `off` before anything is done counts as fenced (`alreadyOff`, Pacemaker's "Already OFF").
 * Nothing that is not a plain `off` from every device of a level is ever taken as off.
 */
export class FencingTopology implements FencingDriver {
  private readonly timeoutMs: number;
  private readonly clock: Clock;

  constructor(private readonly options: FencingTopologyOptions) {
    this.timeoutMs = options.timeoutMs ?? 20_000;
    this.clock = options.clock ?? systemClock;
  }

  async fence(host: string, options?: CallOptions): Promise<FenceReport> {
    const signal = options?.signal;
    const levels = this.levelsOf(host);
    const attempts: FenceAttempt[] = [];
    for (const [index, devices] of levels.entries()) {
      const level = index + 1;
      if (devices.length === 0) continue; // an empty level would "all read off" vacuously
      const before = await this.readAll(host, level, devices, attempts, signal);
      if (before.every((s) => s === 'off')) return report(host, level, devices, attempts, true);
      let accepted = true;
      for (const device of devices) {
        const done = await this.attempt(level, device, 'off', attempts, signal, (s) => device.off(host, { signal: s }));
        if (!done.ok) {
          accepted = false; // Pacemaker stops a level at its first failing device
          break;
        }
      }
      if (!accepted) continue;
      if (await this.confirmOff(host, level, devices, attempts, signal)) return report(host, level, devices, attempts, false);
    }
    const why = levels.some((l) => l.length > 0) ? `every level failed (${levels.length})` : 'no fencing device is configured';
    throw nonRetryable('RSR_FENCE_FAILED', `could not fence ${host}: ${why}`, { details: { host, attempts } });
  }

  async status(host: string, options?: CallOptions & { level?: number }): Promise<PowerState> {
    for (const [index, devices] of this.levelsOf(host).entries()) {
      if (devices.length === 0 || (options?.level !== undefined && options.level !== index + 1)) continue;
      const readings = await this.readAll(host, index + 1, devices, [], options?.signal);
      if (readings.includes('error')) continue;
      const first = readings[0] as PowerState;
      return readings.every((r) => r === first) ? first : 'unknown';
    }
    return 'unknown';
  }

  async unfence(host: string, options?: CallOptions): Promise<void> {
    const signal = options?.signal;
    const failures: { level: number; device: string; error: string }[] = [];
    for (const [index, devices] of this.levelsOf(host).entries()) {
      if (devices.length === 0) continue;
      let accepted = true;
      for (const device of devices) {
        try {
          await this.call(device, signal, (s) => device.on(host, { signal: s }));
        } catch (error) {
          if (signal?.aborted) throw signal.reason;
          failures.push({ level: index + 1, device: device.id, error: messageOf(error) });
          accepted = false;
          break;
        }
      }
      if (accepted) return;
    }
    throw nonRetryable('RSR_FENCE_FAILED', `could not power ${host} back on: no level accepted`, { details: { host, failures } });
  }

  topology(host: string): readonly (readonly string[])[] {
    return this.levelsOf(host).map((devices) => devices.map((d) => d.id));
  }

  private levelsOf(host: string): FenceLevels {
    const { levels } = this.options;
    return typeof levels === 'function' ? levels(host) : (levels[host] ?? []);
  }

  /** Reads every device of a level in order; a device that errs or times out reads `error`. */
  /** Polls the level's devices until all read `off`, or the confirmation budget is spent. */
  private async confirmOff(host: string, level: number, devices: readonly FenceDevice[], attempts: FenceAttempt[], signal?: AbortSignal): Promise<boolean> {
    const deadline = this.clock.now() + (this.options.confirmTimeoutMs ?? 10_000);
    for (;;) {
      const readings = await this.readAll(host, level, devices, attempts, signal);
      if (readings.every((r) => r === 'off')) return true;
      if (this.clock.now() >= deadline) return false;
      await this.clock.sleep(this.options.confirmIntervalMs ?? 1_000, signal);
    }
  }

  private async readAll(host: string, level: number, devices: readonly FenceDevice[], attempts: FenceAttempt[], signal?: AbortSignal): Promise<Reading[]> {
    const readings: Reading[] = [];
    for (const device of devices) {
      const done = await this.attempt(level, device, 'status', attempts, signal, (s) => device.status(host, { signal: s }));
      readings.push(done.ok ? done.value : 'error');
    }
    return readings;
  }

  private async attempt<T>(
    level: number,
    device: FenceDevice,
    action: FenceAttempt['action'],
    attempts: FenceAttempt[],
    signal: AbortSignal | undefined,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<{ ok: true; value: T } | { ok: false }> {
    try {
      const value = await this.call(device, signal, fn);
      attempts.push({ level, device: device.id, action, ok: true, ...(action === 'status' ? { result: value as PowerState } : {}) });
      return { ok: true, value };
    } catch (error) {
      // The caller giving up is not a device failure: stop fencing altogether.
      if (signal?.aborted) throw signal.reason;
      attempts.push({ level, device: device.id, action, ok: false, error: messageOf(error) });
      return { ok: false };
    }
  }

  /** One device call bounded by the per-call timeout and the caller's signal, whether or not the device honours it. */
  private async call<T>(device: FenceDevice, outer: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (outer?.aborted) throw outer.reason;
    const controller = new AbortController();
    const stopTimer = new AbortController();
    const onOuter = () => controller.abort(outer?.reason);
    outer?.addEventListener('abort', onOuter, { once: true });
    const timedOut = this.clock.sleep(this.timeoutMs, stopTimer.signal).then(() => {
      const error = retryable('RSR_DRIVER_TIMEOUT', `${device.id} did not answer within ${this.timeoutMs} ms`, { details: { device: device.id } });
      controller.abort(error);
      throw error;
    });
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    try {
      return await Promise.race([fn(controller.signal), timedOut, aborted]);
    } finally {
      stopTimer.abort();
      outer?.removeEventListener('abort', onOuter);
      timedOut.catch(() => undefined);
      aborted.catch(() => undefined);
    }
  }
}

function report(host: string, level: number, devices: readonly FenceDevice[], attempts: FenceAttempt[], alreadyOff: boolean): FenceReport {
  return { host, level, devices: devices.map((d) => d.id), attempts, alreadyOff };
}

function messageOf(error: unknown): string {
  if (error && typeof error === 'object' && 'message' in error) {
    const code = 'code' in error && typeof error.code === 'string' ? `${error.code}: ` : '';
    return `${code}${String(error.message)}`;
  }
  return String(error);
}
