import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { LightMyRequestResponse } from 'fastify';
import { createRedisFixture } from '../../helpers/redis';
import { until } from '../../helpers/wait';
import type { ApiHarness } from './harness';
import { NAMES, snapshotKeys, startApi, TOKENS } from './harness';
import { smallWorld } from '../../helpers/engine';

// One hook sets Redis up, then the apps: ava runs separate `before` hooks concurrently.
const lifecycle = createRedisFixture();
const redis = lifecycle.fixture;
const { viewer, operator, admin } = TOKENS;

const POLICY = (sla: string) => `version: 1\nrules:\n  - name: default\n    default: true\n    sla: ${sla}\n    workflow: fence-then-evacuate\n`;

/** The recovering app: a worker, notify-only for host-degraded, a plugin directory with a broken file. */
let live: ApiHarness;
/** No worker, no policy: refusals and limits. */
let idle: ApiHarness;
const pluginDir = mkdtempSync(join(tmpdir(), 'rsr-api-plugins-'));

test.before(async () => {
  await lifecycle.setup();
  writeFileSync(join(pluginDir, 'broken.yaml'), 'name: Not-Kebab\nstates: 12\n');
  [live, idle] = await Promise.all([
    startApi(redis, {
      worker: true,
      config: {
        workflows: { 'host-down': 'fence-then-evacuate', 'service-down': 'live-migrate-first', 'instance-down': 'restart-in-place', 'host-degraded': 'notify-only' },
        plugins: { dirs: [pluginDir] },
      },
    }),
    startApi(redis),
  ]);
});
test.after.always(async () => {
  await Promise.all([live?.close(), idle?.close()]);
  await lifecycle.teardown();
  rmSync(pluginDir, { recursive: true, force: true });
});

function errorOf(res: LightMyRequestResponse): { code: string; message: string; path?: string; paths?: { path: string; message: string }[] } {
  return (res.json() as { error: { code: string; message: string; path?: string } }).error;
}

async function waitClosed(api: ApiHarness, id: string) {
  let incident: { status: string } | undefined;
  await until(async () => {
    incident = (await api.request('GET', `/api/v1/incidents/${id}`, { token: viewer })).json().incident;
    return incident?.status !== 'open';
  }, 20_000);
  return incident!;
}

// --- success of each route ---

test('GET /healthz and /readyz: up; ready once the worker is connected (503 with the reason without one)', async (t) => {
  const health = await live.request('GET', '/healthz');
  t.is(health.statusCode, 200);
  t.is(health.json().status, 'ok');
  await until(async () => (await live.request('GET', '/readyz')).statusCode === 200, 10_000);
  const ready = (await live.request('GET', '/readyz')).json();
  t.true(ready.ready);
  t.deepEqual(ready.checks.map((c: { name: string }) => c.name), ['redis', 'plugins', 'workers']);
  const notReady = await idle.request('GET', '/readyz');
  t.is(notReady.statusCode, 503);
  const workers = notReady.json().checks.find((c: { name: string }) => c.name === 'workers');
  t.false(workers.ok);
  t.regex(workers.detail, /no worker connected/);
});

test('POST /api/v1/incidents: 201 opened, 200 joined; the incident recovers; GET incident and recovery show it, with who reported it', async (t) => {
  const opened = await live.request('POST', '/api/v1/incidents', { token: operator, body: { kind: 'host-down', host: 'compute-1', source: 'nagios' } });
  t.is(opened.statusCode, 201, opened.body);
  const { incident, created } = opened.json();
  t.true(created);
  t.is(incident.event.source, `nagios via api:${NAMES.operator}`);
  const joined = await live.request('POST', '/api/v1/incidents', { token: admin, body: { kind: 'host-down', host: 'compute-1' } });
  t.is(joined.statusCode, 200, joined.body);
  t.false(joined.json().created);
  t.is(joined.json().incident.id, incident.id);

  t.is((await waitClosed(live, incident.id)).status, 'resolved');
  const view = (await live.request('GET', `/api/v1/incidents/${incident.id}`, { token: viewer })).json();
  t.is(view.recovery.id, incident.recoveryId);
  t.is(view.recovery.outcome, 'recovered');
  t.is(view.children.total, 3, 'vm-a, vm-b, vm-c were on compute-1');
  t.is(view.children.items.length, 3);
  const messages: string[] = view.audit.map((e: { record: { message: string } }) => e.record.message);
  t.true(messages.some((m) => m.includes(`source nagios via api:${NAMES.operator}`)), 'the audit trail says who reported it');
  t.true(messages.some((m) => m.includes(`from api:${NAMES.admin}`)), 'and who sent the duplicate');

  const recovery = await live.request('GET', `/api/v1/recoveries/${incident.recoveryId}`, { token: viewer });
  t.is(recovery.statusCode, 200);
  t.is(recovery.json().children.length, 3);
  t.true(recovery.json().audit.length > 0);
});

