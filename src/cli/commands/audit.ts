import { Redis } from 'ioredis';
import { createLogger } from '../../config/logger';
import type { AuditRecord } from '../../domain';
import { AuditLog } from '../../engine/audit-log';
import { EventFeed } from '../../engine/event-feed';
import { Keys } from '../../engine/keys';
import type { ApiClient } from '../api-client';
import type { GlobalOptions } from '../connect';
import { apiIfAvailable, configFrom, locateRunningRedis } from '../connect';
import { viewOf } from './show';

export function formatAuditLine(record: AuditRecord): string {
  const time = record.at.slice(11, 23);
  const who = record.recoveryId ?? record.incidentId;
  const attempt = record.attempt !== undefined ? ` #${record.attempt}` : '';
  const extra = record.type === 'transition' && record.event ? ` [${record.event}]` : '';
  const duration = record.durationMs !== undefined && record.type === 'transition' ? ` ${record.durationMs} ms` : '';
  const worker = record.worker ? ` @${record.worker}` : '';
  return `${time}  ${record.type.padEnd(10)} ${who}${attempt}  ${record.message}${extra}${duration}${worker}`;
}

/** Trails that are not an incident's or a recovery's: `policy`, `breaker:<scope>`. */
const isNamedTrail = (id: string) => !/^(inc|rec)-/.test(id);

export type AuditOptions = GlobalOptions & { follow?: boolean };

/**
 * `resurrect audit <id> [--follow] [--json]`: the ordered audit trail of an incident (every record of its
 * recoveries too), a recovery, or a named trail (`policy`, `breaker:<scope>`); `--json` prints one record per
 * line. `--follow` goes on printing records as they are written until Ctrl-C (exit 0).
 *
 * Over the API when one is known (see `apiIfAvailable`): the trail from GET /api/v1/incidents/:id or
 * /recoveries/:id, then the live feed GET /api/v1/events from the last record shown (reconnecting with
 * Last-Event-ID). Directly from Redis when no API is known, with `--prefix`, and for a named trail without
 * `--follow` (the API serves those only as a stream). Exit 3 when the id has no trail.
 */
export async function audit(id: string, options: AuditOptions): Promise<number> {
  const api = isNamedTrail(id) && !options.follow ? undefined : await apiIfAvailable(options);
  return api ? auditOverApi(api, id, options) : auditFromRedis(id, options);
}

function printRecord(record: AuditRecord, json: boolean | undefined): void {
  process.stdout.write(json ? `${JSON.stringify(record)}\n` : `${formatAuditLine(record)}\n`);
}

async function auditOverApi(api: ApiClient, id: string, options: AuditOptions): Promise<number> {
  let last: string | undefined;
  if (!isNamedTrail(id)) {
    const found = await viewOf(api, id);
    for (const entry of found.view.audit) printRecord(entry.record, options.json);
    last = found.view.audit.at(-1)?.id;
  }
  if (!options.follow) return 0;
  const filter = id.startsWith('rec-') ? { recovery: id } : { incident: id };
  return untilInterrupted(async (signal) => {
    await api.follow(filter, {
      signal,
      ...(last !== undefined ? { lastEventId: last } : { replay: true }),
      onReconnect: (attempt, reason) => process.stderr.write(`resurrect: event stream interrupted (${reason}); reconnecting (${attempt})\n`),
    }, (event) => {
      let record: AuditRecord;
      try {
        record = JSON.parse(event.data) as AuditRecord;
      } catch {
        return;
      }
      printRecord(record, options.json);
    });
  });
}

async function auditFromRedis(id: string, options: AuditOptions): Promise<number> {
  const config = configFrom(options);
  const { url, prefix } = await locateRunningRedis(config, createLogger({ level: 'warn' }));
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  const keys = new Keys(prefix);
  try {
    const rows = await new AuditLog(redis, keys).read(id);
    if (rows.length === 0 && !options.follow) {
      process.stderr.write(`no audit trail for ${id} (prefix ${prefix})\n`);
      return 3;
    }
    for (const { record } of rows) printRecord(record, options.json);
    if (!options.follow) return 0;
    const feed = new EventFeed(redis, keys);
    const after = rows.at(-1)?.id ?? '0';
    return await untilInterrupted(async (signal) => {
      for await (const event of feed.subscribe(id.startsWith('rec-') ? { recoveryId: id, after } : { incidentId: id, after }, signal)) printRecord(event.record, options.json);
    });
  } finally {
    redis.disconnect();
  }
}

/** Runs `follow` until Ctrl-C or SIGTERM (then 0); a failure of the stream itself is thrown. */
async function untilInterrupted(follow: (signal: AbortSignal) => Promise<void>): Promise<number> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await follow(controller.signal);
    return 0;
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
  }
}
