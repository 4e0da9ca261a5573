/** The CLI's API client without an engine: endpoint resolution, errors → exit codes, the SSE reader and reconnection. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { ApiClient, ApiClientError, EXIT, exitCodeOf, parseSse, resolveEndpoint, type SseEvent } from '../../../src/cli/api-client';
import { timeOption } from '../../../src/cli/output';
import type { RuntimeInfo } from '../../../src/cli/runtime-file';
import { findFreePort } from '../../../src/drivers/redis/locate-redis';

const RUNTIME: RuntimeInfo = { pid: 1, redisUrl: 'redis://x', prefix: 'rsr', startedAt: '', apiUrl: 'http://127.0.0.1:4000/', apiToken: 'run-token' };

test('endpoint: flag, then environment, then the runtime file, then api.host:api.port; the run token only goes to the run URL', (t) => {
  const config = { api: { host: '0.0.0.0', port: 9000 } } as never;
  t.like(resolveEndpoint({}, {}, config, undefined), { url: 'http://127.0.0.1:9000', source: 'config', token: undefined });
  t.like(resolveEndpoint({}, {}, config, RUNTIME), { url: 'http://127.0.0.1:4000', source: 'runtime', token: 'run-token', tokenSource: 'runtime' });
  t.like(resolveEndpoint({}, { RESURRECT_URL: 'http://api.example:8790/', RESURRECT_TOKEN: ' env ' }, config, RUNTIME), { url: 'http://api.example:8790', source: 'env', token: 'env', tokenSource: 'env' });
  t.like(resolveEndpoint({ url: 'https://h/base/', token: 'flag' }, { RESURRECT_URL: 'http://other', RESURRECT_TOKEN: 'env' }, config, RUNTIME), { url: 'https://h/base', source: 'flag', token: 'flag' });
  // Another URL, no token given: the run's token is not sent there.
  t.is(resolveEndpoint({ url: 'http://elsewhere:1' }, {}, config, RUNTIME).token, undefined);
  t.is(resolveEndpoint({ url: 'http://127.0.0.1:4000' }, {}, config, RUNTIME).token, 'run-token', 'the same URL typed out gets it');
  const bad = t.throws(() => resolveEndpoint({ url: 'http://user:secret@h' }, {}, config, undefined), { instanceOf: ApiClientError });
  t.is(bad?.exitCode, EXIT.invalid);
  t.false(bad?.message.includes('secret'));
  t.is(t.throws(() => resolveEndpoint({ url: 'ftp://h' }, {}, config, undefined), { instanceOf: ApiClientError })?.exitCode, EXIT.invalid);
  t.like(resolveEndpoint({}, {}, { api: { host: '::1', port: 1 } } as never, undefined), { url: 'http://[::1]:1' });
});

test('HTTP status → exit code', (t) => {
  for (const [status, code] of [[400, 2], [413, 2], [414, 2], [415, 2], [404, 3], [401, 4], [403, 4], [409, 5], [429, 6], [500, 6], [503, 6], [418, 1]] as const) {
    t.is(exitCodeOf(status), code, String(status));
  }
});

test('--since/--until: ISO times and spans before now', (t) => {
  const now = Date.parse('2026-05-01T12:00:00Z');
  t.is(timeOption('15m', '--since', now), '2026-05-01T11:45:00.000Z');
  t.is(timeOption('2d', '--since', now), '2026-04-29T12:00:00.000Z');
  t.is(timeOption('2026-04-30', '--since', now), '2026-04-30T00:00:00.000Z');
  t.is(timeOption(undefined, '--since', now), undefined);
  t.throws(() => timeOption('yesterday', '--since', now), { message: /--since: expected an ISO 8601 time/ });
});

async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield new TextEncoder().encode(part);
}

test('parseSse: fields split across chunks, CRLF, comments, multi-line data, retry; an unterminated event is dropped', async (t) => {
  const events: SseEvent[] = [];
  for await (const e of parseSse(chunks(': heartbeat\n\nid: 1-0\nevent: trans', 'ition\ndata: {"a":\r', '\n', 'data: 1}\r\n\r\nretry: 2000\nid: 2-0\ndata:x\n\nid: 3-0\ndata: cut'))) events.push(e);
  t.deepEqual(events, [
    { id: '1-0', event: 'transition', data: '{"a":\n1}' },
    { id: '2-0', event: 'message', data: 'x', retry: 2000 },
  ]);
});

test('follow: a dropped stream is re-opened with Last-Event-ID and the same query; nothing is missed or repeated', async (t) => {
  const requests: { url: string; lastEventId?: string; authorization?: string }[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    requests.push({ url: request.url ?? '', lastEventId: request.headers['last-event-id'] as string | undefined, authorization: request.headers.authorization });
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    if (requests.length === 1) {
      response.write('retry: 10\n\nid: 1-0\nevent: incident\ndata: {"n":1}\n\nid: 2-0\nevent: transition\ndata: {"n":2}\n\n');
      setTimeout(() => response.socket?.destroy(), 50); // the connection drops
    } else {
      response.write(': heartbeat\n\nid: 3-0\nevent: decision\ndata: {"n":3}\n\n');
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new ApiClient({ url, token: 'tok', source: 'flag' });
  const controller = new AbortController();
  const seen: SseEvent[] = [];
  const reconnects: number[] = [];
  await client.follow({ incident: 'inc-1', types: ['incident', 'transition', 'decision'] }, {
    signal: controller.signal, replay: true, onReconnect: (attempt) => reconnects.push(attempt),
  }, (event) => {
    seen.push(event);
    if (seen.length === 3) controller.abort();
  });
  t.deepEqual(seen.map((e) => [e.id, e.event, e.data]), [['1-0', 'incident', '{"n":1}'], ['2-0', 'transition', '{"n":2}'], ['3-0', 'decision', '{"n":3}']]);
  t.deepEqual(reconnects, [1]);
  t.is(requests[0]!.url, '/api/v1/events?incident=inc-1&types=incident%2Ctransition%2Cdecision&replay=true');
  t.is(requests[0]!.lastEventId, undefined);
  t.is(requests[1]!.url, '/api/v1/events?incident=inc-1&types=incident%2Ctransition%2Cdecision', 'Last-Event-ID instead of replay');
  t.is(requests[1]!.lastEventId, '2-0');
  t.true(requests.every((r) => r.authorization === 'Bearer tok'));
});

test('errors: the API shape becomes an ApiClientError with its code, paths and exit code; a refused first connection exits 6', async (t) => {
  const server = createServer((request, response) => {
    if (request.url?.startsWith('/api/v1/events')) {
      response.writeHead(403, { 'content-type': 'application/json' }).end('{"error":{"code":"RSR_API_FORBIDDEN","message":"viewer only"}}');
      return;
    }
    response.writeHead(400, { 'content-type': 'application/json' })
      .end('{"error":{"code":"RSR_INPUT_INVALID","message":"invalid","path":"body.a","paths":[{"path":"body.a","message":"x"},{"path":"body.b","message":"y"}]}}');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new ApiClient({ url, token: 'sekret', source: 'flag' });
  const err = await t.throwsAsync(client.listIncidents({}), { instanceOf: ApiClientError });
  t.like(err, { apiCode: 'RSR_INPUT_INVALID', status: 400, exitCode: EXIT.invalid });
  t.deepEqual(err?.paths.map((p) => p.path), ['body.a', 'body.b']);
  const forbidden = await t.throwsAsync(client.follow({}, { signal: new AbortController().signal }, () => undefined), { instanceOf: ApiClientError });
  t.is(forbidden?.exitCode, EXIT.auth, 'a 4xx on the stream is not retried');
  t.false(JSON.stringify(client).includes('sekret'));

  const nobody = new ApiClient({ url: `http://127.0.0.1:${await findFreePort()}`, source: 'flag' });
  const refused = await t.throwsAsync(nobody.workflows(), { instanceOf: ApiClientError });
  t.like(refused, { apiCode: 'RSR_API_UNREACHABLE', exitCode: EXIT.unavailable });
  t.regex(refused?.message ?? '', /connection refused/);
  const streamRefused = await t.throwsAsync(nobody.follow({}, { signal: new AbortController().signal }, () => undefined), { instanceOf: ApiClientError });
  t.is(streamRefused?.exitCode, EXIT.unavailable);
});
