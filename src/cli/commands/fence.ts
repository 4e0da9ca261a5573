import { Redis } from 'ioredis';
import { createLogger } from '../../config/logger';
import { confirmPowerOff, pendingRequests } from '../../drivers/fencing/manual/confirmations';
import { Keys } from '../../engine/keys';
import type { GlobalOptions } from '../connect';
import { configFrom, locateRunningRedis } from '../connect';

async function withRedis<T>(options: GlobalOptions, fn: (redis: Redis, keys: Keys, prefix: string) => Promise<T>): Promise<T> {
  const config = configFrom(options);
  const { url, prefix } = await locateRunningRedis(config, createLogger({ level: 'warn' }));
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    return await fn(redis, new Keys(prefix), prefix);
  } finally {
    redis.disconnect();
  }
}

/**
 * `resurrect fence confirm <host> --by NAME [--comment TEXT]`: an operator's word that the host is powered
 * off, answering the manual fencing request pending for it. Exit 3 when no request is pending (a
 * confirmation always answers a request: given in advance it could vouch for a host powered on since).
 */
export async function fenceConfirm(host: string, options: GlobalOptions & { by: string; comment?: string }): Promise<number> {
  return withRedis(options, async (redis, keys, prefix) => {
    const record = await confirmPowerOff(redis, keys, host, options.by, options.comment);
    if (!record) {
      process.stderr.write(`no manual fencing request pending for ${host} (prefix ${prefix}); see \`resurrect fence pending\`\n`);
      return 3;
    }
    process.stdout.write(options.json ? `${JSON.stringify(record)}\n` : `power-off of ${host} confirmed by ${record.by} at ${record.at}\n`);
    return 0;
  });
}

/** `resurrect fence pending`: manual fencing requests waiting for an operator, oldest first. */
export async function fencePending(options: GlobalOptions): Promise<number> {
  return withRedis(options, async (redis, keys) => {
    const pending = await pendingRequests(redis, keys);
    if (options.json) {
      for (const request of pending) process.stdout.write(`${JSON.stringify(request)}\n`);
      return 0;
    }
    if (pending.length === 0) {
      process.stdout.write('no manual fencing request pending\n');
      return 0;
    }
    for (const request of pending) {
      const age = Math.max(0, Math.round((Date.now() - request.requestedAt) / 1000));
      process.stdout.write(`${request.host}  requested ${request.at} (${age} s ago) by ${request.device}; power it off, then: resurrect fence confirm ${request.host} --by <name>\n`);
    }
    return 0;
  });
}
