import { Redis } from 'ioredis';
import { createLogger } from '../../config/logger';
import type { AuditRecord } from '../../domain';
import { AuditLog } from '../../engine/audit-log';
import { Keys } from '../../engine/keys';
import type { GlobalOptions } from '../connect';
import { configFrom, locateRunningRedis } from '../connect';

export function formatAuditLine(record: AuditRecord): string {
  const time = record.at.slice(11, 23);
  const who = record.recoveryId ?? record.incidentId;
  const attempt = record.attempt !== undefined ? ` #${record.attempt}` : '';
  const extra = record.type === 'transition' && record.event ? ` [${record.event}]` : '';
  const duration = record.durationMs !== undefined && record.type === 'transition' ? ` ${record.durationMs} ms` : '';
  const worker = record.worker ? ` @${record.worker}` : '';
  return `${time}  ${record.type.padEnd(10)} ${who}${attempt}  ${record.message}${extra}${duration}${worker}`;
}

/** `resurrect audit <recovery-or-incident-id>`: the ordered audit trail. Exit 3 if there is none. */
export async function audit(id: string, options: GlobalOptions): Promise<number> {
  const config = configFrom(options);
  const { url, prefix } = await locateRunningRedis(config, createLogger({ level: 'warn' }));
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const rows = await new AuditLog(redis, new Keys(prefix)).read(id);
    if (rows.length === 0) {
      process.stderr.write(`no audit trail for ${id} (prefix ${prefix})\n`);
      return 3;
    }
    for (const { record } of rows) process.stdout.write(options.json ? `${JSON.stringify(record)}\n` : `${formatAuditLine(record)}\n`);
    return 0;
  } finally {
    redis.disconnect();
  }
}
