import test from 'ava';
import { isRight } from 'fp-ts/Either';
import type { Outcome } from '../../../src/domain';
import { Keys } from '../../../src/engine/keys';
import { percentile, SlaCompliance, SlaComplianceReportsCodec } from '../../../src/engine/sla-compliance';
import type { SlaComplianceEntry, SlaComplianceReport } from '../../../src/engine/sla-compliance';
import { useRedis } from '../../helpers/redis';

const redis = useRedis(test);

function setup(options: { durationSamples?: number } = {}) {
  const client = redis.connection();
  const compliance = new SlaCompliance(client, new Keys(redis.newPrefix()), options);
  let n = 0;
  const entry = (sla: string, outcome: Outcome, seconds: number, deadlineSeconds: number | null, more: Partial<SlaComplianceEntry> = {}): SlaComplianceEntry =>
    ({ recoveryId: `rec-${++n}`, sla, workflow: 'fence-then-evacuate', outcome, seconds, deadlineSeconds, breached: false, ...more });
  const record = async (...entries: SlaComplianceEntry[]) => {
    const multi = client.multi();
    for (const e of entries) compliance.record(multi, e);
    await multi.exec();
  };
  const breach = async (recoveryId: string, sla = 'gold', workflow = 'fence-then-evacuate') => {
    await compliance.recordBreach(client.multi(), { recoveryId, sla, workflow }).exec();
  };
  const reportOf = async (sla: string): Promise<SlaComplianceReport | undefined> => (await compliance.report()).find((r) => r.sla === sla);
  return { client, compliance, entry, record, breach, reportOf };
}

test('counts, compliance ratio and times to recover per SLA, exactly', async (t) => {
  const { compliance, entry, record } = setup();
  await record(
    entry('gold', 'recovered', 100, 900, { workflow: 'restart-in-place' }),
    entry('gold', 'recovered', 200, 900, { workflow: 'restart-in-place' }),
    entry('gold', 'recovered', 300, 900),
    // Over the deadline: breached even though the caller did not say so.
    entry('gold', 'recovered', 1000, 900),
    entry('gold', 'failed', 50, 900),
    entry('gold', 'escalated', 950, 900, { breached: true }),
    // Nothing owed: out of the ratio, but counted.
    entry('gold', 'skipped', 10, 900),
    entry('gold', 'cancelled', 20, 900),
    entry('gold', 'partial', 400, 900),
    entry('best-effort', 'recovered', 60, null, { workflow: 'restart-in-place' }),
    entry('best-effort', 'recovered', 30, null, { workflow: 'restart-in-place' }),
    entry('best-effort', 'failed', 5, null, { workflow: 'restart-in-place' }),
  );

  const reports = await compliance.report();
  t.true(isRight(SlaComplianceReportsCodec.decode(reports)), 'the report matches its codec');
  t.deepEqual(reports.map((r) => r.sla), ['best-effort', 'gold']);
  t.deepEqual(reports[1], {
    sla: 'gold', total: 9, recovered: 4, partial: 1, failed: 1, escalated: 1, skipped: 1, cancelled: 1,
    withDeadline: 7, withinDeadline: 3, breached: 2, compliance: 3 / 7,
    samples: 4, p50Seconds: 200, p95Seconds: 1000, maxSeconds: 1000,
    workflows: {
      'restart-in-place': { total: 2, recovered: 2, withinDeadline: 2, breached: 0 },
      'fence-then-evacuate': { total: 7, recovered: 2, withinDeadline: 1, breached: 2 },
    },
  });
  t.deepEqual(reports[0], {
    sla: 'best-effort', total: 3, recovered: 2, partial: 0, failed: 1, escalated: 0, skipped: 0, cancelled: 0,
    withDeadline: 0, withinDeadline: 0, breached: 0, compliance: null,
    samples: 2, p50Seconds: 30, p95Seconds: 60, maxSeconds: 60,
    workflows: { 'restart-in-place': { total: 3, recovered: 2, withinDeadline: 0, breached: 0 } },
  });
});

test('percentiles are nearest-rank over the latest samples only', async (t) => {
  const { entry, record, reportOf } = setup({ durationSamples: 20 });
  // 1..20 s, shuffled: order of arrival does not matter.
  await record(...[7, 3, 20, 1, 15, 9, 12, 4, 18, 2, 11, 6, 14, 5, 19, 8, 16, 10, 13, 17].map((s) => entry('silver', 'recovered', s, 1800)));
  t.like(await reportOf('silver'), { samples: 20, p50Seconds: 10, p95Seconds: 19, maxSeconds: 20, withinDeadline: 20, compliance: 1 });

  // Five more, each 100 s: the five oldest samples (7, 3, 20, 1, 15) are dropped, the counters keep everything.
  await record(...[1, 2, 3, 4, 5].map(() => entry('silver', 'recovered', 100, 1800)));
  t.like(await reportOf('silver'), { total: 25, samples: 20, p50Seconds: 13, p95Seconds: 100, maxSeconds: 100 });

  t.is(percentile([], 50), null);
  t.is(percentile([42], 95), 42);
  t.is(percentile([1, 2, 3, 4], 50), 2);
});

test('a breach is counted once per recovery: by the timer, the final record, or both', async (t) => {
  const { entry, record, breach, reportOf } = setup();

  // Noticed while running (twice: a repeated timer), then finished late: one breach, not within the deadline.
  const late = entry('gold', 'recovered', 1200, 900, { breached: true });
  await breach(late.recoveryId);
  await breach(late.recoveryId);
  t.like(await reportOf('gold'), { breached: 1, total: 0 }, 'a running recovery past its deadline already counts');
  await record(late);
  t.like(await reportOf('gold'), { breached: 1, total: 1, withinDeadline: 0 });

  // The timer's word stands even if the final record says it was in time.
  const contradicted = entry('gold', 'recovered', 100, 900);
  await breach(contradicted.recoveryId);
  await record(contradicted);
  t.like(await reportOf('gold'), { breached: 2, total: 2, withinDeadline: 0, withDeadline: 2 });

  // A timer firing after the recovery was recorded in time counts nothing.
  const inTime = entry('gold', 'recovered', 100, 900);
  await record(inTime);
  await breach(inTime.recoveryId);
  t.like(await reportOf('gold'), { breached: 2, total: 3, withinDeadline: 1 });

  // A replayed finish counts nothing either.
  await record(inTime, late);
  t.like(await reportOf('gold'), { breached: 2, total: 3, withinDeadline: 1, samples: 3, compliance: 1 / 3 });
});

test('an empty report, and a malformed entry refused before anything is written', async (t) => {
  const { client, compliance, entry } = setup();
  t.deepEqual(await compliance.report(), []);
  const multi = client.multi();
  const queued = multi.length;
  t.throws(() => compliance.record(multi, entry('gold', 'recovered', -1, 900)), { code: 'RSR_INPUT_INVALID', message: /seconds/ });
  t.throws(() => compliance.record(multi, { ...entry('gold', 'recovered', 1, 900), outcome: 'fine' as Outcome }), { code: 'RSR_INPUT_INVALID', message: /outcome/ });
  t.is(multi.length, queued, 'nothing was added to the MULTI');
  await multi.exec();
  t.deepEqual(await compliance.report(), []);
});
