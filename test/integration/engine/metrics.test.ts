/**
 * /metrics end to end on the simulated cloud: the counters written by the workers (in the audit MULTI) and the
 * gauges read at scrape time, rendered by the API's prom-client registry and parsed back here.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { AuditRecord } from '../../../src/domain';
import { createMetrics } from '../../../src/api/metrics';
import type { Metrics } from '../../../src/api/metrics';
import { TOKENS } from '../../../src/container';
import { Keys } from '../../../src/engine/keys';
import { STEP_SECONDS_BUCKETS } from '../../../src/engine/metrics-recorder';
import { RecoveryQueue } from '../../../src/engine/recovery-queue';
import { SlaCompliance } from '../../../src/engine/sla-compliance';
import { definePlugin, defineSla } from '../../../src/plugins/api';
import { smallWorld, startEngine, testLog } from '../../helpers/engine';
import type { EngineHarness } from '../../helpers/engine';
import { useRedis } from '../../helpers/redis';
import { until } from '../../helpers/wait';

const redis = useRedis(test);

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The Prometheus text format, enough of it: `name{a="x",b="y"} value` lines; comments checked for TYPE. */
function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name!, type!);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return { samples, types };
}

/** The sum of the samples named `name` whose labels include `where`. */
function sum(samples: readonly Sample[], name: string, where: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

function find(samples: readonly Sample[], name: string, where: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v));
}

/** What the API process would build: the engine's Redis client, keys and queue, the breaker and SLA compliance. */
function metricsOf(h: EngineHarness): Metrics {
  const keys = h.app.container.get<Keys>(TOKENS.keys);
  return createMetrics({
    redis: h.app.redis, keys, queue: h.app.container.get(RecoveryQueue), breaker: h.app.breaker, compliance: new SlaCompliance(h.app.redis, keys),
  });
}

async function scrape(metrics: Metrics): Promise<{ samples: Sample[]; types: Map<string, string> }> {
  return parse(await metrics.render());
}

async function records(h: EngineHarness, id: string): Promise<AuditRecord[]> {
  return (await h.app.engine.audit(id)).map((row) => row.record);
}

test('a host-down recovery is counted: transitions, step durations, a retry, recoveries by outcome; gauges are numbers', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  const metrics = metricsOf(h);
  t.is(metrics.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  h.world.failHost('compute-1', 'power');
  h.world.injectFault({ kind: 'evacuate-fails', instance: 'vm-a', times: 1 });
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered');
  // The incident's trail holds every record of its recoveries (the host's and each VM's).
  const trail = await records(h, incident.id);
  const text = await metrics.render();
  const { samples, types } = parse(text);

  for (const workflow of ['fence-then-evacuate', 'evacuate-instance']) {
    const transitions = trail.filter((r) => r.type === 'transition' && r.workflow === workflow).length;
    t.true(transitions > 0);
    t.is(sum(samples, 'resurrect_transitions_total', { workflow }), transitions, `${workflow}: one per audited transition`);
    t.is(sum(samples, 'resurrect_step_duration_seconds_count', { workflow }), transitions, `${workflow}: every transition observed once`);
    // Per state: the observations of the audited transitions leaving it; the buckets are cumulative, +Inf = count.
    const states = new Set(trail.filter((r) => r.type === 'transition' && r.workflow === workflow).map((r) => r.from!));
    for (const state of states) {
      const leaving = trail.filter((r) => r.type === 'transition' && r.workflow === workflow && r.from === state);
      const buckets = find(samples, 'resurrect_step_duration_seconds_bucket', { workflow, state });
      t.deepEqual(buckets.map((b) => b.labels.le), [...STEP_SECONDS_BUCKETS.map(String), '+Inf']);
      const values = buckets.map((b) => b.value);
      t.deepEqual(values, [...values].sort((a, b) => a - b), 'cumulative');
      t.is(values.at(-1), leaving.length);
      t.is(sum(samples, 'resurrect_step_duration_seconds_count', { workflow, state }), leaving.length);
      const seconds = leaving.reduce((n, r) => n + (r.durationMs ?? 0), 0) / 1000;
      t.true(Math.abs(sum(samples, 'resurrect_step_duration_seconds_sum', { workflow, state }) - seconds) < 0.01 * leaving.length + 1e-9);
    }
  }
  t.is(types.get('resurrect_step_duration_seconds'), 'histogram');
  t.is(types.get('resurrect_transitions_total'), 'counter');

  t.is(sum(samples, 'resurrect_recoveries_total', { outcome: 'recovered', workflow: 'evacuate-instance' }), 3, 'vm-a, vm-b and vm-c');
  t.is(sum(samples, 'resurrect_recoveries_total', { outcome: 'recovered', workflow: 'fence-then-evacuate' }), 1);
  t.is(sum(samples, 'resurrect_recoveries_total'), 4, 'nothing else finished');
  for (const s of find(samples, 'resurrect_recoveries_total')) t.truthy(s.labels.sla, 'every recovery has an SLA label (`none` without one)');

  const retried = trail.filter((r) => r.type === 'attempt' && r.details?.step === 'evacuateInstance').length;
  t.is(retried, 1, 'the injected fault failed one evacuation');
  t.is(sum(samples, 'resurrect_retries_total', { workflow: 'evacuate-instance', step: 'evacuateInstance' }), 1);
  t.is(sum(samples, 'resurrect_retries_total'), 1);

  for (const state of ['waiting', 'active', 'delayed', 'failed', 'completed', 'paused']) {
    const [gauge] = find(samples, 'resurrect_queue_jobs', { state });
    t.true(gauge !== undefined && Number.isFinite(gauge.value), state);
  }
  t.true(sum(samples, 'resurrect_queue_jobs', { state: 'completed' }) > 0);
  for (const name of ['resurrect_queue_oldest_waiting_age_seconds', 'resurrect_admission_waiting', 'resurrect_admission_slots_in_use']) {
    const [gauge] = find(samples, name);
    t.true(gauge !== undefined && Number.isFinite(gauge.value) && gauge.value >= 0, name);
  }
  t.is(sum(samples, 'resurrect_admission_waiting'), 0);
  t.true(find(samples, 'process_cpu_user_seconds_total').length === 1, 'the process metrics of the API process');
  // Bounded labels: no recovery, incident or instance id anywhere.
  const ids = [incident.id, incident.recoveryId, 'vm-a', 'vm-b', 'vm-c', 'compute-1'];
  for (const s of samples) for (const value of Object.values(s.labels)) t.false(ids.some((id) => value.includes(id)), `${s.name} ${value}`);
});

