/**
 * verifyFenced's liveness check, on a manual clock against a modelled Nova: `updated_at` stored to the second
 * (truncated, as MariaDB does), the answer's `Date` to the second. What is asserted is the wait the step
 * chose (its audit details, and when the readings happened on the manual clock), never wall time.
 */
import test from 'ava';
import pino from 'pino';
import type { ComputeService, HostName, IsoTime } from '../../../src/domain';
import type { StepContext } from '../../../src/plugins/api';
import { cloudClockProblem, CLOCK_MARGIN_SECONDS, livenessWait, verifyFenced } from '../../../src/steps/verify-fenced';
import { ManualClock } from '../../helpers/manual-clock';

const iso = (ms: number) => new Date(ms).toISOString() as IsoTime;
const second = (ms: number) => Math.floor(ms / 1000) * 1000;
/** The first reading happens here: 10:00:00.300, off the second, so that rounding is exercised. */
const T0 = Date.UTC(2026, 2, 1, 10, 0, 0, 300);

interface NovaModel {
  /** The host's last heartbeat at `now` (ms), or null if it never sent one. */
  lastHeartbeat(now: number): number | null;
  /** The `Date` of the n-th answer (0-based) at `now`; undefined for none. Default: `now`. */
  date?(now: number, n: number): number | undefined;
}

/** A host that stopped heartbeating at `at`. */
const deadSince = (at: number): NovaModel => ({ lastHeartbeat: () => at });
/** A live nova-compute heartbeating every `intervalMs`, one of its heartbeats at `phaseAt`. */
const alive = (intervalMs: number, phaseAt: number): NovaModel => ({
  lastHeartbeat: (now) => phaseAt + Math.floor((now - phaseAt) / intervalMs) * intervalMs,
});

interface Run {
  readonly ok: boolean;
  readonly error?: { code?: string; message: string; details?: Record<string, unknown> };
  /** When each getService answered, ms after T0 on the manual clock. */
  readonly reads: number[];
  readonly audits: { message: string; details?: Record<string, unknown> }[];
  readonly fences: number;
  /** The details of the confirmation line. */
  readonly confirmed?: Record<string, unknown>;
  readonly confirmation?: string;
}

async function run(nova: NovaModel, windowSeconds = 12, extraParams: Record<string, unknown> = {}): Promise<Run> {
  const clock = new ManualClock(T0);
  const reads: number[] = [];
  const audits: { message: string; details?: Record<string, unknown> }[] = [];
  let fences = 0;
  const getService = async (): Promise<ComputeService> => {
    const now = clock.now();
    const n = reads.length;
    reads.push(now - T0);
    const heartbeat = nova.lastHeartbeat(now);
    const date = nova.date ? nova.date(now, n) : now;
    return {
      host: 'h1' as HostName, state: 'down', status: 'enabled', forcedDown: false,
      updatedAt: iso(heartbeat === null ? 0 : second(heartbeat)),
      ...(date === undefined ? {} : { observedAt: iso(second(date)) }),
    };
  };
  const context = {
    drivers: { cloud: { getService }, fencing: { status: async () => 'off' } },
    engine: {
      audit: async (message: string, details?: Record<string, unknown>) => void audits.push({ message, details }),
      recordFence: async () => void fences++,
    },
    recovery: { recoveryId: 'rec-1', incidentId: 'inc-1', workflow: 'fence-then-evacuate', subject: { host: 'h1' }, params: { livenessWaitSeconds: windowSeconds, ...extraParams } },
    signal: new AbortController().signal,
    clock,
    log: pino({ level: 'silent' }),
    attempt: 1,
    lastAttempt: false,
  } as unknown as StepContext;
  const outcome = verifyFenced.run({ host: 'h1', level: 1, devices: ['bmc'], alreadyOff: false }, context).then(
    () => ({ ok: true as const }),
    (error: Run['error']) => ({ ok: false as const, error }),
  );
  await clock.advance(120_000);
  const result = await outcome;
  const line = audits.find((a) => a.message.startsWith('power-off of h1 confirmed'));
  return { ...result, reads, audits, fences, confirmed: line?.details, confirmation: line?.message };
}

// ---- the pure computation ------------------------------------------------------------------------------

const reading = (heartbeatMs: number, observedMs?: number) => ({ updatedAt: iso(heartbeatMs), ...(observedMs === undefined ? {} : { observedAt: iso(observedMs) }) });