test('POST /api/v1/recoveries/:id/decision: wakes a notify-only recovery; the audit trail names the token', async (t) => {
  const { incident } = (await live.request('POST', '/api/v1/incidents', { token: operator, body: { kind: 'host-degraded', host: 'compute-3' } })).json();
  await until(async () => (await live.request('GET', `/api/v1/recoveries/${incident.recoveryId}`, { token: viewer })).json().recovery.status === 'waiting', 10_000);
  const decided = await live.request('POST', `/api/v1/recoveries/${incident.recoveryId}/decision`, { token: operator, body: { decision: 'resolve', comment: 'PSU replaced' } });
  t.is(decided.statusCode, 202, decided.body);
  t.deepEqual(decided.json(), { recoveryId: incident.recoveryId, decision: 'resolve', by: NAMES.operator });
  await waitClosed(live, incident.id);
  const audit = (await live.request('GET', `/api/v1/recoveries/${incident.recoveryId}`, { token: viewer })).json().audit;
  t.true(audit.some((e: { record: { message: string } }) => e.record.message === `operator ${NAMES.operator} decided: resolve (PSU replaced)`));
});

test('POST /api/v1/hosts/:host/return: 201, the fenced host comes back (Nova\'s refusals waited out), audited with the token name; 409 when there is nothing to return', async (t) => {
  // Boots take 0.3 s: Nova refuses to lift forced_down while the host boots and its evacuations are still done.
  const api = await startApi(redis, { worker: true, world: smallWorld({ timeScale: 0.001, latency: { completeMs: { hostBoot: 300_000 } } }) });
  t.teardown(() => api.close());
  api.world.failHost('compute-2', 'power');
  const down = (await api.request('POST', '/api/v1/incidents', { token: operator, body: { kind: 'host-down', host: 'compute-2' } })).json().incident;
  t.is((await waitClosed(api, down.id)).status, 'resolved');

  const opened = await api.request('POST', '/api/v1/hosts/compute-2/return', { token: operator, body: { comment: 'PSU replaced' } });
  t.is(opened.statusCode, 201, opened.body);
  const { incident, created } = opened.json();
  t.true(created);
  t.like(incident, { kind: 'host-return', host: 'compute-2', workflow: 'return-to-service', event: { kind: 'host-return', source: `api:${NAMES.operator}`, comment: 'PSU replaced' } });
  const joined = await api.request('POST', '/api/v1/hosts/compute-2/return', { token: admin });
  t.is(joined.statusCode, 200, joined.body);
  t.is(joined.json().incident.id, incident.id);
  t.is((await waitClosed(api, incident.id)).status, 'resolved');
  t.like(api.world.hostState('compute-2'), { power: 'on', service: { forcedDown: false, status: 'enabled', state: 'up' } });
  t.true(api.world.count('setServiceForcedDown', 'compute-2', 'refused') >= 1);

  const view = (await api.request('GET', `/api/v1/incidents/${incident.id}`, { token: viewer })).json();
  t.like(view.recovery, { outcome: 'recovered', params: { requestedBy: NAMES.operator, reenable: true } });
  const messages: string[] = view.audit.map((e: { record: { message: string } }) => e.record.message);
  t.true(messages.some((m) => m.startsWith(`incident opened: host-return compute-2 requested by ${NAMES.operator} (source api:${NAMES.operator})`)), messages.join('\n'));
  t.true(messages.some((m) => m.startsWith('Nova refused to lift forced_down of compute-2 (HTTP 400)')), messages.join('\n'));
  const listed = (await api.request('GET', '/api/v1/incidents?kind=host-return', { token: viewer })).json().items;
  t.deepEqual(listed.map((i: { id: string }) => i.id), [incident.id], 'listed by its kind');

  const again = await api.request('POST', '/api/v1/hosts/compute-2/return', { token: operator, body: {} });
  t.is(again.statusCode, 409, again.body);
  t.is(errorOf(again).code, 'RSR_NOTHING_TO_RETURN');
  const unknown = await api.request('POST', '/api/v1/hosts/compute-9/return', { token: operator });
  t.is(unknown.statusCode, 404, unknown.body);
});

