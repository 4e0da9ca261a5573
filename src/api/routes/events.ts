/**
 * The live feed of audit records as server-sent events (`text/event-stream`): transitions, incidents opened
 * and closed, attempts, decisions, cancels and retries, as they are written (src/engine/event-feed.ts). The
 * server side of the stream (headers, heartbeat, disconnects) is in server.ts; this route only says what to
 * read.
 */
import type { Redis } from 'ioredis';
import { TOKENS } from '../../container';
import { AuditRecord } from '../../domain';
import { EventFeed } from '../../engine/event-feed';
import type { FeedFilter } from '../../engine/event-feed';
import type { Keys } from '../../engine/keys';
import { EventsHeaders, EventsQuery, EventStreamText } from '../codecs';
import { relocate } from '../http-errors';
import type { ApiDeps, ServerSentEvent } from '../route';
import { defineRoute } from '../route';

/** The engine names the filter's fields; the client sent them as query parameters and a header. */
const where = (path: string) => ({
  after: 'headers.last-event-id', types: 'query.types', incidentId: 'query.incident', recoveryId: 'query.recovery',
} as Record<string, string>)[path] ?? `query.${path}`;

export const events = defineRoute({
  method: 'GET',
  url: '/api/v1/events',
  summary: 'Server-sent events: audit records as they are written',
  description: 'One event per audit record: `id:` its stream id, `event:` its type, `data:` the record as JSON; a comment heartbeat every 15 s. '
    + 'Without a filter: every record of the engine; `incident` or `recovery`: that trail only (`types` narrows further). '
    + 'Starts with what is written from now on; `replay=true` first sends the whole trail from its start. A client that reconnects '
    + 'sends `Last-Event-ID` (EventSource does) with the same query and gets exactly the records after that id. Ends when the client disconnects.',
  tags: ['events'],
  access: 'viewer',
  mutates: false,
  input: { query: EventsQuery, headers: EventsHeaders },
  response: { codec: EventStreamText, statuses: { 200: 'the stream (text/event-stream), until the client disconnects' }, contentType: 'text/event-stream', events: AuditRecord },
  async handler({ query, headers, deps, signal }) {
    const lastEventId = headers['last-event-id'];
    const scope: FeedFilter = {
      ...(query.incident ? { incidentId: query.incident } : {}),
      ...(query.recovery ? { recoveryId: query.recovery } : {}),
      ...(query.types ? { types: query.types } : {}),
    };
    // Live only: the position is taken now, before the headers go out, so everything written once the client
    // has its 200 is delivered (the feed would otherwise take it when it first reads, a moment later).
    const after = lastEventId ?? (query.replay ? '0' : await currentPosition(deps, scope));
    const filter: FeedFilter = { ...scope, after };
    let feed: AsyncIterableIterator<{ id: string; record: AuditRecord }>;
    try {
      // Validates the filter before anything is sent: a refusal is an ordinary 400.
      feed = deps.app.engine.events(filter, signal);
    } catch (err) {
      throw relocate(err, where);
    }
    return { status: 200, events: toEvents(feed) };
  },
});

/** The id of the last record of the stream a filter reads ('0-0' when it has none yet). */
async function currentPosition(deps: ApiDeps, filter: FeedFilter): Promise<string> {
  const redis = deps.app.redis as Redis;
  const stream = new EventFeed(redis, deps.app.container.get<Keys>(TOKENS.keys)).streamOf(filter);
  const [last] = await redis.xrevrange(stream, '+', '-', 'COUNT', 1);
  return last?.[0] ?? '0-0';
}

/** Returning this iterator (the client left) returns the feed's, which frees its Redis connection. */
async function* toEvents(feed: AsyncIterable<{ id: string; record: AuditRecord }>): AsyncGenerator<ServerSentEvent> {
  for await (const { id, record } of feed) yield { id, event: record.type, data: record };
}
