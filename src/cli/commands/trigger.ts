import { buildApp } from '../../container';
import { createLogger } from '../../config/logger';
import type { FailureKind } from '../../domain';
import type { GlobalOptions } from '../connect';
import { configFrom, locateRunningRedis } from '../connect';

/** `resurrect trigger <kind> <host> [--instance ID]`: report a failure event only, as a monitor would. */
export async function trigger(kind: FailureKind, host: string, options: GlobalOptions & { instance?: string; source?: string }): Promise<number> {
  const config = configFrom(options);
  const log = createLogger({ level: 'warn' });
  const { url, prefix } = await locateRunningRedis(config, log);
  const app = await buildApp({ config: { ...config, redis: { ...config.redis, prefix } }, redisUrl: url, log });
  try {
    const { incident, created } = await app.engine.report({ kind, host, source: options.source ?? 'cli', ...(options.instance ? { instance: options.instance } : {}) });
    if (options.json) process.stdout.write(`${JSON.stringify({ created, incident })}\n`);
    else process.stdout.write(`${created ? 'opened' : 'joined'} incident ${incident.id} (${incident.workflow}, recovery ${incident.recoveryId})\n`);
    return 0;
  } finally {
    await app.close();
  }
}
