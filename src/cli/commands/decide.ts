import { buildApp } from '../../container';
import { createLogger } from '../../config/logger';
import { InputError } from '../../domain';
import type { GlobalOptions } from '../connect';
import { apiIfAvailable, configFrom, locateRunningRedis } from '../connect';
import { decideOverApi, type Decision } from './approve';

export type { Decision };

/**
 * `--by NAME` records a name of the operator's choosing, which only a direct write to Redis can do: over the API
 * the audit trail records the token's name. With `--url`/RESURRECT_URL, `--by` is refused (exit 2).
 */
export function refuseByOverApi(options: GlobalOptions & { by?: string }, env: NodeJS.ProcessEnv = process.env): void {
  if (options.by !== undefined && (options.url !== undefined || Boolean(env.RESURRECT_URL?.trim()))) {
    throw new InputError('--by cannot be used over the API: it records the name of your token (leave --by out, or give the token of the person deciding)', [{ path: 'by', message: 'not over the API' }]);
  }
}

/**
 * `resurrect decide <recovery> <approve|deny|resolve>`: an operator's decision for a recovery waiting on one
 * (notify-only, approval gates). The recovery wakes and records who decided. Without `--by` it is `approve`,
 * `deny` or `resolve` over the API when one is known; with `--by` (or without an API) it writes to the engine's
 * Redis directly, as before the API.
 */
export async function decide(recoveryId: string, decision: Decision, options: GlobalOptions & { by?: string; comment?: string }): Promise<number> {
  refuseByOverApi(options);
  if (options.by === undefined && (await apiIfAvailable(options))) return decideOverApi(recoveryId, decision, options);
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
