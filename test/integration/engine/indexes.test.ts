import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { TOKENS } from '../../../src/container';
import type { Recovery } from '../../../src/domain';
import { isoNow } from '../../../src/domain';
import { RECOVERY_STATUSES } from '../../../src/engine/indexes';
import type { Keys } from '../../../src/engine/keys';
import { RecoveryStore } from '../../../src/engine/recovery-store';
import { useRedis } from '../../helpers/redis';
import { startEngine } from '../../helpers/engine';
import type { EngineHarness } from '../../helpers/engine';

const redis = useRedis(test);

const POLICY = `
version: 1
rules:
  - name: drains-wait-for-a-human
    match: { events: [service-down, host-degraded] }
    sla: gold
    workflow: notify-only
  - name: default
    default: true
    sla: silver
    workflow: fence-then-evacuate
`;

function policyFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'rsr-policy-')), 'policy.yaml');
  writeFileSync(file, text);
  return file;
}

const ids = <T extends { id: string }>(rows: readonly T[]) => rows.map((r) => r.id);

/** Every page of a listing, following the cursors. */
async function allPages<T extends { id: string }>(list: (cursor?: string) => Promise<{ items: T[]; nextCursor?: string }>): Promise<{ ids: string[]; pages: number }> {
  const out: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await list(cursor);
    out.push(...ids(page.items));
    cursor = page.nextCursor;
    pages++;
  } while (cursor && pages < 10_000);
  return { ids: out, pages };
}

/** A recovery written straight to the store (no job): for paging tests that need many rows and chosen times. */
function fakeRecovery(id: string, at: number, extra: Partial<Recovery> = {}): Recovery {
  return {
    id, incidentId: 'inc-fake', workflow: 'notify-only', subject: { host: 'paging-host' as Recovery['subject']['host'] }, status: 'queued',
    createdAt: isoNow(at), updatedAt: isoNow(at), attempts: 0 as Recovery['attempts'], params: {}, ...extra,
  };
}

async function writeFakes(h: EngineHarness, rows: readonly Recovery[]): Promise<void> {
  const store = h.app.container.get(RecoveryStore);
  for (let i = 0; i < rows.length; i += 500) {
    const multi = h.app.redis.multi();
    for (const r of rows.slice(i, i + 500)) store.create(multi, r, Date.parse(r.createdAt));
    await multi.exec();
  }
}

/** Newest first, ties by id descending: the order every listing promises. */
const newestFirst = (rows: readonly Recovery[]) => [...rows].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)).map((r) => r.id);

test('incidents and recoveries filter by status, host, instance, kind, workflow and SLA; several filters intersect', async (t) => {
  const h = await startEngine(redis, { worker: false, config: { policy: { file: policyFile(POLICY) } } });
  t.teardown(() => h.close());
  const e = h.app.engine;
  const a = (await e.report({ kind: 'host-down', host: 'compute-1' })).incident;
  const b = (await e.report({ kind: 'service-down', host: 'compute-2' })).incident;
  const c = (await e.report({ kind: 'host-degraded', host: 'compute-1' })).incident;
  const d = (await e.report({ kind: 'instance-down', host: 'compute-2', instance: 'vm-d' })).incident;

  t.deepEqual(ids((await e.listIncidents()).items), [d.id, c.id, b.id, a.id], 'newest first');
  t.deepEqual(ids((await e.listIncidents({ host: 'compute-1' })).items), [c.id, a.id]);
  t.deepEqual(ids((await e.listIncidents({ kind: 'service-down' })).items), [b.id]);
  t.deepEqual(ids((await e.listIncidents({ workflow: 'notify-only' })).items), [c.id, b.id]);
  t.deepEqual(ids((await e.listIncidents({ sla: 'gold' })).items), [c.id, b.id]);
  t.deepEqual(ids((await e.listIncidents({ sla: 'gold', host: 'compute-1' })).items), [c.id], 'two filters intersect');
  t.deepEqual(ids((await e.listIncidents({ sla: 'silver', host: 'compute-2', status: 'open' })).items), [d.id], 'three filters intersect');
  t.deepEqual(ids((await e.listIncidents({ instance: 'vm-d' })).items), [d.id]);
  t.deepEqual(ids((await e.listIncidents({ status: 'resolved' })).items), []);
  t.deepEqual(ids((await e.listIncidents({ host: 'compute-9' })).items), [], 'an unknown value is an empty answer');

  t.deepEqual(ids((await e.listRecoveries({ status: 'queued', root: true })).items), [d.recoveryId, c.recoveryId, b.recoveryId, a.recoveryId]);
  t.deepEqual(ids((await e.listRecoveries({ workflow: 'notify-only', host: 'compute-2' })).items), [b.recoveryId]);
  t.deepEqual(ids((await e.listRecoveries({ incident: a.id })).items), [a.recoveryId]);
  t.deepEqual(ids((await e.listRecoveries({ root: false })).items), [], 'no children yet');

  // Time ranges, inclusive, on the time the incident opened; ISO or epoch ms.
  const opened = [a, b, c, d].map((i) => ({ id: i.id, at: Date.parse(i.openedAt) }));
  const expect = (from: number, to: number) => opened.filter((o) => o.at >= from && o.at <= to).map((o) => o.id).reverse();
  t.deepEqual(ids((await e.listIncidents({ from: b.openedAt, to: Date.parse(c.openedAt) })).items), expect(Date.parse(b.openedAt), Date.parse(c.openedAt)));
  t.deepEqual(ids((await e.listIncidents({ from: String(Date.parse(c.openedAt)) })).items), expect(Date.parse(c.openedAt), Infinity));

  // Filters are checked.
  await t.throwsAsync(e.listIncidents({ status: 'closed' as never }), { code: 'RSR_INPUT_INVALID' });
  await t.throwsAsync(e.listRecoveries({ outcome: 'fine' as never }), { code: 'RSR_INPUT_INVALID' });
  await t.throwsAsync(e.listIncidents({ limit: 501 }), { code: 'RSR_INPUT_INVALID' });
  await t.throwsAsync(e.listIncidents({ from: 'yesterday' }), { code: 'RSR_INPUT_INVALID' });
  await t.throwsAsync(e.listIncidents({ cursor: 'bm90IGEgY3Vyc29y' }), { code: 'RSR_INPUT_INVALID' });
});

