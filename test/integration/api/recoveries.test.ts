/**
 * The routes of issue 6 through fastify's `inject()`: cancel over HTTP, the filtered listings of incidents and
 * recoveries with cursor paging, and the event stream (replay, Last-Event-ID, type filter, refusals,
 * heartbeat, disconnect and server close). Live delivery over a real socket: test/e2e/api-recovery.test.ts.
 */
import test from 'ava';
import type { LightMyRequestResponse } from 'fastify';
import { DEFAULT_WORKFLOWS } from '../../../src/config/config';
import { TOKENS as DI } from '../../../src/container';
import type { Keys } from '../../../src/engine/keys';
import { createRedisFixture } from '../../helpers/redis';
import { until } from '../../helpers/wait';
import type { ApiHarness } from './harness';
import { NAMES, startApi, TOKENS } from './harness';

const lifecycle = createRedisFixture();
const { viewer, operator } = TOKENS;

/** Every failure waits for an operator: statuses change only when the test says so. */
const notifyOnly = { workflows: { ...DEFAULT_WORKFLOWS, 'host-down': 'notify-only', 'host-degraded': 'notify-only', 'instance-down': 'notify-only' } };

interface Incident { id: string; recoveryId: string; status: string; outcome?: string }
interface Entry { id: string; record: { type: string; message: string; incidentId: string; recoveryId?: string } }

/** One app for the listings and the stream: five incidents, two resolved, one cancelled, two still waiting. */
let api: ApiHarness;
const made: Record<'a' | 'b' | 'c' | 'd' | 'e', Incident> = {} as never;

