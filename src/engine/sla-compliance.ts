/**
 * SLA compliance, measured as recoveries finish: per SLA, how many recoveries there were, how they ended, how
 * many met their deadline, how many breached it, and the time to recover (p50, p95, max).
 *
 * The rules:
 * - One entry per recovery, recorded at most once (a replayed finish changes nothing).
 * - `total` and the outcome counters count finished recoveries. `breached` counts recoveries whose deadline
 *   passed, each once, whether the breach was noticed while it ran (`recordBreach`, from a deadline timer) or
 *   at the end (`record` with `breached: true`, or `seconds` above the deadline); it therefore also counts
 *   recoveries still running past their deadline. A timer firing after the recovery was recorded counts nothing.
 * - A recovery is within its deadline when it has one, ended `recovered`, and was never breached.
 * - The compliance ratio is `withinDeadline / withDeadline`, where `withDeadline` counts the finished
 *   recoveries that had a deadline, except `skipped` and `cancelled` ones: those had nothing left to recover
 *   (the VM was fine, or an operator withdrew it), so they neither meet nor miss an objective. null when none.
 * - Times to recover are those of `recovered` recoveries only (a failure has no time to recover), the latest
 *   DURATION_SAMPLES of them; percentiles use the nearest-rank method, so every value is a real sample.
 */
import * as t from 'io-ts';
import type { ChainableCommander, Redis } from 'ioredis';
import { decodeOrThrow, Outcome } from '../domain';
import type { Keys } from './keys';

/** How many times to recover each SLA keeps for its percentiles (the most recent). */
export const DURATION_SAMPLES = 10_000;

const Seconds = t.refinement(t.number, (n) => Number.isFinite(n) && n >= 0, 'Seconds');
const DeadlineSeconds = t.union([t.refinement(t.number, (n) => Number.isFinite(n) && n > 0, 'PositiveSeconds'), t.null]);

export const SlaComplianceEntryCodec = t.type({
  /** The recovery: guards against counting it twice. */
  recoveryId: t.string,
  sla: t.string,
  workflow: t.string,
  outcome: Outcome,
  /** Time to recover: from the incident's opening to the recovery's end. */
  seconds: Seconds,
  deadlineSeconds: DeadlineSeconds,
  /** The deadline passed before the recovery ended (also inferred from `seconds > deadlineSeconds`). */
  breached: t.boolean,
}, 'SlaComplianceEntry');
export type SlaComplianceEntry = t.TypeOf<typeof SlaComplianceEntryCodec>;

export interface SlaBreach {
  readonly recoveryId: string;
  readonly sla: string;
  readonly workflow: string;
}

const Count = t.number;
const SecondsOrNull = t.union([t.number, t.null]);

export const SlaWorkflowComplianceCodec = t.type({ total: Count, recovered: Count, withinDeadline: Count, breached: Count }, 'SlaWorkflowCompliance');

export const SlaComplianceReportCodec = t.type({
  sla: t.string,
  /** Finished recoveries recorded under this SLA. */
  total: Count,
  recovered: Count,
  partial: Count,
  failed: Count,
  escalated: Count,
  skipped: Count,
  cancelled: Count,
  /** Finished recoveries that had a deadline (skipped and cancelled ones excepted): the ratio's denominator. */
  withDeadline: Count,
  withinDeadline: Count,
  /** Recoveries whose deadline passed, once each, running ones included. */
  breached: Count,
  /** withinDeadline / withDeadline; null when no recovery had a deadline. */
  compliance: SecondsOrNull,
  /** Times to recover the percentiles are taken from (recovered recoveries, at most DURATION_SAMPLES). */
  samples: Count,
  p50Seconds: SecondsOrNull,
  p95Seconds: SecondsOrNull,
  maxSeconds: SecondsOrNull,
  /** The same counts per workflow run under this SLA. */
  workflows: t.record(t.string, SlaWorkflowComplianceCodec),
}, 'SlaComplianceReport');
export type SlaComplianceReport = t.TypeOf<typeof SlaComplianceReportCodec>;
export const SlaComplianceReportsCodec = t.array(SlaComplianceReportCodec, 'SlaComplianceReports');

const WORKFLOW_FIELD = 'workflow:';

/**
 * KEYS: counts, durations, marks, index. ARGV: sla, workflow, outcome, seconds, has a deadline (1/0), breached
 * at the end (1/0), samples kept. The marks hash makes both the record and the breach count once per recovery.
 */
const RECORD = `
if redis.call('HSETNX', KEYS[3], 'recorded', '1') == 0 then return 0 end
local wf = '${WORKFLOW_FIELD}' .. ARGV[2] .. ':'
local outcome = ARGV[3]
local breached = ARGV[6] == '1' or redis.call('HEXISTS', KEYS[3], 'breached') == 1
if ARGV[6] == '1' and redis.call('HSETNX', KEYS[3], 'breached', '1') == 1 then
  redis.call('HINCRBY', KEYS[1], 'breached', 1)
  redis.call('HINCRBY', KEYS[1], wf .. 'breached', 1)
end
redis.call('HINCRBY', KEYS[1], 'total', 1)
redis.call('HINCRBY', KEYS[1], wf .. 'total', 1)
redis.call('HINCRBY', KEYS[1], outcome, 1)
if outcome == 'recovered' then
  redis.call('HINCRBY', KEYS[1], wf .. 'recovered', 1)
  redis.call('LPUSH', KEYS[2], ARGV[4])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[7]) - 1)
end
if ARGV[5] == '1' and outcome ~= 'skipped' and outcome ~= 'cancelled' then
  redis.call('HINCRBY', KEYS[1], 'withDeadline', 1)
  if outcome == 'recovered' and not breached then
    redis.call('HINCRBY', KEYS[1], 'withinDeadline', 1)
    redis.call('HINCRBY', KEYS[1], wf .. 'withinDeadline', 1)
  end
end
redis.call('SADD', KEYS[4], ARGV[1])
return 1
`;

