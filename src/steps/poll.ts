import type { StepContext } from '../plugins/api';
import { retryable } from '../domain';
import type { ErrorCode } from '../domain';

/** Poll interval for steps that wait on the cloud; recoveries may override it with `params.pollIntervalMs`. */
export function pollInterval(context: StepContext): number {
  const value = context.recovery.params.pollIntervalMs;
  return typeof value === 'number' && value > 0 ? value : 1000;
}

/**
 * Calls `probe` until it returns a value (not undefined), every `intervalMs`, giving up after `timeoutMs` with
 * a retryable error: the job is retried and the step, checking the world first, picks up where it was.
 */
export async function pollUntil<T>(
  context: StepContext,
  probe: () => Promise<T | undefined>,
  options: { timeoutMs: number; what: string; code?: ErrorCode },
): Promise<T> {
  const deadline = context.clock.now() + options.timeoutMs;
  const interval = pollInterval(context);
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (context.clock.now() >= deadline) {
      throw retryable(options.code ?? 'RSR_INSTANCE_NOT_ACTIVE', `timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for ${options.what}`);
    }
    await context.clock.sleep(interval, context.signal);
    await context.engine.pollTurn?.(context.signal);
  }
}

export function secondsParam(params: Readonly<Record<string, unknown>>, name: string, fallback: number): number {
  const value = params[name];
  return typeof value === 'number' && value > 0 ? value : fallback;
}
