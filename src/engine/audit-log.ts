import type { ChainableCommander, Redis } from 'ioredis';
import type { AuditRecord } from '../domain';
import { redact } from '../domain';
import type { Keys } from './keys';
import { MetricsRecorder } from './metrics-recorder';

/** Global stream cap: enough for days of incidents; per-recovery streams are never trimmed. */
const GLOBAL_MAXLEN = 100_000;

/**
 * The audit trail: one Redis stream per recovery, one per incident (every record of its recoveries too, so
 * `audit <incident>` is one ordered read) and a global stream. Appends join the caller's MULTI so a transition
 * and its snapshot are written in one round trip.
 */
export class AuditLog {
  /** Counts what the records say (transitions, retries, finished recoveries) for /metrics, in the same MULTI. */
  private readonly metrics: MetricsRecorder;

  constructor(private readonly redis: Redis, private readonly keys: Keys) {
    this.metrics = new MetricsRecorder(keys);
  }

  append(multi: ChainableCommander, record: AuditRecord): ChainableCommander {
    const json = JSON.stringify(redact(record));
    if (record.recoveryId) multi.xadd(this.keys.audit(record.recoveryId), '*', 'r', json);
    multi.xadd(this.keys.audit(record.incidentId), '*', 'r', json);
    multi.xadd(this.keys.globalAudit(), 'MAXLEN', '~', GLOBAL_MAXLEN, '*', 'r', json);
    this.metrics.record(multi, record);
    return multi;
  }

  async write(record: AuditRecord): Promise<void> {
    await this.append(this.redis.multi(), record).exec();
  }

  /** The ordered trail of a recovery or an incident (by id). */
  async read(id: string, options: { after?: string; count?: number } = {}): Promise<{ id: string; record: AuditRecord }[]> {
    const start = options.after ? `(${options.after}` : '-';
    const rows = options.count
      ? await this.redis.xrange(this.keys.audit(id), start, '+', 'COUNT', options.count)
      : await this.redis.xrange(this.keys.audit(id), start, '+');
    return rows.map(([streamId, fields]) => ({ id: streamId, record: JSON.parse(fields[1] ?? '{}') as AuditRecord }));
  }
}