test('the oldest waiting job and the queue depth, with no worker running', async (t) => {
  const h = await startEngine(redis, { worker: false });
  t.teardown(() => h.close());
  const metrics = metricsOf(h);
  const empty = (await scrape(metrics)).samples;
  t.is(sum(empty, 'resurrect_queue_oldest_waiting_age_seconds'), 0, 'nothing waits');
  h.world.failHost('compute-1', 'power');
  await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const { samples } = await scrape(metrics);
  t.is(sum(samples, 'resurrect_queue_jobs', { state: 'waiting' }), 1, 'the host recovery\'s job');
  const age = sum(samples, 'resurrect_queue_oldest_waiting_age_seconds');
  t.true(age >= 0.25 && age < 30, `waiting for ${age} s`);
});

test('the breaker gauges: open 1 and the held recoveries of its scope', async (t) => {
  const h = await startEngine(redis, {
    worker: false,
    config: { breaker: { enabled: true, scope: 'zone', windowSeconds: 120, maxHosts: 1, maxShare: 0, minScopeHosts: 1 } },
  });
  t.teardown(() => h.close());
  const metrics = metricsOf(h);
  h.world.failHost('compute-1', 'network');
  await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  let samples = (await scrape(metrics)).samples;
  t.deepEqual(find(samples, 'resurrect_breaker_open').map((s) => [s.labels.scope, s.value]), [['az-1', 0]], 'one failure: counted, closed');
  h.world.failHost('compute-2', 'network');
  await h.app.engine.report({ kind: 'host-down', host: 'compute-2' });
  samples = (await scrape(metrics)).samples;
  t.deepEqual(find(samples, 'resurrect_breaker_open').map((s) => [s.labels.scope, s.value]), [['az-1', 1]], 'two of one zone: open');
  h.app.worker().start(4);
  await until(async () => sum((await scrape(metrics)).samples, 'resurrect_breaker_held_recoveries', { scope: 'az-1' }) === 2);
  await h.app.breaker.close('az-1', 'alice');
  samples = (await scrape(metrics)).samples;
  t.is(sum(samples, 'resurrect_breaker_open', { scope: 'az-1' }), 0);
  t.is(sum(samples, 'resurrect_breaker_held_recoveries', { scope: 'az-1' }), 0);
});

test('SLA breaches are read from the compliance counters, per SLA', async (t) => {
  const h = await startEngine(redis, { worker: false });
  t.teardown(() => h.close());
  const metrics = metricsOf(h);
  t.deepEqual(find((await scrape(metrics)).samples, 'resurrect_sla_breaches_total'), []);
  const compliance = new SlaCompliance(h.app.redis, h.app.container.get<Keys>(TOKENS.keys));
  for (const recoveryId of ['r-1', 'r-2', 'r-2']) await compliance.recordBreach(h.app.redis.multi(), { recoveryId, sla: 'gold', workflow: 'restart-in-place' }).exec();
  await compliance.recordBreach(h.app.redis.multi(), { recoveryId: 'r-3', sla: 'silver', workflow: 'restart-in-place' }).exec();
  const { samples } = await scrape(metrics);
  t.deepEqual(find(samples, 'resurrect_sla_breaches_total').map((s) => [s.labels.sla, s.value]), [['gold', 2], ['silver', 1]], 'once per recovery');
});

