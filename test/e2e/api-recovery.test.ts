/**
 * A recovery followed over a real socket: the API listening on 127.0.0.1 (any free port) over an app with an
 * embedded worker on the simulated cloud. A client holds `GET /api/v1/events` open (server-sent events, read
 * with fetch's streaming body), reports a host failure with `POST /api/v1/incidents`, waits for the incident
 * to close with `GET /api/v1/incidents/:id`, and checks that the stream delivered exactly that incident's
 * records in the order of its audit trail, that `GET /metrics` counts the recovery, and that a client
 * reconnecting with `Last-Event-ID` gets exactly the records after that id. Closing the server ends the
 * streams still open.
 */
import { randomBytes } from 'node:crypto';
import test from 'ava';
import type { FastifyInstance } from 'fastify';
import { buildServer, listen } from '../../src/api/server';
import type { Config } from '../../src/config/config';
import { startEngine } from '../helpers/engine';
import type { EngineHarness } from '../helpers/engine';
import { useRedis } from '../helpers/redis';
import { until } from '../helpers/wait';

const redis = useRedis(test);

const VIEWER = `e2e-viewer-${randomBytes(12).toString('hex')}`;
const OPERATOR = `e2e-operator-${randomBytes(12).toString('hex')}`;
const API: Config['api'] = {
  host: '127.0.0.1',
  port: 0,
  tokens: [{ name: 'vera', role: 'viewer', token: VIEWER }, { name: 'otto', role: 'operator', token: OPERATOR }],
  bodyLimitBytes: 64 * 1024,
  rateLimit: { max: 10_000, windowMs: 60_000 },
};

interface AuditRec { type: string; message: string; incidentId: string; recoveryId?: string; workflow?: string }
interface Event { id: string; event: string; record: AuditRec }

/**
 * A server-sent events client over fetch: parses frames as they arrive (comments left out) and keeps them in
 * `events`; `close()` disconnects.
 */
class SseClient {
  readonly events: Event[] = [];
  comments = 0;
  private readonly controller = new AbortController();
  private reading: Promise<void> = Promise.resolve();

  static async open(url: string, headers: Record<string, string>): Promise<{ client: SseClient; response: Response }> {
    const client = new SseClient();
    const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: client.controller.signal });
    if (response.ok && response.body) client.reading = client.read(response.body);
    return { client, response };
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          this.frame(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (err) {
      if (!this.controller.signal.aborted) throw err;
    }
  }

  private frame(block: string): void {
    const fields: Record<string, string> = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments++;
        continue;
      }
      const colon = line.indexOf(': ');
      if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 2);
    }
    if (fields.data !== undefined) this.events.push({ id: fields.id!, event: fields.event!, record: JSON.parse(fields.data) as AuditRec });
  }

  /** Resolves when the server ended the stream (not the client). */
  ended(): Promise<void> {
    return this.reading;
  }

  async close(): Promise<void> {
    this.controller.abort();
    await this.reading.catch(() => undefined);
  }
}

interface Running {
  readonly h: EngineHarness;
  readonly server: FastifyInstance;
  readonly base: string;
  closeServer(): Promise<void>;
}

async function start(t: { teardown(fn: () => Promise<void>): void }): Promise<Running> {
  const h = await startEngine(redis);
  const server = await buildServer(h.app, API, { env: {} });
  const base = await listen(server, { host: '127.0.0.1', port: 0 });
  let closed: Promise<void> | undefined;
  const closeServer = () => (closed ??= server.close());
  t.teardown(async () => {
    await closeServer();
    await h.close();
  });
  return { h, server, base, closeServer };
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

async function json<T>(response: Response): Promise<T> {
  const text = await response.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`not JSON (${response.status}): ${text.slice(0, 300)}`);
  }
}

/** `name{labels} value` samples of the Prometheus text whose labels include `where`, summed. */
function metric(text: string, name: string, where: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    if (Object.entries(where).every(([k, v]) => labels[k] === v)) sum += Number(match[3]);
  }
  return sum;
}