test('POST /api/v1/hosts/:host/return: 409 RSR_SUBJECT_BUSY while the host\'s host-down incident is open; nothing opened', async (t) => {
  const api = await startApi(redis);
  t.teardown(() => api.close());
  api.world.failHost('compute-1', 'power');
  await api.world.nova.setServiceForcedDown('compute-1', true);
  // No worker in this app: the host-down incident stays open, as while its fence and evacuations run.
  const down = (await api.request('POST', '/api/v1/incidents', { token: operator, body: { kind: 'host-down', host: 'compute-1' } })).json().incident;
  const busy = await api.request('POST', '/api/v1/hosts/compute-1/return', { token: operator, body: { reenable: false } });
  t.is(busy.statusCode, 409, busy.body);
  t.is(errorOf(busy).code, 'RSR_SUBJECT_BUSY');
  t.true(errorOf(busy).message.includes(`incident ${down.id} (host-down, fence-then-evacuate) is open`), busy.body);
  t.deepEqual((await api.request('GET', '/api/v1/incidents?kind=host-return', { token: viewer })).json().items, []);
  t.is(api.world.count('bmc.on'), 0);
});

test('GET /api/v1/incidents: pages of `limit`, newest first, with an opaque cursor', async (t) => {
  const api = await startApi(redis);
  t.teardown(() => api.close());
  const ids: string[] = [];
  for (const host of ['compute-1', 'compute-2', 'compute-3']) {
    ids.push((await api.request('POST', '/api/v1/incidents', { token: operator, body: { kind: 'host-degraded', host } })).json().incident.id);
  }
  const first = await api.request('GET', '/api/v1/incidents?limit=2', { token: viewer });
  t.is(first.statusCode, 200, first.body);
  t.deepEqual(first.json().items.map((i: { id: string }) => i.id), [ids[2], ids[1]]);
  const cursor = first.json().nextCursor as string;
  t.is(typeof cursor, 'string');
  const second = (await api.request('GET', `/api/v1/incidents?limit=2&cursor=${encodeURIComponent(cursor)}`, { token: viewer })).json();
  t.deepEqual(second.items.map((i: { id: string }) => i.id), [ids[0]]);
  t.false('nextCursor' in second, 'no nextCursor on the last page');
});

test('breaker: GET status, POST approve and close an open breaker, by the token name', async (t) => {
  const api = await startApi(redis, { config: { breaker: { enabled: true, scope: 'zone', windowSeconds: 600, maxHosts: 1, maxShare: 0, minScopeHosts: 1 } } });
  t.teardown(() => api.close());
  for (const host of ['compute-1', 'compute-2']) {
    t.is((await api.request('POST', '/api/v1/incidents', { token: operator, body: { kind: 'host-down', host } })).statusCode, 201);
  }
  const status = await api.request('GET', '/api/v1/breaker', { token: viewer });
  t.is(status.statusCode, 200, status.body);
  const zone = status.json().scopes.find((s: { scope: string }) => s.scope === 'az-1');
  t.true(zone.open);
  t.deepEqual(zone.heldHosts, ['compute-1', 'compute-2']);

  const approved = await api.request('POST', '/api/v1/breaker/az-1/approve', { token: operator, body: { hosts: ['compute-2'], comment: 'checked the rack' } });
  t.is(approved.statusCode, 200, approved.body);
  t.deepEqual(approved.json().approved, ['compute-2']);
  const notHeld = await api.request('POST', '/api/v1/breaker/az-1/approve', { token: operator, body: { hosts: ['compute-4'] } });
  t.is(notHeld.statusCode, 400);
  t.is(errorOf(notHeld).path, 'body.hosts');
  const closed = await api.request('POST', '/api/v1/breaker/az-1/close', { token: operator });
  t.is(closed.statusCode, 200, closed.body);
  t.true(closed.json().wasOpen);
  const trail = (await api.app.engine.audit('breaker:az-1')).map((e) => e.record.message);
  t.true(trail.some((m) => m.includes(`${NAMES.operator} approved compute-2 (checked the rack)`)), trail.join('\n'));
  t.true(trail.some((m) => m.includes(`closed by ${NAMES.operator}`)));
  const unknown = await api.request('POST', '/api/v1/breaker/az-9/close', { token: operator, body: {} });
  t.is(unknown.statusCode, 400);
  t.is(errorOf(unknown).path, 'params.scope');
});

