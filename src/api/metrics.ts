/**
 * `/metrics` in the Prometheus text format. Steps run in worker processes (many of them) and Prometheus scrapes
 * the API process, so nothing is counted in this process's memory: the counters live in Redis, written where
 * the events happen (`src/engine/metrics-recorder.ts`, inside the audit MULTI; SLA breaches by
 * `sla-compliance.ts`), and the gauges are Redis and bull state. Every scrape reads them once, in a few round
 * trips, and prom-client formats them. docs/metrics.md lists every metric, its labels and what writes it.
 *
 * Each `createMetrics` has its own prom-client `Registry` (not the global default one), so two instances in a
 * process (tests, two prefixes) never collide. The API process's own default metrics (`process_*`, `nodejs_*`)
 * are on that registry too, under their usual names.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Redis } from 'ioredis';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Metric } from 'prom-client';
import type { BreakerStatus } from '../engine/breaker';
import type { Keys } from '../engine/keys';
import { metricsKeys, STEP_SECONDS_BUCKETS, SUM_FIELD } from '../engine/metrics-recorder';
import type { RecoveryQueue } from '../engine/recovery-queue';
import type { SlaCompliance, SlaComplianceReport } from '../engine/sla-compliance';

export interface MetricsDeps {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly queue: RecoveryQueue;
  /** The breaker gauges are left out without it. */
  readonly breaker?: { status(): Promise<BreakerStatus> };
  /** Adds the SLA compliance ratio per SLA (breaches are read from Redis with or without it). */
  readonly compliance?: SlaCompliance;
}

export interface Metrics {
  /** The Content-Type of `render()`'s text (Prometheus text exposition format 0.0.4). */
  readonly contentType: string;
  /** Reads Redis and renders every metric. Rejects when Redis cannot be read (the scrape then fails: `up` 0). */
  render(): Promise<string>;
}

/** The bull job states counted by `resurrect_queue_jobs`. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'paused'] as const;

/** How many jobs at the head of the wait list the oldest-waiting gauge looks at (the scan is one Lua call). */
const OLDEST_SCAN = 10_000;

/**
 * The oldest job waiting in bull's wait list: when it became ready to run, in ms (0 when none). Bull keeps no
 * time of entry into the wait list; the best it has is the latest of creation + delay, last start
 * (`processedOn`: a retried or stalled job waits again after it) and last failure (`finishedOn`).
 * KEYS: 1 the wait list. ARGV: 1 the job-hash key prefix, 2 how many to look at (from the head, the tail end).
 */
const OLDEST_WAITING = `
local ids = redis.call('LRANGE', KEYS[1], -tonumber(ARGV[2]), -1)
local oldest = 0
for _, id in ipairs(ids) do
  local v = redis.call('HMGET', ARGV[1] .. id, 'timestamp', 'delay', 'processedOn', 'finishedOn')
  local ready = (tonumber(v[1]) or 0) + (tonumber(v[2]) or 0)
  local started, failed = tonumber(v[3]) or 0, tonumber(v[4]) or 0
  if started > ready then ready = started end
  if failed > ready then ready = failed end
  if ready > 0 and (oldest == 0 or ready < oldest) then oldest = ready end
end
return oldest
`;

/** What one scrape read: every Redis-backed metric comes from one of these. */
interface Snapshot {
  readonly at: number;
  readonly transitions: Record<string, string>;
  readonly stepSeconds: Record<string, string>;
  readonly retries: Record<string, string>;
  readonly recoveries: Record<string, string>;
  readonly breaches: readonly { readonly sla: string; readonly count: number }[];
  readonly jobs: Partial<Record<(typeof QUEUE_STATES)[number], number>>;
  /** When the oldest waiting job became ready (ms), 0 when none waits. */
  readonly oldestReadyAt: number;
  readonly admissionWaiting: number;
  readonly slotsInUse: number;
  readonly breaker?: BreakerStatus;
  readonly compliance?: readonly SlaComplianceReport[];
}