test('livenessWait: max(0, window − age + margin) on the cloud\'s clock; the fixed window when the age cannot be read', (t) => {
  t.is(CLOCK_MARGIN_SECONDS, 1);
  t.deepEqual(livenessWait(reading(T0 - 14_000, T0), 12), { basis: 'age', ageMs: 14_000, windowMs: 12_000, marginMs: 1000, waitMs: 0 });
  t.like(livenessWait(reading(T0 - 13_000, T0), 12), { basis: 'age', waitMs: 0 }, 'silent for window + margin: no wait');
  t.like(livenessWait(reading(T0 - 12_000, T0), 12), { basis: 'age', waitMs: 1000 }, 'silent for the window exactly: the margin still');
  t.like(livenessWait(reading(T0 - 1000, T0), 12), { basis: 'age', ageMs: 1000, waitMs: 12_000 }, '1 s old: window − 1 + margin');
  t.like(livenessWait(reading(T0, T0), 12), { basis: 'age', ageMs: 0, waitMs: 13_000 });
  t.like(livenessWait(reading(T0 + 700, T0), 12), { basis: 'age', ageMs: -700, waitMs: 13_700 }, 'a heartbeat dated a little after the answer (rounding): a longer wait');
  t.like(livenessWait(reading(T0 - 250, T0), 0.01), { basis: 'age', waitMs: 760 });
  // No floor on the age-based wait, a floor of 5 ms on the fixed one (as before).
  t.like(livenessWait(reading(T0 - 60_000, T0), 0.001), { basis: 'age', waitMs: 0 });
  t.like(livenessWait(reading(T0 - 60_000), 0.001), { basis: 'fixed', waitMs: 5 });

  t.like(livenessWait(reading(T0 - 60_000), 12), { basis: 'fixed', waitMs: 12_000, reason: 'the cloud did not say when it answered (no readable Date)' });
  t.like(livenessWait(reading(0, T0), 12), { basis: 'fixed', waitMs: 12_000, reason: 'the cloud has no heartbeat time on record' }, 'updated_at null reads as the epoch');
  t.like(livenessWait(reading(T0 + 1001, T0), 12), { basis: 'fixed', waitMs: 12_000 }, 'a heartbeat after the answer, beyond the margin: the clocks disagree');
  t.regex((livenessWait(reading(T0 + 5000, T0), 12) as { reason: string }).reason, /dated 5 s after the cloud's answer: its clocks disagree/);
});

test('cloudClockProblem: the cloud\'s Date must advance at least the wait less the margin', (t) => {
  const at = (ms: number) => ({ observedAt: iso(ms) });
  t.is(cloudClockProblem(at(T0), at(T0 + 8000), 8000), undefined);
  t.is(cloudClockProblem(at(T0), at(T0 + 7000), 8000), undefined, 'whole-second Dates: one second less is one clock');
  t.is(cloudClockProblem(at(T0), at(T0 + 6999), 8000), 'the cloud\'s clock advanced 6.999 s while we waited 8 s: its answers are not on one clock');
  t.regex(cloudClockProblem(at(T0 + 5000), at(T0 + 3000), 3000) ?? '', /advanced -2 s/, 'a later answer dated earlier');
  t.regex(cloudClockProblem(at(T0 + 5000), at(T0), 0) ?? '', /advanced -5 s while we waited 0 s/, 'even without a wait');
  t.regex(cloudClockProblem(at(T0), {}, 8000) ?? '', /no readable Date/, 'a second answer without Date is not trusted');
  t.is(cloudClockProblem({}, {}, 8000), undefined, 'no first Date: the fixed wait anyway');
  t.is(cloudClockProblem(at(T0), at(T0), 0), undefined);
});

// ---- the step on a manual clock ------------------------------------------------------------------------

test('verifyFenced: a host silent for longer than the window is confirmed without waiting the window', async (t) => {
  const r = await run(deadSince(T0 - 30_000));
  t.true(r.ok, r.error?.message);
  t.deepEqual(r.reads, [0, 0], 'the second reading at once, but a second reading all the same');
  t.like(r.confirmed, { basis: 'age', heartbeatAgeSeconds: 30, windowSeconds: 12, marginSeconds: 1, waitedSeconds: 0, readings: 2, silentSeconds: 30 });
  t.is(r.confirmation, 'power-off of h1 confirmed: status off, no heartbeat for 30 s (window 12 s; it was 30 s old at the first reading, waited 0 s)');
  t.is(r.fences, 1);
});

test('verifyFenced: a host that heartbeated 1 s before the first reading waits window − 1 + margin', async (t) => {
  const r = await run(deadSince(T0 - 1000));
  t.true(r.ok, r.error?.message);
  const expected = 12 - 1 + CLOCK_MARGIN_SECONDS;
  t.like(r.confirmed, { basis: 'age', heartbeatAgeSeconds: 1, waitedSeconds: expected, silentSeconds: 13 });
  t.deepEqual(r.reads, [0, expected * 1000]);
  t.regex(r.confirmation ?? '', /no heartbeat for 13 s \(window 12 s; it was 1 s old at the first reading, waited 12 s\)$/);
});

test('verifyFenced: a host whose heartbeat is fresh waits the window and the margin; one about to beat its next is not confirmed early', async (t) => {
  t.deepEqual((await run(deadSince(T0))).reads, [0, 13_000]);
  t.deepEqual((await run(deadSince(T0 - 11_000))).reads, [0, 2000]);
});

test('verifyFenced: a BMC that lies "off" while nova-compute heartbeats is refused, whatever the heartbeat\'s age at the first reading', async (t) => {
  // Every report_interval up to the window, every phase of the heartbeat against the first reading.
  for (const intervalMs of [1000, 5000, 10_000, 12_000]) {
    for (let phase = 0; phase < intervalMs; phase += 100) {
      const r = await run(alive(intervalMs, T0 - phase));
      if (r.ok || r.error?.code !== 'RSR_FENCE_UNCONFIRMED') {
        t.fail(`interval ${intervalMs} ms, last heartbeat ${phase} ms before the first reading: ${r.ok ? `confirmed (${r.confirmation})` : r.error?.message}`);
        return;
      }
      t.is(r.fences, 0);
    }
  }
  const r = await run(alive(10_000, T0 - 4000));
  t.regex(r.error?.message ?? '', /h1 reads off but its nova-compute still heartbeats/);
  t.like(r.error?.details, { basis: 'age', heartbeatAgeSeconds: 4, windowSeconds: 12, waitedSeconds: 9 });
});

test('verifyFenced: without a Date (observedAt unknown) the fixed wait, both readings after the fence', async (t) => {
  const r = await run({ ...deadSince(T0 - 30_000), date: () => undefined });
  t.true(r.ok);
  t.deepEqual(r.reads, [0, 12_000]);
  t.like(r.confirmed, { basis: 'fixed', windowSeconds: 12, waitedSeconds: 12, readings: 2 });
  t.false('silentSeconds' in (r.confirmed ?? {}));
  t.regex(r.confirmation ?? '', /no heartbeat in the 12 s between readings after the fence \(window 12 s; fixed wait: the cloud did not say when it answered/);
  const live = await run({ ...alive(10_000, T0 - 9000), date: () => undefined });
  t.is(live.error?.code, 'RSR_FENCE_UNCONFIRMED');
});

test('verifyFenced: a heartbeat dated after the cloud\'s answer (its clocks disagree) takes the fixed wait', async (t) => {
  const r = await run({ ...deadSince(T0 - 2000), date: (now) => now - 5000 });
  t.true(r.ok);
  t.deepEqual(r.reads, [0, 12_000]);
  t.like(r.confirmed, { basis: 'fixed' });
  t.regex(r.confirmation ?? '', /its clocks disagree/);
});

test('verifyFenced: answers not on one clock (an API node 5 s ahead) ⇒ the fixed wait after all, and a live host is still caught', async (t) => {
  // The first answer comes from a node whose clock is 5 s ahead: the heartbeat looks 5 s older than it is.
  const skewed = (model: NovaModel): NovaModel => ({ ...model, date: (now, n) => (n === 0 ? now + 5000 : now) });
  const live = await run(skewed(alive(10_000, T0 - 5000)));
  t.is(live.error?.code, 'RSR_FENCE_UNCONFIRMED', 'the age alone would have confirmed: the second reading came before the next heartbeat');
  t.deepEqual(live.reads, [0, 3000, 15_000]);
  t.true(live.audits.some((a) => /the cloud's clock advanced -2 s while we waited 3 s: its answers are not on one clock; waiting the full window \(12 s\) instead/.test(a.message)));
  // A second answer without a Date (a node that sends none) cannot vouch for the first one's clock.
  const undated = await run({ ...alive(10_000, T0 - 5000), date: (now, n) => (n === 0 ? now + 5000 : undefined) });
  t.is(undated.error?.code, 'RSR_FENCE_UNCONFIRMED');
  t.deepEqual(undated.reads, [0, 3000, 15_000]);

  const dead = await run(skewed(deadSince(T0 - 5000)));
  t.true(dead.ok);
  t.deepEqual(dead.reads, [0, 3000, 15_000]);
  t.like(dead.confirmed, { basis: 'fixed', waitedSeconds: 15, readings: 3 });
});

test('verifyFenced: livenessUseHeartbeatAge: false ⇒ always the fixed wait (a cloud whose clocks cannot be vouched for)', async (t) => {
  const r = await run(deadSince(T0 - 30_000), 12, { livenessUseHeartbeatAge: false });
  t.true(r.ok);
  t.deepEqual(r.reads, [0, 12_000]);
  t.like(r.confirmed, { basis: 'fixed', waitedSeconds: 12, reason: 'the heartbeat\'s age is not used (livenessUseHeartbeatAge: false)' });
  t.deepEqual((await run(deadSince(T0 - 30_000), 12, { livenessUseHeartbeatAge: 'no' })).reads, [0, 0], 'only false turns it off');
});
