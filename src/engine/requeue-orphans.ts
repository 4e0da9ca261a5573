import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Keys } from './keys';
import type { RecoveryQueue } from './recovery-queue';

/** How far back (most recent recoveries first) a starting worker looks for orphans. */
const SCAN_LIMIT = 10_000;

/**
 * A recovery is written before its job is added (atomically with its incident, or with its parent's other
 * children); a crash in between leaves it `queued` with no job. A starting worker re-adds those jobs. The job
 * id is the recovery id, so a recovery whose job still exists is left alone.
 */
export async function requeueOrphans(deps: { redis: Redis; keys: Keys; queue: RecoveryQueue; log: Logger }): Promise<string[]> {
  const { redis, keys, queue, log } = deps;
  const ids = await redis.zrevrange(keys.recoveryIndex(), 0, SCAN_LIMIT - 1);
  if (ids.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hget(keys.recovery(id), 'status');
  const statuses = (await pipeline.exec()) ?? [];
  const requeued: string[] = [];
  for (const [i, id] of ids.entries()) {
    if (statuses[i]?.[1] !== 'queued') continue;
    if (await queue.queue.getJob(id)) continue;
    await queue.enqueueRun(id);
    requeued.push(id);
  }
  if (requeued.length > 0) log.warn({ recoveries: requeued }, `re-queued ${requeued.length} recover${requeued.length === 1 ? 'y' : 'ies'} left without a job`);
  return requeued;
}
