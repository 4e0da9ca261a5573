import test from 'ava';
import type { ChainableCommander } from 'ioredis';
import type { AuditRecord } from '../../../src/domain';
import { isoNow } from '../../../src/domain';
import { Keys } from '../../../src/engine/keys';
import { bucketOf, MetricsRecorder, metricsKeys } from '../../../src/engine/metrics-recorder';

/** A MULTI that keeps the HINCRBYs it is given. */
function recording(): { multi: ChainableCommander; calls: [string, string, number][] } {
  const calls: [string, string, number][] = [];
  const multi = { hincrby: (key: string, field: string, by: number) => { calls.push([key, field, by]); return multi; } };
  return { multi: multi as unknown as ChainableCommander, calls };
}

const base = { at: isoNow(0), incidentId: 'inc-1', recoveryId: 'rec-1', workflow: 'evacuate-instance' } as const;
const keys = metricsKeys(new Keys('p'));

test('bucketOf: the smallest upper bound not below the value, +Inf beyond the last', (t) => {
  t.is(bucketOf(0), '0.01');
  t.is(bucketOf(0.01), '0.01');
  t.is(bucketOf(0.011), '0.05');
  t.is(bucketOf(1), '1');
  t.is(bucketOf(600), '600');
  t.is(bucketOf(600.001), '+Inf');
});

test('a transition: one count for its workflow, one observation of the time spent in `from`', (t) => {
  const { multi, calls } = recording();
  new MetricsRecorder(new Keys('p')).record(multi, { ...base, type: 'transition', from: 'evacuating', to: 'done', durationMs: 1234, message: 'evacuating → done' });
  t.deepEqual(calls, [
    [keys.transitions, '["evacuate-instance"]', 1],
    [keys.stepSeconds, '["evacuate-instance","evacuating","2.5"]', 1],
    [keys.stepSeconds, '["evacuate-instance","evacuating","sum_ms"]', 1234],
  ]);
});

test('a failed attempt that will retry counts per step; other attempt lines do not', (t) => {
  const { multi, calls } = recording();
  const recorder = new MetricsRecorder(new Keys('p'));
  recorder.record(multi, { ...base, type: 'attempt', message: 'step evacuateInstance failed on attempt 1: boom; will retry', details: { step: 'evacuateInstance' } });
  recorder.record(multi, { ...base, type: 'attempt', message: 'attempt 2 resumed at evacuating' });
  t.deepEqual(calls, [[keys.retries, '["evacuate-instance","evacuateInstance"]', 1]]);
});

test('a finish counts by outcome, workflow and SLA (`none` without one); other decisions do not', (t) => {
  const { multi, calls } = recording();
  const recorder = new MetricsRecorder(new Keys('p'));
  const records: AuditRecord[] = [
    { ...base, type: 'decision', outcome: 'recovered', sla: 'gold', message: 'recovery recovered' },
    { ...base, type: 'decision', outcome: 'failed', message: 'recovery failed: boom' },
    { ...base, type: 'decision', message: 'deadline breached: instance vm-a missed SLA gold\'s 300 s deadline' },
    { ...base, type: 'incident', outcome: 'recovered', message: 'incident resolved' },
  ];
  for (const record of records) recorder.record(multi, record);
  t.deepEqual(calls, [
    [keys.recoveries, '["recovered","evacuate-instance","gold"]', 1],
    [keys.recoveries, '["failed","evacuate-instance","none"]', 1],
  ]);
});
