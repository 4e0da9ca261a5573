import test from 'ava';
import { TOKENS } from '../../../src/container';
import type { FeedEvent } from '../../../src/engine/event-feed';
import type { Keys } from '../../../src/engine/keys';
import { useRedis } from '../../helpers/redis';
import { smallWorld, startEngine } from '../../helpers/engine';

const redis = useRedis(test);

/** Collects events until `stop` says so (or the timeout), then aborts the feed. */
async function collect(feed: AsyncIterable<FeedEvent>, controller: AbortController, stop: (events: FeedEvent[]) => boolean, timeoutMs = 15_000): Promise<FeedEvent[]> {
  const events: FeedEvent[] = [];
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    for await (const event of feed) {
      events.push(event);
      if (stop(events)) break;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

test('the live feed delivers a recovery\'s transitions as they happen, in order, filtered by type', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  const controller = new AbortController();
  // Subscribed before anything happens: only what is written from now on.
  const feed = h.app.engine.events({ types: ['transition', 'incident'] }, controller.signal);
  const pending = collect(feed, controller, (events) => events.some((e) => e.record.type === 'incident' && /^incident (resolved|escalated)/.test(e.record.message)));
  await new Promise((resolve) => setTimeout(resolve, 100)); // let the subscription start reading
  h.world.failHost('compute-1', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const events = await pending;
  t.true(events.every((e) => e.record.type === 'transition' || e.record.type === 'incident'));
  t.regex(events[0]?.record.message ?? '', /^incident opened: host-down host:compute-1/);
  const root = events.filter((e) => e.record.recoveryId === incident.recoveryId && e.record.type === 'transition').map((e) => e.record.message);
  const stored = (await h.app.engine.audit(incident.recoveryId)).filter((r) => r.record.type === 'transition').map((r) => r.record.message);
  t.deepEqual(root, stored, 'every transition of the root, in the order written');
  t.is(root[0], '(start) → fencing');
  t.is(root.at(-1), 'summarizing → recovered');
  const ids = events.map((e) => e.id);
  t.deepEqual([...ids].sort(compareIds), ids, 'ids increase');
});

test('a client that reconnects with its Last-Event-ID misses nothing and sees nothing twice', async (t) => {
  // Rebuilds take ~1 s, so the client reconnects while the recovery is still writing.
  const h = await startEngine(redis, { world: smallWorld({ timeScale: 0.001, latency: { completeMs: { evacuate: 1_000_000 } } }) });
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });

  // First connection: the incident's trail from its beginning; it drops after a few events.
  const first = new AbortController();
  const seen = await collect(h.app.engine.events({ incidentId: incident.id, after: '0' }, first.signal), first, (events) => events.length === 5);
  t.is(seen.length, 5);
  t.is((await h.app.engine.incident(incident.id)).status, 'open', 'still being written');
  // Reconnect with the last id seen, while the recovery goes on.
  const second = new AbortController();
  const rest = await collect(
    h.app.engine.events({ incidentId: incident.id, after: seen.at(-1)!.id }, second.signal), second,
    (events) => events.some((e) => /^incident (resolved|escalated)/.test(e.record.message)),
  );
  const all = [...seen, ...rest];
  const stored = await h.app.engine.audit(incident.id);
  t.deepEqual(all.map((e) => e.id), stored.slice(0, all.length).map((r) => r.id), 'the same records, in the same order');
  t.is(new Set(all.map((e) => e.id)).size, all.length, 'nothing twice');
  t.is(all.at(-1)?.record.type, 'incident');
  t.is(all.length, stored.findIndex((r) => /^incident (resolved|escalated)/.test(r.record.message)) + 1, 'up to the incident closing');
});

test('aborting a feed blocked on an idle stream ends it at once and frees its connection', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  const name = `${h.app.container.get<Keys>(TOKENS.keys).prefix}:event-feed`;
  const clients = async () => (await h.app.redis.client('LIST') as string).split('\n').filter((line) => line.includes(` name=${name} `)).length;
  const before = await clients();
  t.is(before, 0);
  const controller = new AbortController();
  const iterator = h.app.engine.events({ recoveryId: 'rec-nothing-here' }, controller.signal);
  const next = iterator.next();
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(await clients(), before + 1, 'one dedicated connection per subscriber');
  const started = Date.now();
  controller.abort();
  const result = await next;
  t.true(result.done);
  t.true(Date.now() - started < 500, `ended after ${Date.now() - started} ms`);
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.is(await clients(), before);
  t.throws(() => h.app.engine.events({ types: ['nonsense' as never] }), { code: 'RSR_INPUT_INVALID' });
  t.throws(() => h.app.engine.events({ after: 'yesterday' }), { code: 'RSR_INPUT_INVALID' });
});

function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am - bm || as - bs;
}
