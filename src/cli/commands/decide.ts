import { buildApp } from '../../container';
import { createLogger } from '../../config/logger';
import type { GlobalOptions } from '../connect';
import { configFrom, locateRunningRedis } from '../connect';

export type Decision = 'approve' | 'deny' | 'resolve';

/**
 * `resurrect decide <recovery> <approve|deny|resolve>`: an operator's decision for a recovery waiting on one
 * (notify-only, approval gates). The recovery wakes and records who decided.
 */
export async function decide(recoveryId: string, decision: Decision, options: GlobalOptions & { by?: string; comment?: string }): Promise<number> {
  const config = configFrom(options);
  const log = createLogger({ level: 'warn' });
  const { url, prefix } = await locateRunningRedis(config, log);
  const app = await buildApp({ config: { ...config, redis: { ...config.redis, prefix } }, redisUrl: url, log });
  try {
    const by = options.by ?? process.env.USER ?? 'operator';
    await app.engine.decide(recoveryId, decision, by, options.comment);
    process.stdout.write(options.json ? `${JSON.stringify({ recoveryId, decision, by })}\n` : `${decision} sent to ${recoveryId} (by ${by})\n`);
    return 0;
  } finally {
    await app.close();
  }
}