export function createMetrics(deps: MetricsDeps): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const scrape = new AsyncLocalStorage<Promise<Snapshot>>();
  // Inside render() every collector shares the one read; called any other way (registry.metrics() directly)
  // each collector reads on its own.
  const snapshot = (): Promise<Snapshot> => scrape.getStore() ?? read(deps);

  counter(registry, 'resurrect_transitions_total', 'Transitions of recovery state machines, by workflow (every audited transition).', ['workflow'],
    async () => series((await snapshot()).transitions, ['workflow']));
  registry.registerMetric(histogram(
    'resurrect_step_duration_seconds',
    'Time a recovery spent in a state before leaving it (the step that runs there), by workflow and state.',
    async () => (await snapshot()).stepSeconds,
  ));
  counter(registry, 'resurrect_retries_total', 'Step failures that will be retried (the job backs off and runs again), by workflow and step.', ['workflow', 'step'],
    async () => series((await snapshot()).retries, ['workflow', 'step']));
  counter(registry, 'resurrect_recoveries_total', 'Finished recoveries, by outcome, workflow and SLA (`none`: the recovery had no SLA).', ['outcome', 'workflow', 'sla'],
    async () => series((await snapshot()).recoveries, ['outcome', 'workflow', 'sla']));
  counter(registry, 'resurrect_sla_breaches_total', 'Recoveries that missed their SLA deadline, each counted once (as `resurrect sla` counts them), by SLA.', ['sla'],
    async () => (await snapshot()).breaches.map(({ sla, count }) => ({ labels: { sla }, value: count })));
  gauge(registry, 'resurrect_queue_jobs', 'Jobs in the recovery queue, by bull state.', ['state'],
    async () => {
      const { jobs } = await snapshot();
      return QUEUE_STATES.map((state) => ({ labels: { state }, value: jobs[state] ?? 0 }));
    });
  gauge(registry, 'resurrect_queue_oldest_waiting_age_seconds', 'How long the oldest job ready to run has been waiting for a worker (0 when none waits).', [],
    async () => {
      const { at, oldestReadyAt } = await snapshot();
      return [{ labels: {}, value: oldestReadyAt > 0 ? Math.max(0, (at - oldestReadyAt) / 1000) : 0 }];
    });
  gauge(registry, 'resurrect_admission_waiting', 'Recoveries waiting in line for a recovery slot (admission).', [],
    async () => [{ labels: {}, value: (await snapshot()).admissionWaiting }]);
  gauge(registry, 'resurrect_admission_slots_in_use', 'Recovery slots held now (the global pool; expired leases not counted).', [],
    async () => [{ labels: {}, value: (await snapshot()).slotsInUse }]);
  if (deps.breaker) {
    gauge(registry, 'resurrect_breaker_open', 'Whether the mass-failure breaker of a scope is open (1) or not (0).', ['scope'],
      async () => ((await snapshot()).breaker?.scopes ?? []).map((s) => ({ labels: { scope: s.scope }, value: s.open ? 1 : 0 })));
    gauge(registry, 'resurrect_breaker_held_recoveries', 'Recoveries held by the mass-failure breaker of a scope, waiting for an operator.', ['scope'],
      async () => ((await snapshot()).breaker?.scopes ?? []).map((s) => ({ labels: { scope: s.scope }, value: s.heldRecoveries.length })));
  }
  if (deps.compliance) {
    gauge(registry, 'resurrect_sla_compliance_ratio', 'Finished recoveries within their SLA deadline / those that had one (absent until one had).', ['sla'],
      async () => ((await snapshot()).compliance ?? []).flatMap((r) => (r.compliance === null ? [] : [{ labels: { sla: r.sla }, value: r.compliance }])));
  }

  return {
    contentType: registry.contentType,
    async render() {
      const read$ = read(deps);
      // A rejected read is reported by the collectors that await it; keep it from being "unhandled" meanwhile.
      read$.catch(() => undefined);
      return scrape.run(read$, () => registry.metrics());
    },
  };
}

type Sample = { readonly labels: Record<string, string>; readonly value: number };

function counter(registry: Registry, name: string, help: string, labelNames: readonly string[], values: () => Promise<Sample[]>): void {
  new Counter({
    name, help, labelNames, registers: [registry],
    async collect() {
      const samples = await values();
      this.reset();
      for (const s of samples) this.inc(s.labels, s.value);
    },
  });
}

function gauge(registry: Registry, name: string, help: string, labelNames: readonly string[], values: () => Promise<Sample[]>): void {
  new Gauge({
    name, help, labelNames, registers: [registry],
    async collect() {
      const samples = await values();
      this.reset();
      for (const s of samples) this.set(s.labels, s.value);
    },
  });
}

/** A hash of JSON-array fields (label values) → counts, as samples with those label names. */
function series(hash: Record<string, string>, labelNames: readonly string[]): Sample[] {
  const out: Sample[] = [];
  for (const [field, count] of Object.entries(hash)) {
    const values = parseField(field);
    if (!values || values.length !== labelNames.length) continue;
    out.push({ labels: Object.fromEntries(labelNames.map((name, i) => [name, values[i]!])), value: Number(count) });
  }
  return out;
}