test('status, outcome and parent indexes follow a recovery through its run; an incident moves to its closing status', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  const e = h.app.engine;
  h.world.failHost('compute-1', 'power');
  h.world.injectFault({ kind: 'image-gone', image: 'img-cirros' });
  const { incident } = await e.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'partial');
  t.deepEqual(ids((await e.listIncidents({ status: 'open' })).items), []);
  t.deepEqual(ids((await e.listIncidents({ status: 'escalated' })).items), [incident.id]);
  const children = await e.children(incident.recoveryId);
  t.is(children.length, 3);
  const listed = (await e.listRecoveries({ parent: incident.recoveryId, limit: 10 })).items;
  t.deepEqual(ids(listed).sort(), ids(children).sort());
  t.deepEqual(ids((await e.listRecoveries({ parent: incident.recoveryId, outcome: 'failed' })).items), children.filter((c) => c.outcome === 'failed').map((c) => c.id));
  t.deepEqual(ids((await e.listRecoveries({ instance: 'vm-b', outcome: 'failed', status: 'done' })).items), children.filter((c) => c.subject.instance === 'vm-b').map((c) => c.id));
  t.is((await e.listRecoveries({ status: 'done', incident: incident.id })).items.length, 4);
  for (const status of ['queued', 'running', 'waiting', 'retrying'] as const) t.deepEqual((await e.listRecoveries({ status, incident: incident.id })).items, [], status);
  t.deepEqual(ids((await e.listRecoveries({ outcome: 'partial' })).items), [incident.recoveryId]);
});