test('a host-down recovery over HTTP: the event stream delivers its records in the order of the audit trail, /metrics counts it, Last-Event-ID resumes exactly', async (t) => {
  const { h, base } = await start(t);
  const { client: live, response } = await SseClient.open(`${base}/api/v1/events`, auth(VIEWER));
  t.teardown(() => live.close());
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^text\/event-stream/);

  // Subscribed (the 200 is here): everything written from now on is on the stream.
  h.world.failHost('compute-1', 'power');
  const reported = await fetch(`${base}/api/v1/incidents`, {
    method: 'POST', headers: { ...auth(OPERATOR), 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'host-down', host: 'compute-1', source: 'e2e' }),
  });
  t.is(reported.status, 201);
  const { incident } = await json<{ incident: { id: string; recoveryId: string } }>(reported);

  let view: { incident: { status: string; outcome?: string }; audit: { id: string; record: AuditRec }[]; children: { total: number } } | undefined;
  await until(async () => {
    view = await json(await fetch(`${base}/api/v1/incidents/${incident.id}`, { headers: auth(VIEWER) }));
    return view!.incident.status !== 'open';
  }, 30_000);
  t.is(view!.incident.status, 'resolved');
  t.is(view!.incident.outcome, 'recovered');
  t.is(view!.children.total, 3, 'vm-a, vm-b and vm-c');
  const trail = view!.audit.map((e) => e.record);
  t.regex(trail.at(-1)!.message, /^incident resolved/);

  // The stream caught up with the trail: the same records, in the same order (the trail of an incident holds
  // every record of its recoveries; the stream's other records, if any, belong to nothing else here).
  await until(() => live.events.filter((e) => e.record.incidentId === incident.id).length >= trail.length, 10_000);
  const streamed = live.events.filter((e) => e.record.incidentId === incident.id);
  t.deepEqual(streamed.map((e) => e.record), trail, 'the same records as GET /api/v1/incidents/:id, in the same order');
  t.deepEqual(streamed.map((e) => e.event), trail.map((r) => r.type), 'event: the record type');
  t.is(streamed.length, live.events.length, 'nothing else was written');
  const root = streamed.filter((e) => e.record.recoveryId === incident.recoveryId && e.record.type === 'transition').map((e) => e.record.message);
  t.is(root[0], '(start) → fencing');
  t.is(root.at(-1), 'summarizing → recovered');
  t.regex(streamed[0]!.record.message, /^incident opened: host-down host:compute-1 \(source e2e via api:otto\)/);
  t.is(new Set(streamed.map((e) => e.id)).size, streamed.length, 'every id once');

  // /metrics counts it.
  const metrics = await fetch(`${base}/metrics`, { headers: auth(VIEWER) });
  t.is(metrics.status, 200);
  const text = await metrics.text();
  t.is(metric(text, 'resurrect_recoveries_total', { outcome: 'recovered', workflow: 'evacuate-instance' }), 3, 'one per VM');
  t.is(metric(text, 'resurrect_recoveries_total', { outcome: 'recovered', workflow: 'fence-then-evacuate' }), 1);
  t.true(metric(text, 'resurrect_transitions_total') > 0);
  t.is(metric(text, 'resurrect_transitions_total'), trail.filter((r) => r.type === 'transition').length, 'one per audited transition');

  // A client that reconnects with the id of the 5th event it saw gets exactly the rest, and nothing after.
  const seen = live.events.slice(0, 5);
  const { client: resumed, response: again } = await SseClient.open(`${base}/api/v1/events`, { ...auth(VIEWER), 'last-event-id': seen.at(-1)!.id });
  t.teardown(() => resumed.close());
  t.is(again.status, 200);
  const rest = live.events.slice(5);
  await until(() => resumed.events.length >= rest.length, 10_000);
  await new Promise((resolve) => setTimeout(resolve, 300)); // anything more would arrive meanwhile
  t.deepEqual(resumed.events.map((e) => e.id), rest.map((e) => e.id), 'exactly the records after that id');
  t.deepEqual(resumed.events.map((e) => e.record), rest.map((e) => e.record));
  await resumed.close();

  // The same on the incident's own trail: replay from its start, then resume within it.
  const { client: replay } = await SseClient.open(`${base}/api/v1/events?incident=${incident.id}&replay=true`, auth(VIEWER));
  t.teardown(() => replay.close());
  await until(() => replay.events.length >= trail.length, 10_000);
  t.deepEqual(replay.events.map((e) => e.id), view!.audit.map((e) => e.id), 'the trail\'s own ids');
  await replay.close();
  const middle = view!.audit[Math.floor(trail.length / 2)]!.id;
  const { client: partial } = await SseClient.open(`${base}/api/v1/events?incident=${incident.id}`, { ...auth(VIEWER), 'last-event-id': middle });
  t.teardown(() => partial.close());
  const after = view!.audit.filter((e) => compareIds(e.id, middle) > 0);
  await until(() => partial.events.length >= after.length, 10_000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.deepEqual(partial.events.map((e) => e.id), after.map((e) => e.id));
});

test('closing the listening server ends the open event streams instead of waiting for their clients', async (t) => {
  const { base, closeServer } = await start(t);
  const { client, response } = await SseClient.open(`${base}/api/v1/events`, auth(VIEWER));
  t.teardown(() => client.close());
  t.is(response.status, 200);
  const refused = await fetch(`${base}/api/v1/events?types=nonsense`, { headers: auth(VIEWER) });
  t.is(refused.status, 400, 'a refusal is an ordinary JSON error, not a stream');
  t.is((await json<{ error: { path: string } }>(refused)).error.path, 'query.types');
  const started = Date.now();
  await closeServer();
  t.true(Date.now() - started < 3_000, `closed after ${Date.now() - started} ms`);
  await client.ended();
  t.pass('the stream ended from the server side');
});

function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am - bm || as - bs;
}
