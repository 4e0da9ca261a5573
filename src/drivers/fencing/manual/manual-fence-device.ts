/**
 * Manual fencing ("meatware", Pacemaker's `stonith_admin --confirm`): a person powers the host off (pulls the
 * plugs, switches the PDU) and confirms it with `resurrect fence confirm <host> --by NAME`.
 *
 * - `off(host)` records a power-off request in Redis (or keeps the one still fresh from an earlier attempt,
 *   so a confirmation given between two attempts of the fence step counts) and waits until an operator
 *   confirms that request, the call is aborted, or `timeoutMs` passes (then it rejects: the level fails and
 *   the request stays pending for the next attempt).
 * - `status(host)` answers `off` only when an operator confirmed the current, fresh request; otherwise
 *   `unknown`. It never answers `on`: nobody here knows that.
 * - `on(host)` drops the request and its confirmation (the host is coming back; the old word must not vouch
 *   for it again). Powering on is the operator's job.
 * A request older than `requestTtlMs` is stale: its confirmation no longer counts and `off` asks again.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock, PowerState } from '../../../domain';
import { nonRetryable, retryable, systemClock } from '../../../domain';
import type { Keys } from '../../../engine/keys';
import type { CallOptions } from '../../cloud/port';
import type { FenceDevice } from '../port';
import type { ManualFenceRequest, ManualFenceState } from './confirmations';
import { clearManualFence, confirms, readManualFence, requestPowerOff } from './confirmations';

export interface ManualFenceDeviceOptions {
  readonly redis: Redis;
  readonly keys: Keys;
  /** Default `manual` or `manual:<first host>`. */
  readonly id?: string;
  /** The only targets this device answers for (Pacemaker's pcmk_host_list). Default: any. */
  readonly hosts?: readonly string[];
  /** How long `off` waits for the operator. Default 90 s (the fence step's own bound is 120 s). */
  readonly timeoutMs?: number;
  /** How often `off` looks for the confirmation. Default 1 s. */
  readonly pollIntervalMs?: number;
  /** Age after which a request (and its confirmation) no longer counts. Default 30 min. */
  readonly requestTtlMs?: number;
  readonly clock?: Clock;
  readonly log?: Logger;
}

export class ManualFenceDevice implements FenceDevice {
  readonly id: string;
  readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly pollIntervalMs: number;
  private readonly requestTtlMs: number;

  constructor(private readonly options: ManualFenceDeviceOptions) {
    this.id = options.id ?? (options.hosts?.[0] ? `manual:${options.hosts[0]}` : 'manual');
    this.timeoutMs = options.timeoutMs ?? 90_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.requestTtlMs = options.requestTtlMs ?? 30 * 60_000;
    this.clock = options.clock ?? systemClock;
  }

  async off(target: string, options?: CallOptions): Promise<void> {
    const signal = options?.signal;
    this.check(target);
    if (signal?.aborted) throw signal.reason;
    const deadline = this.clock.now() + this.timeoutMs;
    const state = await this.read(target);
    let request: ManualFenceRequest;
    if (state.request && this.fresh(state.request)) {
      request = state.request;
      if (confirms(state)) return;
    } else {
      request = await this.guard(() => requestPowerOff(this.options.redis, this.options.keys, target, this.id, this.clock.now()));
    }
    this.options.log?.warn(
      { device: this.id, host: target, requestId: request.id },
      `manual fencing: power ${target} off, then run \`resurrect fence confirm ${target} --by <your name>\``,
    );
    for (;;) {
      const remaining = deadline - this.clock.now();
      if (remaining <= 0) {
        throw retryable('RSR_FENCE_UNCONFIRMED', `no operator confirmed the power-off of ${target} within ${this.timeoutMs} ms (resurrect fence confirm ${target} --by NAME)`, {
          details: { device: this.id, host: target, requestId: request.id },
        });
      }
      await this.clock.sleep(Math.min(this.pollIntervalMs, remaining), signal);
      const now = await this.read(target);
      if (now.request?.id !== request.id) {
        throw retryable('RSR_FENCE_UNCONFIRMED', `the manual fence request for ${target} was withdrawn or replaced`, { details: { device: this.id, host: target } });
      }
      if (confirms(now)) {
        this.options.log?.info({ device: this.id, host: target, by: now.confirmation?.by }, `power-off of ${target} confirmed by ${now.confirmation?.by}`);
        return;
      }
    }
  }

  async on(target: string, options?: CallOptions): Promise<void> {
    this.check(target);
    if (options?.signal?.aborted) throw options.signal.reason;
    await this.guard(() => clearManualFence(this.options.redis, this.options.keys, target));
  }

  async status(target: string, options?: CallOptions): Promise<PowerState> {
    this.check(target);
    if (options?.signal?.aborted) throw options.signal.reason;
    const state = await this.read(target);
    return state.request && this.fresh(state.request) && confirms(state) ? 'off' : 'unknown';
  }

  private fresh(request: ManualFenceRequest): boolean {
    return this.clock.now() - request.requestedAt <= this.requestTtlMs;
  }

  private read(target: string): Promise<ManualFenceState> {
    return this.guard(() => readManualFence(this.options.redis, this.options.keys, target));
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw retryable('RSR_DRIVER_UNAVAILABLE', `${this.id}: Redis unavailable (${(error as Error).message})`, { cause: error, details: { device: this.id } });
    }
  }

  private check(target: string): void {
    if (this.options.hosts && !this.options.hosts.includes(target)) {
      throw nonRetryable('RSR_FENCE_FAILED', `${this.id} cannot fence ${target}: it is configured for ${this.options.hosts.join(', ')}`, { details: { device: this.id, target } });
    }
  }
}
