/**
 * The CLI over the REST API, as an operator uses it: one `resurrect start` process (engine, worker, simulated
 * cloud and the API on a free port, no token configured, so it makes one for the run and writes it to its
 * runtime file), and `resurrect <command>` processes against it, with --url/--token and --json parsed here, or
 * bare as in a second terminal. Exit codes are checked: 0, 2 invalid input, 3 not found, 4 a wrong or missing
 * token, 5 a conflict, 6 nothing listening.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { statSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { AuditRecord, Incident, Recovery } from '../../src/domain';
import { findFreePort } from '../../src/drivers/redis/locate-redis';
import { readRuntimeFile, runtimeFilePath } from '../../src/cli/runtime-file';
import { BIN, runCli } from '../helpers/cli';
import type { CliResult } from '../helpers/cli';
import { useRedis } from '../helpers/redis';
import { until } from '../helpers/wait';

const redis = useRedis(test);

interface Engine {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<number | null>;
  readonly dir: string;
  readonly config: string;
  readonly url: string;
  readonly token: string;
  output: string;
}

let engine: Engine;

/** No ambient API, token, Redis or configuration leaks into a command from the environment running the tests. */
const CLEAN: NodeJS.ProcessEnv = { RESURRECT_URL: '', RESURRECT_TOKEN: '', RESURRECT_API_TOKENS: '', REDIS_URL: '', RESURRECT_CONFIG: '' };

const redisReady = () => {
  try {
    return Boolean(redis.url);
  } catch {
    return false;
  }
};

