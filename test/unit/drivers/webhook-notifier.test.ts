import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import type { ResurrectError } from '../../../src/domain';
import { WebhookNotifier } from '../../../src/drivers/notify/webhook-notifier';
import type { Notification } from '../../../src/drivers/notify/port';

interface Received {
  readonly method?: string;
  readonly path?: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
}

/** A real HTTP endpoint on 127.0.0.1; `respond` decides each answer (or never answers). */
async function endpoint(t: { teardown(fn: () => unknown): void }, respond: (res: ServerResponse) => void) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method, path: req.url, headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      respond(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  return { received, base: `http://127.0.0.1:${port}` };
}

const NOTE: Notification = {
  severity: 'critical',
  topic: 'incident.escalated',
  summary: 'compute-3: fencing failed',
  incidentId: 'inc-1',
  recoveryId: 'rec-1',
  details: { host: 'compute-3', password: 'hunter2' },
};
const SECRET = 'Bearer s3cr3t-token';

test('webhook notifier: POSTs the notification as JSON with the configured headers', async (t) => {
  const { received, base } = await endpoint(t, (res) => res.writeHead(204).end());
  const notifier = new WebhookNotifier({ url: `${base}/hooks/T000/B000/xyz`, headers: { authorization: SECRET, 'x-team': 'ops' } });
  await notifier.notify(NOTE);
  t.is(received.length, 1);
  const [request] = received;
  t.like(request, { method: 'POST', path: '/hooks/T000/B000/xyz' });
  t.is(request?.headers['content-type'], 'application/json');
  t.is(request?.headers.authorization, SECRET);
  t.is(request?.headers['x-team'], 'ops');
  t.like(request?.body, { severity: 'critical', topic: 'incident.escalated', summary: 'compute-3: fencing failed', incidentId: 'inc-1', recoveryId: 'rec-1', details: { host: 'compute-3', password: '[redacted]' } });
  t.false(Number.isNaN(Date.parse((request?.body as { sentAt: string }).sentAt)));
  t.is(notifier.name, `webhook:${base}`, 'the name carries the origin only');
});

test('webhook notifier: a non-2xx answer is a retryable RSR_NOTIFY_FAILED with the status, and no secret', async (t) => {
  const { base } = await endpoint(t, (res) => res.writeHead(503, { 'content-type': 'text/plain' }).end('overloaded'));
  const notifier = new WebhookNotifier({ url: `${base}/hooks/secret-path`, headers: { authorization: SECRET } });
  const error = (await t.throwsAsync(notifier.notify(NOTE))) as ResurrectError;
  t.like(error, { code: 'RSR_NOTIFY_FAILED', retryable: true });
  t.is(error.details.status, 503);
  const text = JSON.stringify({ message: error.message, details: error.details });
  t.false(text.includes('s3cr3t'));
  t.false(text.includes('secret-path'));
});

test('webhook notifier: a 4xx is a failure too', async (t) => {
  const { base } = await endpoint(t, (res) => res.writeHead(404).end());
  await t.throwsAsync(new WebhookNotifier({ url: base }).notify(NOTE), { code: 'RSR_NOTIFY_FAILED', message: /404/ });
});

test('webhook notifier: an endpoint that never answers times out as a retryable RSR_NOTIFY_FAILED', async (t) => {
  const { received, base } = await endpoint(t, () => undefined);
  const started = Date.now();
  // Long enough for the request to reach the server on a loaded machine (150 ms was seen not to be).
  const error = (await t.throwsAsync(new WebhookNotifier({ url: base, timeoutMs: 1000 }).notify(NOTE))) as ResurrectError;
  t.like(error, { code: 'RSR_NOTIFY_FAILED', retryable: true });
  t.is(error.details.reason, 'timeout');
  t.true(Date.now() - started < 10_000, 'the timeout ends the wait');
  t.is(received.length, 1, 'the request did arrive');
});

test("webhook notifier: the caller's abort rejects with its reason", async (t) => {
  const { base } = await endpoint(t, () => undefined);
  const controller = new AbortController();
  const pending = new WebhookNotifier({ url: base, timeoutMs: 5000 }).notify(NOTE, { signal: controller.signal });
  await new Promise((resolve) => setTimeout(resolve, 30));
  const reason = new Error('shutting down');
  controller.abort(reason);
  t.is(await t.throwsAsync(pending), reason);
});

test('webhook notifier: an unreachable endpoint is a retryable transport failure', async (t) => {
  const { base } = await endpoint(t, (res) => res.end());
  const closedPort = base.replace(/:\d+$/, ':1');
  const error = (await t.throwsAsync(new WebhookNotifier({ url: closedPort, timeoutMs: 2000 }).notify(NOTE))) as ResurrectError;
  t.like(error, { code: 'RSR_NOTIFY_FAILED', retryable: true });
  t.is(error.details.reason, 'transport');
});

test('webhook notifier: refuses a URL that is not http(s)', (t) => {
  t.throws(() => new WebhookNotifier({ url: 'not a url' }), { code: 'RSR_CONFIG_INVALID' });
  t.throws(() => new WebhookNotifier({ url: 'ftp://example.org/x' }), { code: 'RSR_CONFIG_INVALID' });
});