test('GET /api/v1/workflows, /slas and /plugins/errors: what the loader registered and refused', async (t) => {
  const workflows = (await live.request('GET', '/api/v1/workflows', { token: viewer })).json().items;
  const fence = workflows.find((w: { name: string }) => w.name === 'fence-then-evacuate');
  t.deepEqual(fence.handles, ['host-down']);
  t.regex(fence.source, /fence-then-evacuate/);
  t.truthy(fence.machine.states.fencing, 'the statechart as JSON');
  const slas = (await live.request('GET', '/api/v1/slas', { token: viewer })).json().items;
  t.true(slas.some((s: { name: string; deadlineSeconds: number }) => s.name === 'gold' && s.deadlineSeconds > 0));
  const errors = await live.request('GET', '/api/v1/plugins/errors', { token: admin });
  t.is(errors.statusCode, 200);
  t.true(errors.json().items.some((e: { file: string; code: string }) => e.file.endsWith('broken.yaml') && e.code === 'RSR_PLUGIN_LOAD'), errors.body);
});

test('GET /api/v1/policy and POST /policy/reload: the document, a reload, a refused file with paths, no file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rsr-api-policy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, POLICY('silver'));
  const api = await startApi(redis, { config: { policy: { file } } });
  t.teardown(() => api.close());
  const policy = (await api.request('GET', '/api/v1/policy', { token: viewer })).json();
  t.true(policy.configured);
  t.is(policy.file, file);
  t.is(policy.document.rules[0].sla, 'silver');
  const same = await api.request('POST', '/api/v1/policy/reload', { token: admin });
  t.is(same.statusCode, 200, same.body);
  t.false(same.json().changed);
  writeFileSync(file, POLICY('gold'));
  const changed = (await api.request('POST', '/api/v1/policy/reload', { token: admin })).json();
  t.true(changed.changed);
  t.is(changed.previous, policy.version);
  writeFileSync(file, `${POLICY('gold')}    extra: 1\n`);
  const refused = await api.request('POST', '/api/v1/policy/reload', { token: admin });
  t.is(refused.statusCode, 400, refused.body);
  t.is(errorOf(refused).code, 'RSR_CONFIG_INVALID');
  t.is(errorOf(refused).path, 'rules[0].extra');
  t.is((await api.request('GET', '/api/v1/policy', { token: viewer })).json().version, changed.version, 'the running policy stays');
  const trail = (await api.app.engine.audit('policy')).map((e) => e.record.message);
  t.true(trail.some((m) => m.startsWith(`policy reloaded by ${NAMES.admin}: now ${changed.version}`)), trail.join('\n'));
  t.true(trail.some((m) => m.startsWith(`policy reload by ${NAMES.admin} refused`)));
  rmSync(file);
  t.is((await api.request('POST', '/api/v1/policy/reload', { token: admin })).statusCode, 409);
  const none = await idle.request('POST', '/api/v1/policy/reload', { token: admin });
  t.is(none.statusCode, 409);
  t.is(errorOf(none).code, 'RSR_API_CONFLICT');
  t.false((await idle.request('GET', '/api/v1/policy', { token: viewer })).json().configured);
});

test('POST /api/v1/plans: a dry run that writes nothing; unknown hosts by path', async (t) => {
  const plan = await idle.request('POST', '/api/v1/plans', { token: viewer, body: { failedHosts: ['compute-1'] } });
  t.is(plan.statusCode, 200, plan.body);
  t.is(plan.json().entries.length, 3);
  t.deepEqual(plan.json().failedHosts, ['compute-1']);
  const unknown = await idle.request('POST', '/api/v1/plans', { token: viewer, body: { failedHosts: ['compute-1', 'compute-9'] } });
  t.is(unknown.statusCode, 400);
  t.is(errorOf(unknown).path, 'body.failedHosts[1]');
  t.regex(errorOf(unknown).message, /unknown host "compute-9"/);
});

test('GET /metrics (viewer): Prometheus text; GET /openapi.json: the document', async (t) => {
  const metrics = await live.request('GET', '/metrics', { token: viewer });
  t.is(metrics.statusCode, 200);
  t.regex(String(metrics.headers['content-type']), /^text\/plain/);
  const doc = await live.request('GET', '/openapi.json');
  t.is(doc.statusCode, 200);
  t.is(doc.json().openapi, '3.0.3');
});