/** One rung, one second (as in escalation.test.ts): a VM that never comes back misses it. */
const tight = defineSla({
  name: 'tight',
  description: 'one rung, one second',
  deadlineSeconds: 1,
  priority: 2,
  retry: { attempts: 1, backoffMs: 10, exponential: false },
  workflows: { allowed: ['restart-in-place'], preferred: ['restart-in-place'] },
  escalation: [{ action: 'restart-in-place', budgetSeconds: 1 }],
});

test('recoveries are counted under their SLA, and a missed deadline is a breach of it', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'rsr-metrics-')), 'policy.yaml');
  writeFileSync(file, 'version: 1\nrules:\n  - { name: default, default: true, sla: tight, workflow: restart-in-place }\n');
  const h = await startEngine(redis, { plugins: [definePlugin({ name: 'metrics-slas', slas: [tight] })], config: { policy: { file } } });
  t.teardown(() => h.close());
  const metrics = metricsOf(h);
  h.world.crashInstance('vm-a');
  h.world.crashInstance('vm-c');
  h.world.injectFault({ kind: 'never-active', instance: 'vm-c' });
  const fine = await h.app.engine.report({ kind: 'instance-down', host: 'compute-1', instance: 'vm-a' });
  const late = await h.app.engine.report({ kind: 'instance-down', host: 'compute-1', instance: 'vm-c' });
  t.is((await h.waitClosed(fine.incident.id)).outcome, 'recovered');
  t.is((await h.waitClosed(late.incident.id, 15_000)).outcome, 'escalated');
  await until(async () => sum((await scrape(metrics)).samples, 'resurrect_sla_breaches_total', { sla: 'tight' }) >= 1, 5_000);
  const { samples } = await scrape(metrics);
  t.is(sum(samples, 'resurrect_recoveries_total', { outcome: 'recovered', workflow: 'restart-in-place', sla: 'tight' }), 1);
  t.is(sum(samples, 'resurrect_recoveries_total', { outcome: 'escalated', workflow: 'restart-in-place', sla: 'tight' }), 1);
  t.is(sum(samples, 'resurrect_recoveries_total'), 2);
  // vm-c's deadline passed; vm-a's too if this machine was slow: the metric says what `resurrect sla` says.
  const [report] = await new SlaCompliance(h.app.redis, h.app.container.get<Keys>(TOKENS.keys)).report();
  t.like(report, { sla: 'tight', total: 2 });
  t.true(report!.breached >= 1);
  t.is(sum(samples, 'resurrect_sla_breaches_total', { sla: 'tight' }), report!.breached);
  t.is(sum(samples, 'resurrect_sla_compliance_ratio', { sla: 'tight' }), report!.compliance!);
});

test('two engines on one prefix (two worker processes) add up in one scrape', async (t) => {
  const prefix = redis.newPrefix();
  const world = smallWorld();
  const first = await startEngine(redis, { prefix, world, worker: false, workerName: 'worker-a' });
  const second = await startEngine(redis, { prefix, world, worker: false, workerName: 'worker-b' });
  t.teardown(() => first.close());
  t.teardown(() => second.close());
  // The API process: its own queue handle and Redis client on the same prefix.
  const keys = new Keys(prefix);
  const client = redis.connection();
  const queue = new RecoveryQueue(redis.url, keys, first.app.container.get(RecoveryQueue).settings, testLog());
  t.teardown(() => queue.close());
  const metrics = createMetrics({ redis: client, keys, queue });

  // Worker a recovers compute-1 (three VMs) and goes away; worker b then recovers compute-2 (one VM).
  first.app.worker().start(8);
  world.failHost('compute-1', 'power');
  const one = await first.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  t.is((await first.waitClosed(one.incident.id)).outcome, 'recovered');
  await first.close();
  second.app.worker().start(8);
  world.failHost('compute-2', 'power');
  const two = await second.app.engine.report({ kind: 'host-down', host: 'compute-2' });
  t.is((await second.waitClosed(two.incident.id)).outcome, 'recovered');

  const trail = [...await records(second, one.incident.id), ...await records(second, two.incident.id)];
  const transitions = trail.filter((r) => r.type === 'transition');
  t.deepEqual([...new Set(transitions.map((r) => r.worker))].sort(), ['worker-a', 'worker-b'], 'both workers ran machines');
  const { samples } = await scrape(metrics);
  t.is(sum(samples, 'resurrect_transitions_total'), transitions.length);
  t.is(sum(samples, 'resurrect_step_duration_seconds_count'), transitions.length);
  // compute-2 holds vm-d and whatever of compute-1 placement put there.
  const vms = trail.filter((r) => r.type === 'decision' && r.workflow === 'evacuate-instance' && r.outcome === 'recovered').length;
  t.true(vms >= 4, `${vms}`);
  t.is(sum(samples, 'resurrect_recoveries_total', { outcome: 'recovered', workflow: 'evacuate-instance' }), vms);
  t.is(sum(samples, 'resurrect_recoveries_total', { outcome: 'recovered', workflow: 'fence-then-evacuate' }), 2);
  t.deepEqual(find(samples, 'resurrect_breaker_open'), [], 'no breaker dependency, no breaker metrics');
});