test.before(async () => {
  // ava runs the before hooks at once: useRedis's has to have found its Redis first.
  await until(redisReady, 30_000);
  const dir = mkdtempSync(join(tmpdir(), 'rsr-cli-api-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, [
    `redis: { prefix: ${redis.newPrefix()} }`,
    'cloud: { sim: { timeScale: 0.01 } }',
    'params: { pollIntervalMs: 50, livenessWaitSeconds: 0.1 }',
    'workflows: { host-degraded: notify-only }',
    'api: { port: 0 }',
    'log: { level: info }',
    '',
  ].join('\n'));
  const env = { ...process.env, ...CLEAN, REDIS_URL: redis.url, RESURRECT_CONFIG: config, RESURRECT_RUNTIME_DIR: dir };
  const child = spawn(process.execPath, [BIN, 'start'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const partial = { child, dir, config, output: '', exited: new Promise<number | null>((done) => child.on('exit', (code) => done(code))) };
  child.stdout.on('data', (c) => { partial.output += String(c); });
  child.stderr.on('data', (c) => { partial.output += String(c); });
  await until(() => readRuntimeFile({ RESURRECT_RUNTIME_DIR: dir })?.apiUrl !== undefined || child.exitCode !== null, 30_000);
  const runtime = readRuntimeFile({ RESURRECT_RUNTIME_DIR: dir });
  if (!runtime?.apiUrl || !runtime.apiToken) throw new Error(`resurrect start wrote no API to its runtime file:\n${partial.output}`);
  engine = Object.assign(partial, { url: runtime.apiUrl, token: runtime.apiToken });
});

test.after.always(async () => {
  if (!engine) return;
  engine.child.kill('SIGTERM');
  const code = await Promise.race([engine.exited, new Promise((done) => setTimeout(() => done('timeout'), 20_000))]);
  if (code !== 0) engine.child.kill('SIGKILL');
});

/** A command with --url/--token (and no runtime file to fall back on); `null`: no token at all. */
const api = (args: readonly string[], token: string | null = engine.token) => runCli(
  ['--url', engine.url, ...(token === null ? [] : ['--token', token]), ...args],
  { ...CLEAN, RESURRECT_RUNTIME_DIR: mkdtempSync(join(tmpdir(), 'rsr-cli-api-empty-')) },
  60_000,
);

/** The --json output of a command that must succeed. */
async function json<T>(args: readonly string[]): Promise<T> {
  const r = await api([...args, '--json']);
  if (r.code !== 0) throw new Error(`resurrect ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** Polls the API directly (fast); the assertions go through the CLI. */
async function get<T>(path: string): Promise<T> {
  const response = await fetch(`${engine.url}${path}`, { headers: { authorization: `Bearer ${engine.token}` } });
  return (await response.json()) as T;
}
const recoveryOf = async (id: string) => (await get<{ recovery: Recovery }>(`/api/v1/recoveries/${id}`)).recovery;
const waiting = (id: string) => until(async () => (await recoveryOf(id)).state === 'awaitingDecision' && (await recoveryOf(id)).status === 'waiting', 30_000);
const finished = (id: string) => until(async () => (await recoveryOf(id)).status === 'done', 30_000);

/** Nothing a command prints may contain the token. */
function noToken(t: { false(value: boolean, message?: string): void }, ...results: CliResult[]): void {
  for (const r of results) t.false(`${r.stdout}${r.stderr}`.includes(engine.token), 'the token is never printed');
}

test.serial('trigger, incidents, show, audit and recoveries over the API, --json parsed', async (t) => {
  const triggered = await json<{ incident: Incident; created: boolean }>(['trigger', 'host-down', 'compute-3', '--source', 'nagios']);
  t.true(triggered.created);
  const id = triggered.incident.id;
  t.is(triggered.incident.workflow, 'fence-then-evacuate');
  t.regex(triggered.incident.event.source ?? '', /^nagios via api:\S+@local$/, 'over the API the source names the token');
  await until(async () => (await get<{ incident: Incident }>(`/api/v1/incidents/${id}`)).incident.status !== 'open', 30_000);

  const listed = await json<{ items: Incident[]; nextCursor?: string }>(['incidents']);
  t.true(listed.items.some((i) => i.id === id));
  const filtered = await json<{ items: Incident[] }>(['incidents', '--status', 'resolved', '--kind', 'host-down', '--host', 'compute-3', '--since', '10m']);
  t.deepEqual(filtered.items.map((i) => i.id), [id]);
  t.deepEqual((await json<{ items: Incident[] }>(['incidents', '--status', 'open', '--host', 'compute-3'])).items, []);
  t.deepEqual((await json<{ items: Incident[] }>(['incidents', '--until', '2000-01-01T00:00:00Z'])).items, []);

  const shown = await json<{ incident: Incident; recovery: Recovery; children: { total: number; byOutcome: Record<string, number> }; audit: { id: string; record: AuditRecord }[] }>(['show', id]);
  t.is(shown.incident.id, id);
  t.is(shown.incident.outcome, 'recovered');
  t.is(shown.recovery.outcome, 'recovered');
  t.true(shown.children.total > 0);
  t.is(shown.children.byOutcome.recovered, shown.children.total);

  const text = await api(['show', id]);
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, new RegExp(`Incident ${id}: host-down of host:compute-3 — resolved \\(recovered\\)`));
  t.regex(text.stdout, /Audit trail: the last 10 of \d+/);

  const trail = await api(['audit', id, '--json']);
  t.is(trail.code, 0, trail.stderr);
  const records = trail.stdout.trim().split('\n').map((line) => JSON.parse(line) as AuditRecord);
  t.is(records.length, shown.audit.length, 'the whole trail');
  t.regex(records[0]!.message, /incident opened: host-down host:compute-3/);
  t.regex(records.at(-1)!.message, /incident resolved/);
  // The incident's trail is in commit order; records of recoveries running side by side may carry clocks read a
  // moment before their neighbours' commits, but each recovery's own records are in time order.
  const ownRecords = (recovery: string | undefined) => records.filter((r) => r.recoveryId === recovery);
  t.true(records.every((r) => ownRecords(r.recoveryId).every((own, i, list) => i === 0 || own.at >= list[i - 1]!.at)), 'each recovery in order');
  const fenced = records.findIndex((r) => /power-off of compute-3 confirmed/.test(r.message));
  const evacuated = records.findIndex((r) => /evacuate \S+ from compute-3/.test(r.message));
  t.true(fenced > 0 && evacuated > fenced, 'fenced before any evacuation');

  // Every page, three at a time: the root and its children, each once.
  const done = await json<{ items: Recovery[]; nextCursor?: string }>(['recoveries', '--status', 'done', '--incident', id, '--all', '--limit', '3']);
  t.is(done.items.length, shown.children.total + 1);
  t.is(new Set(done.items.map((r) => r.id)).size, done.items.length);
  t.true(done.items.every((r) => r.status === 'done' && r.incidentId === id));
  t.is(done.nextCursor, undefined);
  const page = await json<{ items: Recovery[]; nextCursor?: string }>(['recoveries', '--incident', id, '--limit', '2']);
  t.is(page.items.length, 2);
  t.truthy(page.nextCursor, 'one page, with the cursor of the next');
  const roots = await json<{ items: Recovery[] }>(['recoveries', '--incident', id, '--roots']);
  t.deepEqual(roots.items.map((r) => r.id), [triggered.incident.recoveryId]);

  const table = await api(['recoveries', '--incident', id, '--roots']);
  t.regex(table.stdout, new RegExp(`${triggered.incident.recoveryId} .* fence-then-evacuate .* done \\(recovered\\)`));
  noToken(t, text, trail, table);
});

test.serial('approve, deny, cancel and retry notify-only recoveries; what cannot be retried exits 5', async (t) => {
  const held = await json<{ incident: Incident }>(['trigger', 'host-degraded', 'compute-6']);
  const id = held.incident.recoveryId;
  t.is(held.incident.workflow, 'notify-only');
  await waiting(id);

  const cancelled = await json<{ recoveryId: string; state: string }>(['cancel', id, '--reason', 'maintenance window']);
  t.like(cancelled, { recoveryId: id, state: 'cancelling' });
  await finished(id);
  t.is((await recoveryOf(id)).outcome, 'cancelled');
  const again = await api(['cancel', id]);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /had already finished \(cancelled\): nothing to cancel/);

  const retried = await json<{ recoveryId: string; status: string; from: string | null; incidentReopened: boolean }>(['retry', id]);
  t.like(retried, { recoveryId: id, status: 'waiting', from: 'awaitingDecision', incidentReopened: true });
  await waiting(id);

  const denied = await json<{ recoveryId: string; decision: string; by: string }>(['deny', id, '--comment', 'false alarm']);
  t.like(denied, { recoveryId: id, decision: 'deny' });
  t.regex(denied.by, /@local$/);
  await finished(id);
  t.is((await recoveryOf(id)).outcome, 'skipped');

  const notRetryable = await api(['retry', id]);
  t.is(notRetryable.code, 5, notRetryable.stderr);
  t.regex(notRetryable.stderr, /ended skipped: nothing to retry \[RSR_RECOVERY_NOT_RETRYABLE\]/);

  const trail = await api(['audit', id]);
  t.regex(trail.stdout, /cancel requested by \S+@local: maintenance window/);
  t.regex(trail.stdout, /retried by \S+@local from awaitingDecision/);
  t.regex(trail.stdout, /operator \S+@local decided: deny \(false alarm\)/);

  // approve, and `decide` (kept as an alias: without --by it goes over the API too).
  const second = (await json<{ incident: Incident }>(['trigger', 'host-degraded', 'compute-7'])).incident.recoveryId;
  const third = (await json<{ incident: Incident }>(['trigger', 'host-degraded', 'compute-8'])).incident.recoveryId;
  await waiting(second);
  await waiting(third);
  const approved = await api(['approve', second, '--comment', 'rack checked']);
  t.is(approved.code, 0, approved.stderr);
  t.regex(approved.stdout, new RegExp(`approve sent to ${second} \\(by \\S+@local\\)`));
  const decided = await api(['decide', third, 'resolve', '--json']);
  t.is(decided.code, 0, decided.stderr);
  t.like(JSON.parse(decided.stdout), { recoveryId: third, decision: 'resolve' });
  await finished(second);
  await finished(third);
  t.is((await recoveryOf(second)).outcome, 'recovered');
  t.is((await recoveryOf(third)).outcome, 'recovered');
  t.is((await api(['retry', second])).code, 5, 'a recovered recovery has nothing to retry');
  t.regex((await api(['audit', third])).stdout, /operator \S+@local decided: resolve/);
});

test.serial('policy show / validate / reload and workflows', async (t) => {
  const policy = await json<{ configured: boolean; workflows: Record<string, string> }>(['policy', 'show']);
  t.false(policy.configured);
  t.is(policy.workflows['host-degraded'], 'notify-only');
  const human = await api(['policy', 'show']);
  t.regex(human.stdout, /no policy file configured/);
  const reload = await api(['policy', 'reload']);
  t.is(reload.code, 5, 'no policy file to reload: a conflict');
  t.regex(reload.stderr, /no policy file is configured/);

  const dir = mkdtempSync(join(tmpdir(), 'rsr-cli-policy-'));
  writeFileSync(join(dir, 'good.yaml'), 'version: 1\nrules:\n  - name: web\n    match: { vm: { metadata: { tier: web } } }\n    sla: gold\n    workflow: fence-then-evacuate\n  - { name: rest, default: true, sla: silver, workflow: fence-then-evacuate }\n');
  writeFileSync(join(dir, 'bad.yaml'), 'version: 1\nrules:\n  - name: web\n    match: { vm: { flavour: m1.small } }\n    sla: gold\n  - { name: rest, default: true, sla: bronze }\n');
  writeFileSync(join(dir, 'sla.yaml'), 'version: 1\nrules:\n  - { name: rest, default: true, sla: no-such-sla }\n');
  const good = await api(['policy', 'validate', join(dir, 'good.yaml')]);
  t.is(good.code, 0, good.stdout + good.stderr);
  t.regex(good.stdout, /ok\s+\S+good\.yaml: policy [0-9a-f]{12}, 2 rules \(web, rest\)/);
  const bad = await api(['policy', 'validate', join(dir, 'bad.yaml'), '--json']);
  t.is(bad.code, 2);
  const refused = JSON.parse(bad.stdout) as { ok: boolean; errors: { path: string; message: string }[] };
  t.false(refused.ok);
  t.true(refused.errors.some((e) => e.path === 'rules[0].match.vm.flavour'), JSON.stringify(refused.errors));
  const unknownSla = await api(['policy', 'validate', join(dir, 'sla.yaml')]);
  t.is(unknownSla.code, 2);
  t.regex(unknownSla.stdout, /refused\s+\S+sla\.yaml:\n\s+rules\[0\]\S*: .*no-such-sla/);
  t.is((await api(['policy', 'validate', join(dir, 'missing.yaml')])).code, 2);

  const workflows = await json<{ items: { name: string; handles: string[]; source: string | null; machine: { states?: Record<string, unknown> } }[] }>(['workflows']);
  const names = workflows.items.map((w) => w.name);
  for (const name of ['fence-then-evacuate', 'notify-only', 'restart-in-place', 'live-migrate-first']) t.true(names.includes(name), name);
  t.truthy(workflows.items.find((w) => w.name === 'notify-only')?.machine.states?.awaitingDecision, 'the statechart is included');
  const table = await api(['workflows']);
  t.regex(table.stdout, /fence-then-evacuate\s+│ host-down/);
});

test.serial('plan and breaker status over the API', async (t) => {
  const plan = await json<{ failedHosts: string[]; entries: { target: string | null }[] }>(['plan', '--fail', 'compute-5']);
  t.deepEqual(plan.failedHosts, ['compute-5']);
  t.true(plan.entries.length > 0 && plan.entries.every((e) => e.target !== 'compute-5'));
  const human = await api(['plan', '--fail', 'compute-5']);
  t.regex(human.stdout, new RegExp(`From the running engine \\(API ${engine.url.replace(/[.]/g, '\\.')}\\)`));
  const unknown = await api(['plan', '--fail', 'compute-42']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /unknown host "compute-42"/);
  const breaker = await json<{ enabled: boolean; scopes: unknown[] }>(['breaker', 'status']);
  t.is(typeof breaker.enabled, 'boolean');
  const by = await api(['breaker', 'approve', 'az-1', '--by', 'erin']);
  t.is(by.code, 2, '--by cannot be honoured over the API');
  t.regex(by.stderr, /--by cannot be used over the API/);
});

test.serial('host return: a fenced host back into service, kept disabled with --no-reenable; exit 5 when there is nothing to return', async (t) => {
  const down = (await json<{ incident: Incident }>(['trigger', 'host-down', 'compute-5'])).incident;
  const closed = (id: string) => until(async () => (await get<{ incident: Incident }>(`/api/v1/incidents/${id}`)).incident.status !== 'open', 60_000);
  await closed(down.id);
  const returned = await api(['host', 'return', 'compute-5', '--no-reenable', '--comment', 'burn-in first']);
  t.is(returned.code, 0, returned.stderr);
  const id = /^opened incident (\S+): return of compute-5 to service, keeping its service disabled \(return-to-service, recovery rec-\S+\)$/m.exec(returned.stdout)?.[1];
  t.truthy(id, returned.stdout);
  t.regex(returned.stdout, new RegExp(`follow it: resurrect audit ${id} --follow`));
  await closed(id!);
  const shown = await json<{ incident: Incident; recovery: Recovery }>(['show', id!]);
  t.like(shown.incident, { kind: 'host-return', outcome: 'recovered' });
  t.like(shown.recovery.result, { host: 'compute-5', reenable: false, poweredOn: true, service: { status: 'disabled' } });
  const trail = await api(['audit', id!]);
  t.regex(trail.stdout, /incident opened: host-return compute-5 requested by \S+@local \(source api:\S+@local\)/);
  t.regex(trail.stdout, /compute-5's compute service is kept disabled: resurrect: returned by \S+@local, kept disabled \(reenable: false\): burn-in first/);
  const listed = await json<{ items: Incident[] }>(['incidents', '--kind', 'host-return']);
  t.deepEqual(listed.items.map((i) => i.id), [id]);

  const again = await api(['host', 'return', 'compute-5']);
  t.is(again.code, 5, again.stderr);
  t.regex(again.stderr, /compute-5 is not forced down .*there is nothing to return.* \[RSR_NOTHING_TO_RETURN\]/);
  const bad = await api(['host', 'return', 'compute 5']);
  t.is(bad.code, 2, bad.stderr);
  noToken(t, returned, trail, again);
});

test.serial('exit codes: 3 unknown id, 4 wrong or missing token, 2 bad input, 6 nothing listening', async (t) => {
  const unknown = await api(['show', 'inc-nope']);
  t.is(unknown.code, 3);
  t.regex(unknown.stderr, /\[RSR_INCIDENT_NOT_FOUND\]/);
  t.is((await api(['retry', 'rec-nope'])).code, 3);
  t.is((await api(['audit', 'rec-nope'])).code, 3);

  const wrong = await api(['incidents', '--json'], 'not-the-token');
  t.is(wrong.code, 4);
  t.regex(wrong.stderr, /\[RSR_API_UNAUTHENTICATED\]/);
  t.false(wrong.stderr.includes('not-the-token'), 'not even a wrong token is printed');
  const none = await api(['incidents'], null);
  t.is(none.code, 4);
  t.regex(none.stderr, /no token was sent: pass --token or set RESURRECT_TOKEN/);

  const badId = await api(['show', 'no such id!']);
  t.is(badId.code, 2, badId.stderr);
  t.regex(badId.stderr, /params\.id/);
  const badEvent = await api(['trigger', 'instance-down', 'compute-5']);
  t.is(badEvent.code, 2, 'instance-down needs --instance: refused by the API (400)');
  t.is((await api(['incidents', '--limit', '0'])).code, 2);
  t.is((await api(['incidents', '--since', 'yesterday'])).code, 2);
  t.is((await api(['incidents', '--status', 'maybe'])).code, 2, 'a usage error');

  const closed = `http://127.0.0.1:${await findFreePort()}`;
  for (const args of [['incidents'], ['trigger', 'host-down', 'compute-1'], ['audit', 'inc-x', '--follow']]) {
    const r = await runCli(['--url', closed, '--token', 'x', ...args], { ...CLEAN, RESURRECT_RUNTIME_DIR: engine.dir }, 60_000);
    t.is(r.code, 6, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /no Resurrect API answers at http:\/\/127\.0\.0\.1:\d+ \(connection refused\)/);
  }
  noToken(t, unknown, wrong, none, badId, badEvent);
});

test.serial('audit --follow prints records as they are written, and Ctrl-C ends it with 0', async (t) => {
  const held = (await json<{ incident: Incident }>(['trigger', 'host-degraded', 'compute-2'])).incident;
  await waiting(held.recoveryId);
  const follow = spawn(process.execPath, [BIN, '--url', engine.url, 'audit', held.id, '--follow', '--json'], {
    env: { ...process.env, ...CLEAN, RESURRECT_TOKEN: engine.token, RESURRECT_RUNTIME_DIR: mkdtempSync(join(tmpdir(), 'rsr-cli-follow-')) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => { if (follow.exitCode === null) follow.kill('SIGKILL'); });
  let stdout = '';
  let stderr = '';
  follow.stdout.on('data', (c) => { stdout += String(c); });
  follow.stderr.on('data', (c) => { stderr += String(c); });
  const exited = new Promise<number | null>((done) => follow.on('exit', (code) => done(code)));
  const messages = () => stdout.split('\n').filter((l) => l.trim() !== '').map((l) => (JSON.parse(l) as AuditRecord).message);
  await until(() => messages().some((m) => /→ awaitingDecision/.test(m)), 20_000);
  const before = messages().length;
  t.false(messages().some((m) => /decided/.test(m)));

  const approved = await api(['approve', held.recoveryId, '--comment', 'seen live']);
  t.is(approved.code, 0, approved.stderr);
  await until(() => messages().some((m) => /incident resolved/.test(m)), 20_000);
  const after = messages().slice(before);
  const decided = after.findIndex((m) => /operator \S+@local decided: approve \(seen live\)/.test(m));
  t.true(decided >= 0, after.join('\n'));
  t.true(after.findIndex((m) => /incident resolved/.test(m)) > decided, 'in the order they were written');
  t.is(new Set(stdout.split('\n')).size, stdout.split('\n').length, 'no record twice');

  follow.kill('SIGINT');
  t.is(await exited, 0, stderr);
  t.false(`${stdout}${stderr}`.includes(engine.token));
});

test.serial('a fresh machine: `resurrect start` wrote URL and token to its runtime file (0600), and bare commands use them', async (t) => {
  const file = runtimeFilePath({ RESURRECT_RUNTIME_DIR: engine.dir });
  t.is(statSync(file).mode & 0o777, 0o600);
  t.is(statSync(engine.dir).mode & 0o777, 0o700);
  t.regex(engine.output, new RegExp(`API listening on ${engine.url.replace(/[.]/g, '\\.')}`));
  t.false(engine.output.includes(engine.token), 'the engine never logs its token');

  const second = { ...CLEAN, RESURRECT_RUNTIME_DIR: engine.dir };
  const bare = await runCli(['incidents', '--json'], second, 60_000);
  t.is(bare.code, 0, bare.stderr);
  const listed = JSON.parse(bare.stdout) as { items: Incident[] };
  t.true(listed.items.some((i) => i.subject === 'host:compute-3'));
  const triggered = await runCli(['trigger', 'host-down', 'compute-1', '--json'], second, 60_000);
  t.is(triggered.code, 0, triggered.stderr);
  t.regex((JSON.parse(triggered.stdout) as { incident: Incident }).incident.event.source ?? '', /via api:/, 'trigger went over the API');

  // The run's token goes to the run's API only: another --url gets no Authorization header.
  const seen: (string | undefined)[] = [];
  const other = createServer((request, response) => {
    seen.push(request.headers.authorization);
    response.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"code":"RSR_API_UNAUTHENTICATED","message":"no"}}');
  });
  await new Promise<void>((done) => other.listen(0, '127.0.0.1', done));
  t.teardown(() => other.close());
  const elsewhere = await runCli(['--url', `http://127.0.0.1:${(other.address() as AddressInfo).port}`, 'incidents'], second, 60_000);
  t.is(elsewhere.code, 4);
  t.deepEqual(seen, [undefined]);
});

test.serial('start refuses a busy API port in one sentence (exit 2)', async (t) => {
  const port = new URL(engine.url).port;
  const r = await runCli(['start', '--api-port', port], {
    ...CLEAN, REDIS_URL: redis.url, RESURRECT_CONFIG: engine.config, RESURRECT_RUNTIME_DIR: mkdtempSync(join(tmpdir(), 'rsr-cli-busy-')),
  }, 60_000);
  t.is(r.code, 2, r.stdout + r.stderr);
  t.regex(r.stderr, new RegExp(`resurrect: the API port 127\\.0\\.0\\.1:${port} is already in use`));
});