test('a recovery is in exactly one status set at every moment, the one its record says', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  const keys = h.app.container.get<Keys>(TOKENS.keys);
  // One atomic read of every recovery's status sets and status field.
  const check = `
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local n, inStatus = 0, nil
  for _, s in ipairs(cjson.decode(ARGV[2])) do
    if redis.call('ZSCORE', ARGV[1] .. s, id) then n = n + 1; inStatus = s end
  end
  local status = redis.call('HGET', ARGV[3] .. id, 'status')
  if n ~= 1 or inStatus ~= status then table.insert(out, id .. ' in ' .. n .. ' sets (' .. tostring(inStatus) .. '), status ' .. tostring(status)) end
end
return out`;
  const violations: string[] = [];
  let samples = 0;
  let done = false;
  const sampler = (async () => {
    while (!done) {
      const found = (await h.app.redis.eval(check, 1, keys.recoveryIndex(), keys.recoveriesBy('status', ''), JSON.stringify(RECOVERY_STATUSES), keys.recovery(''))) as string[];
      violations.push(...found);
      samples++;
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  h.world.failHost('compute-1', 'power');
  h.world.injectFault({ kind: 'evacuate-fails', instance: 'vm-a', times: 2 });
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  await h.waitClosed(incident.id);
  done = true;
  await sampler;
  t.true(samples > 20, `sampled ${samples} times`);
  t.deepEqual(violations, []);
});

test('cursor paging: newest first, ties broken by id, no duplicate and no gap while new recoveries are inserted', async (t) => {
  const h = await startEngine(redis, { worker: false });
  t.teardown(() => h.close());
  const base = Date.UTC(2026, 0, 1);
  // 130 recoveries, ten per millisecond: the cursor must carry the id to split a tie.
  // Punctuation in the ids: ties are split in byte order (Redis's), whatever the server's locale.
  const suffixes = ['.vm-a', '_vm-b', '-vm_c', '.VM-d', 'vm.e'];
  const initial = Array.from({ length: 130 }, (_, i) => fakeRecovery(`rec-page${i % 2 ? '-' : '_'}${String(i % 13).padStart(2, '0')}${suffixes[i % 5]}-${i}`, base + Math.floor(i / 10), {
    workflow: i % 3 === 0 ? 'restart-in-place' : 'notify-only',
  }));
  await writeFakes(h, initial);
  const before = Date.now();
  let inserting = true;
  let inserted = 0;
  const writer = (async () => {
    while (inserting) {
      await writeFakes(h, [fakeRecovery(`rec-late-${inserted}`, Math.max(Date.now(), before + 1), { workflow: inserted % 2 ? 'restart-in-place' : 'notify-only' })]);
      inserted++;
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  const all = await allPages((cursor) => h.app.engine.listRecoveries({ host: 'paging-host', to: before, limit: 7, ...(cursor ? { cursor } : {}) }));
  const intersection = await allPages((cursor) => h.app.engine.listRecoveries({ host: 'paging-host', workflow: 'restart-in-place', to: before, limit: 4, ...(cursor ? { cursor } : {}) }));
  // Without `to`, the first page starts at the newest (late ones included); the pages after it never repeat.
  const live = await allPages((cursor) => h.app.engine.listRecoveries({ host: 'paging-host', limit: 9, ...(cursor ? { cursor } : {}) }));
  inserting = false;
  await writer;
  t.true(inserted > 5, `${inserted} inserted meanwhile`);
  t.deepEqual(all.ids, newestFirst(initial));
  t.is(all.pages, Math.ceil(130 / 7));
  t.deepEqual(intersection.ids, newestFirst(initial.filter((r) => r.workflow === 'restart-in-place')));
  t.is(new Set(live.ids).size, live.ids.length, 'no duplicates');
  t.deepEqual(live.ids.filter((id) => id.startsWith('rec-page')), newestFirst(initial), 'every row there at the start, in order');
  // A time range on the creation time, both ends inclusive.
  const range = await h.app.engine.listRecoveries({ host: 'paging-host', from: base + 3, to: isoNow(base + 5), limit: 500 });
  t.deepEqual(ids(range.items), newestFirst(initial.filter((r) => Date.parse(r.createdAt) >= base + 3 && Date.parse(r.createdAt) <= base + 5)));
  t.is(range.nextCursor, undefined);
});

test('a sparse intersection over a large set pages in bounded steps and still finds every match', async (t) => {
  const h = await startEngine(redis, { worker: false });
  t.teardown(() => h.close());
  const base = Date.UTC(2026, 1, 1);
  // 6 000 on one host, all queued-looking; only three (the oldest) under workflow `sparse-wf`. Both sets are
  // large, so the walk exceeds one page's budget before it reaches them.
  const rows = Array.from({ length: 6_000 }, (_, i) => fakeRecovery(`rec-big-${String(i).padStart(4, '0')}`, base + i, {
    subject: { host: 'big-host' as Recovery['subject']['host'] },
    workflow: i < 3 ? 'sparse-wf' : 'other-wf',
  }));
  rows.push(...Array.from({ length: 6_000 }, (_, i) => fakeRecovery(`rec-elsewhere-${i}`, base + i, { subject: { host: 'other-host' as Recovery['subject']['host'] }, workflow: 'sparse-wf' })));
  await writeFakes(h, rows);
  const first = await h.app.engine.listRecoveries({ host: 'big-host', workflow: 'sparse-wf', limit: 10 });
  t.deepEqual(first.items, [], 'the first page stops at its budget, empty');
  t.truthy(first.nextCursor);
  const all = await allPages((cursor) => h.app.engine.listRecoveries({ host: 'big-host', workflow: 'sparse-wf', limit: 10, ...(cursor ? { cursor } : {}) }));
  t.deepEqual(all.ids, ['rec-big-0002', 'rec-big-0001', 'rec-big-0000']);
});