function parseField(field: string): string[] | undefined {
  try {
    const parsed: unknown = JSON.parse(field);
    return Array.isArray(parsed) && parsed.every((v) => typeof v === 'string') ? (parsed as string[]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A histogram rebuilt from Redis at scrape time. prom-client's Histogram only learns values by `observe`, one
 * at a time; this is the same metric shape (`_bucket` cumulative with `le`, `_sum`, `_count`) built from the
 * stored per-bucket counts. The registry uses `name`, `type`, `get` and `reset` of a metric, nothing else.
 */
function histogram(name: string, help: string, read: () => Promise<Record<string, string>>): Metric {
  const get = async () => {
    const hash = await read();
    type Series = { workflow: string; state: string; buckets: Map<string, number>; sumMs: number };
    const all = new Map<string, Series>();
    for (const [field, raw] of Object.entries(hash)) {
      const values = parseField(field);
      if (!values || values.length !== 3) continue;
      const [workflow, state, le] = values as [string, string, string];
      const key = JSON.stringify([workflow, state]);
      let s = all.get(key);
      if (!s) all.set(key, (s = { workflow, state, buckets: new Map(), sumMs: 0 }));
      if (le === SUM_FIELD) s.sumMs = Number(raw);
      else s.buckets.set(le, Number(raw));
    }
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const key of [...all.keys()].sort()) {
      const s = all.get(key)!;
      const labels = { workflow: s.workflow, state: s.state };
      let cumulative = 0;
      for (const le of STEP_SECONDS_BUCKETS) {
        cumulative += s.buckets.get(String(le)) ?? 0;
        values.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cumulative });
      }
      cumulative += s.buckets.get('+Inf') ?? 0;
      values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
      values.push({ metricName: `${name}_sum`, labels, value: s.sumMs / 1000 });
      values.push({ metricName: `${name}_count`, labels, value: cumulative });
    }
    return { name, help, type: 'histogram', values, aggregator: 'sum' };
  };
  return { name, help, type: 'histogram', aggregator: 'sum', get, reset: () => undefined } as unknown as Metric;
}

/** One scrape's read of Redis and bull. */
async function read(deps: MetricsDeps): Promise<Snapshot> {
  const { redis, keys, queue } = deps;
  const metrics = metricsKeys(keys);
  const bull = queue.queue;
  const at = Date.now();
  const [hashes, jobs, breaker, compliance] = await Promise.all([
    redis.multi()
      .hgetall(metrics.transitions)
      .hgetall(metrics.stepSeconds)
      .hgetall(metrics.retries)
      .hgetall(metrics.recoveries)
      .zcard(keys.admissionWaiting())
      .zcount(keys.admissionSlots('global'), `(${at}`, '+inf')
      .eval(OLDEST_WAITING, 1, bull.toKey('wait'), bull.toKey(''), OLDEST_SCAN)
      .smembers(keys.slaIndex())
      .exec(),
    bull.getJobCounts() as Promise<Snapshot['jobs']>,
    deps.breaker?.status(),
    deps.compliance?.report(),
  ]);
  const replies = (hashes ?? []).map(([err, value]) => {
    if (err) throw err;
    return value;
  });
  const [transitions, stepSeconds, retries, recoveries, admissionWaiting, slotsInUse, oldestReadyAt, slas] = replies as [
    Record<string, string>, Record<string, string>, Record<string, string>, Record<string, string>, number, number, number, string[],
  ];
  const breaches = await slaBreaches(redis, keys, slas ?? []);
  return {
    at, transitions, stepSeconds, retries, recoveries, breaches, jobs,
    oldestReadyAt: Number(oldestReadyAt), admissionWaiting: Number(admissionWaiting), slotsInUse: Number(slotsInUse),
    ...(breaker ? { breaker } : {}),
    ...(compliance ? { compliance } : {}),
  };
}

/** The `breached` counter of each SLA's compliance hash (sla-compliance.ts: once per recovery). */
async function slaBreaches(redis: Redis, keys: Keys, slas: readonly string[]): Promise<Snapshot['breaches']> {
  if (slas.length === 0) return [];
  const sorted = [...slas].sort();
  const multi = redis.multi();
  for (const sla of sorted) multi.hget(keys.slaCounts(sla), 'breached');
  const replies = (await multi.exec()) ?? [];
  return sorted.map((sla, i) => {
    const [err, value] = replies[i] ?? [];
    if (err) throw err;
    return { sla, count: Number(value ?? 0) };
  });
}