// --- malformed input: 400 with the exact field path ---

const MALFORMED: readonly { what: string; method: string; url: string; token: string; body?: unknown; path: string; message?: RegExp }[] = [
  { what: 'missing field', method: 'POST', url: '/api/v1/incidents', token: operator, body: { kind: 'host-down' }, path: 'body.host', message: /expected HostName, got undefined/ },
  { what: 'unknown enum value', method: 'POST', url: '/api/v1/incidents', token: operator, body: { kind: 'host-gone', host: 'compute-1' }, path: 'body.kind', message: /expected FailureKind/ },
  { what: 'a rule across fields', method: 'POST', url: '/api/v1/incidents', token: operator, body: { kind: 'instance-down', host: 'compute-1' }, path: 'body', message: /instance is required for instance-down/ },
  { what: 'bad host name', method: 'POST', url: '/api/v1/incidents', token: operator, body: { kind: 'host-down', host: 'compute 1; rm -rf' }, path: 'body.host' },
  { what: 'unknown key', method: 'POST', url: '/api/v1/incidents', token: operator, body: { kind: 'host-down', host: 'compute-1', hots: 'x' }, path: 'body.hots', message: /unknown key/ },
  { what: 'nested wrong type', method: 'POST', url: '/api/v1/incidents', token: operator, body: { kind: 'host-down', host: 'compute-1', details: { rack: 7 } }, path: 'body.details.rack' },
  { what: 'not an object', method: 'POST', url: '/api/v1/incidents', token: operator, body: ['host-down'], path: 'body' },
  { what: 'bad decision', method: 'POST', url: '/api/v1/recoveries/rec-x/decision', token: operator, body: { decision: 'maybe' }, path: 'body.decision' },
  { what: 'comment not a string', method: 'POST', url: '/api/v1/recoveries/rec-x/decision', token: operator, body: { decision: 'approve', comment: 5 }, path: 'body.comment' },
  { what: 'bad id in the path', method: 'GET', url: '/api/v1/recoveries/rec%20x', token: viewer, path: 'params.id', message: /expected ResourceId/ },
  { what: 'id too long', method: 'GET', url: `/api/v1/incidents/${'a'.repeat(200)}`, token: viewer, path: 'params.id' },
  { what: 'host list item', method: 'POST', url: '/api/v1/breaker/az-1/approve', token: operator, body: { hosts: ['compute-1', 7] }, path: 'body.hosts[1]' },
  { what: 'plan: not a list', method: 'POST', url: '/api/v1/plans', token: viewer, body: { failedHosts: 'compute-1' }, path: 'body.failedHosts' },
  { what: 'plan: kind not planned', method: 'POST', url: '/api/v1/plans', token: viewer, body: { failedHosts: ['compute-1'], kind: 'instance-down' }, path: 'body.kind' },
  { what: 'query: not a number', method: 'GET', url: '/api/v1/incidents?limit=ten', token: viewer, path: 'query.limit', message: /whole number from 1 to 500/ },
  { what: 'query: out of range', method: 'GET', url: '/api/v1/incidents?limit=0', token: viewer, path: 'query.limit' },
  { what: 'query: forged cursor', method: 'GET', url: '/api/v1/incidents?cursor=b2Zmc2V0', token: viewer, path: 'query.cursor' },
  { what: 'query: unknown parameter', method: 'GET', url: '/api/v1/incidents?limt=5', token: viewer, path: 'query.limt', message: /unknown key/ },
  { what: 'query on a route that takes none', method: 'GET', url: '/api/v1/breaker?verbose=1', token: viewer, path: 'query.verbose' },
  { what: 'body on a route that takes none', method: 'POST', url: '/api/v1/policy/reload', token: admin, body: { file: '/etc/passwd' }, path: 'body.file' },
  { what: 'return: bad host in the path', method: 'POST', url: '/api/v1/hosts/compute%201%3B%20rm/return', token: operator, body: {}, path: 'params.host', message: /expected HostName/ },
  { what: 'return: reenable not a boolean', method: 'POST', url: '/api/v1/hosts/compute-1/return', token: operator, body: { reenable: 'no' }, path: 'body.reenable' },
  { what: 'return: misspelt key', method: 'POST', url: '/api/v1/hosts/compute-1/return', token: operator, body: { renable: false }, path: 'body.renable', message: /unknown key/ },
  { what: 'return: comment too long', method: 'POST', url: '/api/v1/hosts/compute-1/return', token: operator, body: { comment: 'x'.repeat(1001) }, path: 'body.comment' },
];

