import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AuditRecord } from '../domain';
import { AuditRecord as AuditRecordCodec, InputError } from '../domain';
import type { Keys } from './keys';

export type AuditType = AuditRecord['type'];
export const AUDIT_TYPES = Object.keys((AuditRecordCodec.types[0].props.type as unknown as { keys: Record<string, null> }).keys) as AuditType[];

export interface FeedFilter {
  /** Only this incident's records (its recoveries' too); read from the incident's own stream. */
  readonly incidentId?: string;
  /** Only this recovery's records; read from the recovery's own stream. */
  readonly recoveryId?: string;
  /** Only these record types (`transition`, `incident`, `decision` …). */
  readonly types?: readonly AuditType[];
  /**
   * Start after this event id (SSE `Last-Event-ID`): a client that reconnects with the last id it saw misses
   * nothing. `'0'`: from the beginning of the stream (the whole trail of a recovery or incident, then live).
   * Absent: only what is written from now on. Ids belong to the stream the filter reads (global, incident or
   * recovery), so a client must reconnect with the same filter.
   */
  readonly after?: string;
}

export interface FeedEvent {
  /** The stream id: the SSE event id. */
  readonly id: string;
  readonly record: AuditRecord;
}

export interface EventFeedOptions {
  /** How long one XREAD blocks before looking again (ms); the abort signal ends a block at once. */
  readonly blockMs?: number;
  /** Records read per round trip. */
  readonly batch?: number;
}

const STREAM_ID = /^\d+(-\d+)?$/;

/**
 * A live feed of audit records (transitions, incident opened/closed, decisions, cancels and retries) for
 * server-sent events and `--follow`: an async iterator over `XREAD BLOCK` of an audit stream. Each subscriber
 * gets its own Redis connection (a blocking read holds its connection), closed when the iteration ends, its
 * signal aborts, or the feed is closed. Redis reconnects are ridden out: the read resumes from the last id seen.
 *
 * Which stream: the recovery's when `recoveryId` is given, else the incident's, else the global `<prefix>:audit`
 * (capped at ~100 000 records: a client more than that far behind loses the oldest).
 */
export class EventFeed {
  private readonly connections = new Set<Redis>();
  private closed = false;

  constructor(private readonly redis: Redis, private readonly keys: Keys, private readonly log?: Logger, private readonly options: EventFeedOptions = {}) {}

  /** The stream a filter reads. */
  streamOf(filter: FeedFilter): string {
    if (filter.recoveryId) return this.keys.audit(filter.recoveryId);
    if (filter.incidentId) return this.keys.audit(filter.incidentId);
    return this.keys.globalAudit();
  }

  subscribe(filter: FeedFilter = {}, signal?: AbortSignal): AsyncIterableIterator<FeedEvent> {
    if (filter.after !== undefined && filter.after !== '$' && !STREAM_ID.test(filter.after)) {
      throw new InputError('invalid event id', [{ path: 'after', message: `not a stream id: ${JSON.stringify(filter.after)}` }]);
    }
    const unknown = (filter.types ?? []).filter((type) => !AUDIT_TYPES.includes(type));
    if (unknown.length > 0) throw new InputError('invalid event types', [{ path: 'types', message: `unknown: ${unknown.join(', ')} (known: ${AUDIT_TYPES.join(', ')})` }]);
    return this.read(filter, signal);
  }

  /** Ends every subscription (the engine is closing). */
  close(): void {
    this.closed = true;
    for (const connection of this.connections) connection.disconnect();
    this.connections.clear();
  }

  private async *read(filter: FeedFilter, signal?: AbortSignal): AsyncGenerator<FeedEvent> {
    if (this.closed || signal?.aborted) return;
    const stream = this.streamOf(filter);
    const types = filter.types && filter.types.length > 0 ? new Set<string>(filter.types) : undefined;
    const connection = this.redis.duplicate({ lazyConnect: false, maxRetriesPerRequest: null, connectionName: `${this.keys.prefix}:event-feed` });
    connection.on('error', (err: Error) => this.log?.debug({ err: err.message, stream }, 'event feed connection error; reconnecting'));
    this.connections.add(connection);
    const stop = () => connection.disconnect();
    signal?.addEventListener('abort', stop, { once: true });
    const ended = () => this.closed || signal?.aborted === true;
    try {
      // `$` is resolved once to the stream's current last id: a block that times out must not skip what was
      // written between two reads.
      let last = filter.after === undefined || filter.after === '$' ? await lastId(connection, stream) : filter.after;
      while (!ended()) {
        let reply: [string, [string, string[]][]][] | null;
        try {
          reply = (await connection.xread('COUNT', this.options.batch ?? 200, 'BLOCK', this.options.blockMs ?? 5_000, 'STREAMS', stream, last)) as typeof reply;
        } catch (err) {
          if (ended()) return;
          this.log?.debug({ err: (err as Error).message, stream }, 'event feed read failed; retrying');
          await new Promise((resolve) => setTimeout(resolve, 250));
          continue;
        }
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            last = id;
            const record = parseRecord(fields);
            if (!record) continue;
            if (types && !types.has(record.type)) continue;
            if (filter.incidentId && record.incidentId !== filter.incidentId) continue;
            if (filter.recoveryId && record.recoveryId !== filter.recoveryId) continue;
            yield { id, record };
            if (ended()) return;
          }
        }
      }
    } finally {
      signal?.removeEventListener('abort', stop);
      this.connections.delete(connection);
      connection.disconnect();
    }
  }
}

async function lastId(connection: Redis, stream: string): Promise<string> {
  const rows = await connection.xrevrange(stream, '+', '-', 'COUNT', 1);
  return rows[0]?.[0] ?? '0-0';
}

function parseRecord(fields: string[]): AuditRecord | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] !== 'r') continue;
    try {
      return JSON.parse(fields[i + 1]!) as AuditRecord;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
