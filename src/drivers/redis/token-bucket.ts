import type { Redis } from 'ioredis';
import { retryable, systemClock } from '../../domain';

/**
 * One atomic step of the bucket: refill from the time elapsed since the last step, then take a token or say how
 * long until one exists. The time is Redis's (`TIME`), not the caller's, so workers on hosts whose clocks
 * disagree still share one bucket correctly.
 *
 * KEYS[1] the bucket (hash: `tokens`, `at` = microseconds of the last step); ARGV[1] rate per second,
 * ARGV[2] capacity. Returns 0 (token taken) or the wait in milliseconds (≥ 1).
 */
const TAKE = `
if redis.replicate_commands then redis.replicate_commands() end
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
local elapsed = now - at
if elapsed < 0 then elapsed = 0 end
tokens = math.min(capacity, tokens + elapsed * rate / 1000000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.max(1, math.ceil((1 - tokens) * 1000 / rate))
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.0f', now))
-- Once idle long enough to be full again the bucket is the same as no bucket: let it go.
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * 1000 / rate) + 1000)
return wait
`;

export interface TokenBucketOptions {
  /** Tokens added per second; 0 means no limit at all (no Redis call is made). */
  readonly ratePerSecond: number;
  /** Tokens the bucket holds when full: calls allowed at once after a quiet period. Below 1 counts as 1. */
  readonly burst: number;
}

export interface TakeResult {
  /** Milliseconds spent waiting for the token (0: there was one). */
  readonly waitedMs: number;
}

/**
 * A token bucket in Redis, shared by every process using the same key: over any period T, at most
 * `burst + ratePerSecond·T` tokens are taken in all.
 *
 * A caller without a token sleeps the wait the script returned and asks again rather than reserving a future
 * token: a step timeout that aborts the wait then wastes nothing, and the bucket never goes into debt.
 */
export class TokenBucket {
  private readonly capacity: number;

  constructor(private readonly redis: Redis, private readonly key: string, private readonly options: TokenBucketOptions) {
    this.capacity = Math.max(1, options.burst);
    if (options.ratePerSecond > 0) redis.defineCommand('rsrTakeToken', { numberOfKeys: 1, lua: TAKE });
  }

  get unlimited(): boolean {
    return !(this.options.ratePerSecond > 0);
  }

  /**
   * Resolves once a token is taken. Rejects with the signal's reason as soon as it aborts (before or during the
   * wait), and with a retryable RSR_DRIVER_UNAVAILABLE when Redis cannot be asked: without the shared bucket
   * the limit cannot be kept, and a step retried later is better than a cloud API flooded by every worker.
   */
  async take(signal?: AbortSignal): Promise<TakeResult> {
    if (signal?.aborted) throw signal.reason;
    if (this.unlimited) return { waitedMs: 0 };
    const started = Date.now();
    for (let slept = false; ; slept = true) {
      const wait = await untilAborted(this.step(), signal);
      if (wait === 0) return { waitedMs: slept ? Date.now() - started : 0 };
      // A little jitter, so waiters woken by the same refill do not all ask again in the same millisecond.
      await systemClock.sleep(wait + Math.floor(Math.random() * Math.min(wait, 20)), signal);
    }
  }

  private async step(): Promise<number> {
    const run = (this.redis as unknown as { rsrTakeToken(key: string, rate: string, capacity: string): Promise<number> }).rsrTakeToken;
    try {
      return Number(await run.call(this.redis, this.key, String(this.options.ratePerSecond), String(this.capacity)));
    } catch (err) {
      throw retryable('RSR_DRIVER_UNAVAILABLE', `token bucket ${this.key}: cannot reach Redis for a token: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** The promise, or the signal's reason as soon as it aborts: a Redis that is reconnecting must not stretch a step's timeout. */
async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  // Given up on at an abort, its later failure is nobody's business: do not let it surface as unhandled.
  promise.catch(() => undefined);
  if (signal.aborted) throw signal.reason;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort!);
  }
}