/** KEYS: counts, marks, index. ARGV: sla, workflow. */
const BREACH = `
if redis.call('HEXISTS', KEYS[2], 'recorded') == 1 then return 0 end
if redis.call('HSETNX', KEYS[2], 'breached', '1') == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'breached', 1)
redis.call('HINCRBY', KEYS[1], '${WORKFLOW_FIELD}' .. ARGV[2] .. ':breached', 1)
redis.call('SADD', KEYS[3], ARGV[1])
return 1
`;

export class SlaCompliance {
  private readonly samples: number;

  constructor(private readonly redis: Redis, private readonly keys: Keys, options: { readonly durationSamples?: number } = {}) {
    this.samples = Math.max(1, Math.floor(options.durationSamples ?? DURATION_SAMPLES));
  }

  /**
   * Adds a finished recovery's entry to `multi` (the MULTI that finishes the recovery, so the two are written
   * together). Throws RSR_INPUT_INVALID, before touching `multi`, on a malformed entry.
   */
  record(multi: ChainableCommander, entry: SlaComplianceEntry): ChainableCommander {
    const e = decodeOrThrow(SlaComplianceEntryCodec, entry, 'SLA compliance entry');
    const breached = e.breached || (e.deadlineSeconds !== null && e.seconds > e.deadlineSeconds);
    multi.eval(
      RECORD, 4,
      this.keys.slaCounts(e.sla), this.keys.slaDurations(e.sla), this.keys.slaMarks(e.recoveryId), this.keys.slaIndex(),
      e.sla, e.workflow, e.outcome, String(Math.round(e.seconds * 1000) / 1000), e.deadlineSeconds === null ? '0' : '1', breached ? '1' : '0', this.samples,
    );
    return multi;
  }

  /**
   * Adds a deadline breach noticed while the recovery still runs to `multi`. Counted once per recovery, and
   * not at all once the recovery's entry is recorded (its `breached` decided then).
   */
  recordBreach(multi: ChainableCommander, breach: SlaBreach): ChainableCommander {
    multi.eval(BREACH, 3, this.keys.slaCounts(breach.sla), this.keys.slaMarks(breach.recoveryId), this.keys.slaIndex(), breach.sla, breach.workflow);
    return multi;
  }

  /** One report per SLA with records, by SLA name. */
  async report(): Promise<SlaComplianceReport[]> {
    const slas = (await this.redis.smembers(this.keys.slaIndex())).sort();
    if (slas.length === 0) return [];
    const multi = this.redis.multi();
    for (const sla of slas) multi.hgetall(this.keys.slaCounts(sla)).lrange(this.keys.slaDurations(sla), 0, -1);
    const replies = (await multi.exec()) ?? [];
    return slas.map((sla, i) => {
      const [countsErr, counts] = replies[2 * i] ?? [];
      const [samplesErr, samples] = replies[2 * i + 1] ?? [];
      if (countsErr) throw countsErr;
      if (samplesErr) throw samplesErr;
      return summarize(sla, (counts ?? {}) as Record<string, string>, (samples ?? []) as string[]);
    });
  }
}

function summarize(sla: string, counts: Record<string, string>, samples: string[]): SlaComplianceReport {
  const n = (field: string) => Number(counts[field] ?? 0);
  const sorted = samples.map(Number).sort((a, b) => a - b);
  const workflows: Record<string, t.TypeOf<typeof SlaWorkflowComplianceCodec>> = {};
  for (const field of Object.keys(counts)) {
    if (!field.startsWith(WORKFLOW_FIELD)) continue;
    // The workflow name is between the prefix and the last colon (names are kebab-case, but do not rely on it).
    const name = field.slice(WORKFLOW_FIELD.length, field.lastIndexOf(':'));
    const w = `${WORKFLOW_FIELD}${name}:`;
    workflows[name] ??= { total: n(`${w}total`), recovered: n(`${w}recovered`), withinDeadline: n(`${w}withinDeadline`), breached: n(`${w}breached`) };
  }
  const withDeadline = n('withDeadline');
  return {
    sla,
    total: n('total'),
    recovered: n('recovered'),
    partial: n('partial'),
    failed: n('failed'),
    escalated: n('escalated'),
    skipped: n('skipped'),
    cancelled: n('cancelled'),
    withDeadline,
    withinDeadline: n('withinDeadline'),
    breached: n('breached'),
    compliance: withDeadline > 0 ? n('withinDeadline') / withDeadline : null,
    samples: sorted.length,
    p50Seconds: percentile(sorted, 50),
    p95Seconds: percentile(sorted, 95),
    maxSeconds: sorted.length > 0 ? sorted[sorted.length - 1]! : null,
    workflows,
  };
}

/** Nearest rank: the smallest sample with at least p % of the samples at or below it. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}