test.before(async () => {
  await lifecycle.setup();
  api = await startApi(lifecycle.fixture, { worker: true, config: notifyOnly });
  const report = async (body: Record<string, string>) => {
    const res = await api.request('POST', '/api/v1/incidents', { token: operator, body });
    if (res.statusCode !== 201) throw new Error(`report: ${res.statusCode} ${res.body}`);
    return res.json().incident as Incident;
  };
  // In this order, so newest first is e, d, c, b, a (opening times apart: the index orders by them).
  made.a = await report({ kind: 'host-degraded', host: 'compute-1' });
  await pause(5);
  made.b = await report({ kind: 'host-degraded', host: 'compute-2' });
  await pause(5);
  made.c = await report({ kind: 'host-degraded', host: 'compute-3' });
  await pause(5);
  made.d = await report({ kind: 'host-down', host: 'compute-4' });
  await pause(5);
  made.e = await report({ kind: 'instance-down', host: 'compute-1', instance: 'vm-a' });
  await until(async () => (await Promise.all(Object.values(made).map((i) => api.app.engine.recovery(i.recoveryId)))).every((r) => r.status === 'waiting'), 10_000);
  for (const incident of [made.a, made.e]) {
    const decided = await api.request('POST', `/api/v1/recoveries/${incident.recoveryId}/decision`, { token: operator, body: { decision: 'resolve' } });
    if (decided.statusCode !== 202) throw new Error(decided.body);
  }
  const cancelled = await api.request('POST', `/api/v1/recoveries/${made.b.recoveryId}/cancel`, { token: operator, body: { reason: 'false alarm' } });
  if (cancelled.statusCode !== 202) throw new Error(cancelled.body);
  for (const incident of [made.a, made.b, made.e]) await waitClosed(api, incident.id);
});
test.after.always(async () => {
  await api?.close();
  await lifecycle.teardown();
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitClosed(on: ApiHarness, id: string): Promise<Incident> {
  let incident: Incident | undefined;
  await until(async () => {
    incident = (await on.request('GET', `/api/v1/incidents/${id}`, { token: viewer })).json().incident;
    return incident?.status !== 'open';
  }, 20_000);
  return incident!;
}

const errorOf = (res: LightMyRequestResponse) => (res.json() as { error: { code: string; message: string; path?: string } }).error;

async function ids(url: string): Promise<{ items: string[]; nextCursor?: string }> {
  const res = await api.request('GET', url, { token: viewer });
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
  const page = res.json() as { items: { id: string }[]; nextCursor?: string };
  return { items: page.items.map((i) => i.id), ...(page.nextCursor !== undefined ? { nextCursor: page.nextCursor } : {}) };
}

/** Every page of a listing, following nextCursor. */
async function allPages(url: string): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | undefined;
  do {
    const page = await ids(`${url}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    pages.push(page.items);
    cursor = page.nextCursor;
  } while (cursor && pages.length < 20);
  return pages;
}

// --- cancel ---

test('POST /api/v1/recoveries/:id/cancel: a parked notify-only recovery is cancelled; its incident closes cancelled; by the token name', async (t) => {
  const own = await startApi(lifecycle.fixture, { worker: true, config: notifyOnly });
  t.teardown(() => own.close());
  const { incident } = (await own.request('POST', '/api/v1/incidents', { token: operator, body: { kind: 'host-down', host: 'compute-2' } })).json() as { incident: Incident };
  await until(async () => (await own.request('GET', `/api/v1/recoveries/${incident.recoveryId}`, { token: viewer })).json().recovery.status === 'waiting', 10_000);

  const forbidden = await own.request('POST', `/api/v1/recoveries/${incident.recoveryId}/cancel`, { token: viewer, body: {} });
  t.is(forbidden.statusCode, 403);
  const tooLong = await own.request('POST', `/api/v1/recoveries/${incident.recoveryId}/cancel`, { token: operator, body: { reason: 'x'.repeat(1001) } });
  t.is(tooLong.statusCode, 400);
  t.is(errorOf(tooLong).path, 'body.reason');
  const misspelt = await own.request('POST', `/api/v1/recoveries/${incident.recoveryId}/cancel`, { token: operator, body: { reson: 'typo' } });
  t.is(misspelt.statusCode, 400);
  t.is(errorOf(misspelt).path, 'body.reson');

  const cancelled = await own.request('POST', `/api/v1/recoveries/${incident.recoveryId}/cancel`, { token: operator, body: { reason: 'false alarm' } });
  t.is(cancelled.statusCode, 202, cancelled.body);
  t.deepEqual(cancelled.json(), { recoveryId: incident.recoveryId, state: 'cancelling', descendants: [] });
  const closed = await waitClosed(own, incident.id);
  t.is(closed.status, 'cancelled');
  t.is(closed.outcome, 'cancelled');
  const view = (await own.request('GET', `/api/v1/recoveries/${incident.recoveryId}`, { token: viewer })).json() as { recovery: { outcome: string }; audit: Entry[] };
  t.is(view.recovery.outcome, 'cancelled');
  const trail = view.audit.map((e) => e.record.message);
  t.true(trail.some((m) => m === `cancel requested by ${NAMES.operator}: false alarm (was waiting at awaitingDecision)`), trail.join('\n'));
  t.true(trail.includes('awaitingDecision → cancelled'), 'the workflow took the cancel itself');

  const again = await own.request('POST', `/api/v1/recoveries/${incident.recoveryId}/cancel`, { token: operator });
  t.is(again.statusCode, 202, again.body);
  t.deepEqual(again.json(), { recoveryId: incident.recoveryId, state: 'finished', outcome: 'cancelled', descendants: [] }, 'a finished recovery: nothing done');
  const unknown = await own.request('POST', '/api/v1/recoveries/rec-nope-000000/cancel', { token: operator, body: {} });
  t.is(unknown.statusCode, 404);
  t.is(errorOf(unknown).code, 'RSR_RECOVERY_NOT_FOUND');
});

// --- listings ---

test('GET /api/v1/incidents filters by status, host, kind, instance and time, newest first, with cursor paging', async (t) => {
  const { a, b, c, d, e } = made;
  t.deepEqual((await ids('/api/v1/incidents')).items, [e.id, d.id, c.id, b.id, a.id]);
  t.deepEqual((await ids('/api/v1/incidents?status=open')).items, [d.id, c.id]);
  t.deepEqual((await ids('/api/v1/incidents?status=cancelled')).items, [b.id]);
  t.deepEqual(await allPages('/api/v1/incidents?status=resolved&limit=1'), [[e.id], [a.id]], 'one per page, the last without nextCursor');
  t.deepEqual((await ids('/api/v1/incidents?host=compute-1')).items, [e.id, a.id]);
  t.deepEqual(await allPages('/api/v1/incidents?host=compute-1&status=resolved&limit=1'), [[e.id], [a.id]]);
  t.deepEqual((await ids('/api/v1/incidents?host=compute-1&status=open')).items, []);
  t.deepEqual((await ids('/api/v1/incidents?kind=instance-down')).items, [e.id]);
  t.deepEqual((await ids('/api/v1/incidents?instance=vm-a')).items, [e.id]);
  t.deepEqual((await ids('/api/v1/incidents?workflow=notify-only&kind=host-down')).items, [d.id]);
  t.deepEqual(await allPages('/api/v1/incidents?limit=2'), [[e.id, d.id], [c.id, b.id], [a.id]]);
  const opened = (await api.app.engine.incident(c.id)).openedAt;
  t.deepEqual((await ids(`/api/v1/incidents?from=${encodeURIComponent(opened)}&status=open`)).items, [d.id, c.id]);
  t.deepEqual((await ids(`/api/v1/incidents?to=${Date.parse(opened)}`)).items, [c.id, b.id, a.id], 'epoch milliseconds too');
  t.deepEqual((await ids(`/api/v1/incidents?from=${Date.now() + 3_600_000}`)).items, []);
  const page = (await api.request('GET', '/api/v1/incidents?status=open&limit=1', { token: viewer })).json();
  t.is(page.items[0].status, 'open', 'whole incidents');
  t.is(typeof page.nextCursor, 'string');
});

test('GET /api/v1/recoveries filters by status, outcome, host, instance, root, incident and parent, with cursor paging', async (t) => {
  const { a, b, c, d, e } = made;
  t.deepEqual((await ids('/api/v1/recoveries?status=waiting')).items, [d.recoveryId, c.recoveryId]);
  t.deepEqual((await ids('/api/v1/recoveries?outcome=cancelled')).items, [b.recoveryId]);
  t.deepEqual((await ids('/api/v1/recoveries?outcome=recovered&host=compute-1')).items, [e.recoveryId, a.recoveryId]);
  t.deepEqual((await ids('/api/v1/recoveries?instance=vm-a')).items, [e.recoveryId]);
  t.deepEqual((await ids(`/api/v1/recoveries?incident=${c.id}`)).items, [c.recoveryId]);
  t.deepEqual((await ids('/api/v1/recoveries?root=false')).items, [], 'notify-only has no children');
  t.deepEqual((await ids(`/api/v1/recoveries?parent=${d.recoveryId}`)).items, []);
  t.deepEqual(await allPages('/api/v1/recoveries?root=true&status=done&limit=1'), [[e.recoveryId], [b.recoveryId], [a.recoveryId]]);
  t.deepEqual(await allPages('/api/v1/recoveries?root=true&limit=3'), [[e.recoveryId, d.recoveryId, c.recoveryId], [b.recoveryId, a.recoveryId]]);
  const one = (await api.request('GET', `/api/v1/recoveries?incident=${a.id}`, { token: viewer })).json();
  t.like(one.items[0], { id: a.recoveryId, status: 'done', outcome: 'recovered', workflow: 'notify-only' });
});

const REFUSED: readonly { url: string; path: string }[] = [
  { url: '/api/v1/incidents?status=closed', path: 'query.status' },
  { url: '/api/v1/incidents?kind=host-gone', path: 'query.kind' },
  { url: '/api/v1/incidents?host=compute%201', path: 'query.host' },
  { url: '/api/v1/incidents?from=yesterday', path: 'query.from' },
  { url: '/api/v1/incidents?limit=501', path: 'query.limit' },
  { url: '/api/v1/incidents?cursor=bm90LWEtY3Vyc29y', path: 'query.cursor' },
  { url: '/api/v1/incidents?outcome=recovered', path: 'query.outcome' },
  { url: '/api/v1/recoveries?status=resolved', path: 'query.status' },
  { url: '/api/v1/recoveries?outcome=great', path: 'query.outcome' },
  { url: '/api/v1/recoveries?root=yes', path: 'query.root' },
  { url: '/api/v1/recoveries?parent=rec%20x', path: 'query.parent' },
  { url: '/api/v1/recoveries?to=12:00', path: 'query.to' },
  { url: '/api/v1/recoveries?kind=host-down', path: 'query.kind' },
  { url: '/api/v1/events?types=transition,bogus', path: 'query.types' },
  { url: '/api/v1/events?types=', path: 'query.types' },
  { url: '/api/v1/events?replay=1', path: 'query.replay' },
  { url: '/api/v1/events?incident=inc%0Ax', path: 'query.incident' },
  { url: '/api/v1/events?after=0', path: 'query.after' },
];

for (const c of REFUSED) {
  test(`400 GET ${c.url} → ${c.path}`, async (t) => {
    const res = await api.request('GET', c.url, { token: viewer });
    t.is(res.statusCode, 400, res.body);
    t.is(errorOf(res).code, 'RSR_INPUT_INVALID');
    t.is(errorOf(res).path, c.path, res.body);
  });
}

// --- the event stream ---

interface Frame { id?: string; event?: string; data?: string }

/** The events of a text/event-stream text (comments left out). */
function frames(text: string): Frame[] {
  return text.split('\n\n').filter((block) => block.split('\n').some((line) => line !== '' && !line.startsWith(':'))).map((block) => {
    const frame: Frame = {};
    for (const line of block.split('\n')) {
      const match = /^(id|event|data): (.*)$/.exec(line);
      if (match) frame[match[1] as keyof Frame] = match[2];
    }
    return frame;
  });
}

test('GET /api/v1/events?incident=…&replay=true: the whole trail as id/event/data frames, the same records as the audit trail', async (t) => {
  const trail = (await api.request('GET', `/api/v1/incidents/${made.a.id}`, { token: viewer })).json().audit as Entry[];
  const last = trail.at(-1)!.id;
  const res = await api.request('GET', `/api/v1/events?incident=${made.a.id}&replay=true`, { token: viewer, streamMs: 5_000, until: (text) => text.includes(`id: ${last}\n`) });
  t.is(res.statusCode, 200);
  t.regex(String(res.headers['content-type']), /^text\/event-stream/);
  t.is(res.headers['cache-control'], 'no-cache, no-transform');
  t.truthy(res.headers['x-request-id'], 'the hooks\' headers are sent too');
  t.true(res.body.startsWith(': connected\n\n'));
  const got = frames(res.body);
  t.deepEqual(got.map((f) => f.id), trail.map((e) => e.id), 'the incident trail\'s ids, in order');
  t.deepEqual(got.map((f) => f.event), trail.map((e) => e.record.type));
  t.deepEqual(got.map((f) => JSON.parse(f.data!)), trail.map((e) => e.record));
  t.regex(trail.at(-1)!.record.message, /^incident resolved/);
});

test('GET /api/v1/events with Last-Event-ID: exactly the records after that id; types narrows them', async (t) => {
  const trail = (await api.request('GET', `/api/v1/incidents/${made.b.id}`, { token: viewer })).json().audit as Entry[];
  t.true(trail.length > 4);
  const resumed = await api.request('GET', `/api/v1/events?incident=${made.b.id}`, { token: viewer, headers: { 'last-event-id': trail[2]!.id }, streamMs: 600 });
  t.is(resumed.statusCode, 200, resumed.body);
  t.deepEqual(frames(resumed.body).map((f) => f.id), trail.slice(3).map((e) => e.id), 'nothing before, nothing twice, nothing else');
  // Last-Event-ID wins over replay (a reconnecting client keeps its URL).
  const both = await api.request('GET', `/api/v1/events?incident=${made.b.id}&replay=true`, { token: viewer, headers: { 'Last-Event-ID': trail.at(-2)!.id }, streamMs: 400 });
  t.deepEqual(frames(both.body).map((f) => f.id), [trail.at(-1)!.id]);
  const decisions = await api.request('GET', `/api/v1/events?incident=${made.b.id}&replay=true&types=decision`, { token: viewer, streamMs: 400 });
  const expected = trail.filter((e) => e.record.type === 'decision');
  t.true(expected.length > 0);
  t.deepEqual(frames(decisions.body).map((f) => f.id), expected.map((e) => e.id));
  t.true(frames(decisions.body).every((f) => f.event === 'decision'));
  // A recovery's own trail has its own ids.
  const recoveryTrail = (await api.request('GET', `/api/v1/recoveries/${made.b.recoveryId}`, { token: viewer })).json().audit as Entry[];
  const own = await api.request('GET', `/api/v1/events?recovery=${made.b.recoveryId}&replay=true`, { token: viewer, streamMs: 400 });
  t.deepEqual(frames(own.body).map((f) => f.id), recoveryTrail.map((e) => e.id));
});

test('GET /api/v1/events refuses a Last-Event-ID that is not a stream id (and one past 64 bits) by its header path', async (t) => {
  for (const value of ['yesterday', '1-2-3', '18446744073709551616', '$']) {
    const res = await api.request('GET', '/api/v1/events', { token: viewer, headers: { 'last-event-id': value } });
    t.is(res.statusCode, 400, `${value}: ${res.body}`);
    t.is(errorOf(res).path, 'headers.last-event-id');
  }
  const anonymous = await api.request('GET', '/api/v1/events');
  t.is(anonymous.statusCode, 401);
  t.is(errorOf(anonymous).code, 'RSR_API_UNAUTHENTICATED');
});

test('an idle stream sends a comment heartbeat; a client that leaves frees its feed connection', async (t) => {
  const own = await startApi(lifecycle.fixture, { heartbeatMs: 50 });
  t.teardown(() => own.close());
  const name = `${own.app.container.get<Keys>(DI.keys).prefix}:event-feed`;
  const feeds = async () => (await own.app.redis.client('LIST') as string).split('\n').filter((line) => line.includes(` name=${name} `)).length;
  const pending = own.request('GET', '/api/v1/events?recovery=rec-idle-000000', { token: viewer, streamMs: 800 });
  await until(async () => (await feeds()) === 1, 5_000);
  const res = await pending;
  t.is(res.statusCode, 200);
  t.true(res.body.split(': heartbeat\n\n').length - 1 >= 5, res.body);
  t.deepEqual(frames(res.body), []);
  await until(async () => (await feeds()) === 0, 2_000);
});

test('closing the server ends its open streams at once (close does not wait for the clients)', async (t) => {
  const own = await startApi(lifecycle.fixture);
  t.teardown(() => own.app.close());
  const name = `${own.app.container.get<Keys>(DI.keys).prefix}:event-feed`;
  const feeds = async () => (await own.app.redis.client('LIST') as string).split('\n').filter((line) => line.includes(` name=${name} `)).length;
  const pending = own.request('GET', '/api/v1/events', { token: viewer, streamMs: 30_000 });
  await until(async () => (await feeds()) === 1, 5_000);
  const started = Date.now();
  await own.server.close();
  const res = await pending;
  t.true(Date.now() - started < 2_000, `closed after ${Date.now() - started} ms`);
  t.is(res.statusCode, 200);
  await until(async () => (await feeds()) === 0, 2_000);
});

test('HEAD /api/v1/events answers the stream\'s headers and ends (no stream held open)', async (t) => {
  const res = await api.server.inject({ method: 'HEAD', url: '/api/v1/events', headers: { authorization: `Bearer ${viewer}` } });
  t.is(res.statusCode, 200);
  t.regex(String(res.headers['content-type']), /^text\/event-stream/);
  t.is(res.body, '');
});