for (const c of MALFORMED) {
  test(`400 ${c.method} ${c.url.slice(0, 60)}: ${c.what} → path ${c.path}`, async (t) => {
    const before = await snapshotKeys(idle.app, idle.prefix);
    const res = await idle.request(c.method, c.url, { token: c.token, ...(c.body !== undefined ? { body: c.body } : {}) });
    t.is(res.statusCode, 400, res.body);
    const error = errorOf(res);
    t.is(error.code, 'RSR_INPUT_INVALID');
    t.is(error.path, c.path, res.body);
    if (c.message) t.regex(error.message, c.message);
    t.deepEqual(await snapshotKeys(idle.app, idle.prefix), before, 'nothing was written');
  });
}

test('400 for a body that is not JSON; 415 for one that is not application/json; an empty JSON body is no body', async (t) => {
  const syntax = await idle.request('POST', '/api/v1/incidents', { token: operator, raw: '{"kind": "host-down",' });
  t.is(syntax.statusCode, 400);
  t.deepEqual(errorOf(syntax), { code: 'RSR_INPUT_INVALID', message: 'request body is not valid JSON' });
  const poisoned = await idle.request('POST', '/api/v1/incidents', { token: operator, raw: '{"kind":"host-down","host":"compute-1","__proto__":{"x":1}}' });
  t.is(poisoned.statusCode, 400);
  const text = await idle.request('POST', '/api/v1/incidents', { token: operator, raw: 'kind=host-down', headers: { 'content-type': 'text/plain' } });
  t.is(text.statusCode, 415);
  t.is(errorOf(text).code, 'RSR_API_UNSUPPORTED_MEDIA_TYPE');
  const empty = await idle.request('POST', '/api/v1/incidents', { token: operator, raw: '' });
  t.is(empty.statusCode, 400);
  t.is(errorOf(empty).path, 'body.kind', 'no body: the missing fields are named');
});

test('404 for an unknown route, and for an unknown resource (its own code)', async (t) => {
  const route = await idle.request('GET', '/api/v2/incidents');
  t.is(route.statusCode, 404);
  t.deepEqual(errorOf(route), { code: 'RSR_API_NOT_FOUND', message: 'no route GET /api/v2/incidents' });
  const method = await idle.request('DELETE', '/api/v1/incidents', { token: admin });
  t.is(method.statusCode, 404);
  const incident = await idle.request('GET', '/api/v1/incidents/inc-nope-000000', { token: viewer });
  t.is(incident.statusCode, 404);
  t.is(errorOf(incident).code, 'RSR_INCIDENT_NOT_FOUND');
  const recovery = await idle.request('POST', '/api/v1/recoveries/rec-nope-000000/decision', { token: operator, body: { decision: 'approve' } });
  t.is(recovery.statusCode, 404);
  t.is(errorOf(recovery).code, 'RSR_RECOVERY_NOT_FOUND');
});

test('413 for a body over api.bodyLimitBytes, 429 past api.rateLimit.max per token (others unaffected)', async (t) => {
  const api = await startApi(redis, { api: { bodyLimitBytes: 2048, rateLimit: { max: 5, windowMs: 60_000 } } });
  t.teardown(() => api.close());
  const big = await api.request('POST', '/api/v1/plans', { token: viewer, body: { failedHosts: Array.from({ length: 400 }, (_, i) => `compute-${i}`) } });
  t.is(big.statusCode, 413);
  t.is(errorOf(big).code, 'RSR_API_BODY_TOO_LARGE');
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await api.request('GET', '/api/v1/breaker', { token: operator })).statusCode);
  t.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
  const limited = await api.request('GET', '/api/v1/breaker', { token: operator });
  t.is(errorOf(limited).code, 'RSR_API_RATE_LIMITED');
  t.truthy(limited.headers['retry-after']);
  t.is((await api.request('GET', '/api/v1/breaker', { token: admin })).statusCode, 200, 'another token has its own budget');
  t.is((await api.request('GET', '/healthz')).statusCode, 200, 'probes are not limited');
});
