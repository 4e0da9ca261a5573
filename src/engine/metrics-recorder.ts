/**
 * The engine's Prometheus counters, kept in Redis so that every worker process adds to the same numbers and
 * the API process (`src/api/metrics.ts`) exposes them at scrape time. They are written by `AuditLog.append`,
 * inside the MULTI that already carries the audit record: a counted event and its audit line are written
 * together, or not at all, and counting costs a few HINCRBY in a round trip that happens anyway.
 *
 * What is counted, from which records (docs/metrics.md lists the metrics):
 * - `transition`: one per workflow; its `durationMs` (time spent in `from`) goes into a histogram per
 *   workflow and state.
 * - `attempt` with `details.step` (execution.ts `failAttempt`: a step failed and the job will retry): one
 *   retry per workflow and step.
 * - `decision` with an `outcome` and a message starting `recovery ` (runner.ts `finish`): one recovery per
 *   outcome, workflow and SLA (the record's `sla`, `none` when the recovery had none).
 *
 * Every label value is bounded: workflow, state and step names come from the registered workflows, outcomes
 * and SLA names from their codecs. Recovery, incident and instance ids never become labels. The hash fields
 * are JSON arrays of the label values, so no separator can clash with a name.
 */
import type { ChainableCommander } from 'ioredis';
import type { AuditRecord } from '../domain';
import type { Keys } from './keys';

/** Upper bounds (seconds) of the step-duration histogram's buckets; `+Inf` is implied. */
export const STEP_SECONDS_BUCKETS: readonly number[] = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** The label value of a recovery without an SLA, and of a record missing a name it should carry. */
export const NO_SLA = 'none';
export const UNKNOWN = 'unknown';

/** The histogram hash's field for the sum of a series (milliseconds); the other fields are bucket bounds. */
export const SUM_FIELD = 'sum_ms';

/** The Redis hashes the counters live in (under the engine's prefix, so tests isolate themselves by prefix). */
export interface MetricsKeys {
  /** [workflow] → transitions. */
  readonly transitions: string;
  /** [workflow, state, le] → observations in that bucket (not cumulative); [workflow, state, SUM_FIELD] → ms. */
  readonly stepSeconds: string;
  /** [workflow, step] → retries. */
  readonly retries: string;
  /** [outcome, workflow, sla] → finished recoveries. */
  readonly recoveries: string;
}

export function metricsKeys(keys: Keys): MetricsKeys {
  const base = `${keys.prefix}:metrics`;
  return {
    transitions: `${base}:transitions`,
    stepSeconds: `${base}:step-seconds`,
    retries: `${base}:retries`,
    recoveries: `${base}:recoveries`,
  };
}

/** The hash field of a series: its label values as a JSON array. */
export function field(...labels: string[]): string {
  return JSON.stringify(labels);
}

/** The bucket an observation falls in: the smallest upper bound not below it, or `+Inf`. */
export function bucketOf(seconds: number): string {
  for (const le of STEP_SECONDS_BUCKETS) if (seconds <= le) return String(le);
  return '+Inf';
}

export class MetricsRecorder {
  private readonly keys: MetricsKeys;

  constructor(keys: Keys) {
    this.keys = metricsKeys(keys);
  }

  /** Adds the counting of `record` (if it counts at all) to `multi`. */
  record(multi: ChainableCommander, record: AuditRecord): void {
    const workflow = record.workflow ?? UNKNOWN;
    switch (record.type) {
      case 'transition': {
        multi.hincrby(this.keys.transitions, field(workflow), 1);
        const ms = record.durationMs;
        if (typeof ms === 'number' && Number.isFinite(ms)) {
          const state = record.from ?? UNKNOWN;
          const clamped = Math.max(0, Math.round(ms));
          multi.hincrby(this.keys.stepSeconds, field(workflow, state, bucketOf(clamped / 1000)), 1);
          multi.hincrby(this.keys.stepSeconds, field(workflow, state, SUM_FIELD), clamped);
        }
        return;
      }
      case 'attempt': {
        const step = record.details?.step;
        if (typeof step === 'string') multi.hincrby(this.keys.retries, field(workflow, step), 1);
        return;
      }
      case 'decision':
        if (record.outcome && record.message.startsWith('recovery ')) {
          multi.hincrby(this.keys.recoveries, field(record.outcome, workflow, record.sla ?? NO_SLA), 1);
        }
        return;
      default:
        return;
    }
  }
}
