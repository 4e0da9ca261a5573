import * as t from 'io-ts';
import { nonRetryable, type ComputeService } from '../domain';
import { defineStep } from '../plugins/api';
import { secondsParam } from './poll';

/**
 * Does not take the fence agent's word for it: reads the power state back, and looks for signs of life the
 * BMC cannot hide. A live nova-compute heartbeats every report_interval (10 s), and each heartbeat moves its
 * service's `updated_at`; a host that reads off but whose heartbeat moves still runs (a BMC that reports off
 * while the host is up), and the promise "no zombie pets" forbids evacuating then.
 *
 * What is established before confirming: the service has been silent for at least the window
 * (`livenessWaitSeconds`, which must exceed report_interval) up to a reading taken after the power read off,
 * and a second reading, also after it, shows the same last heartbeat. Never one reading alone.
 *
 * How long to wait between the two readings:
 * - The heartbeat's age, on the cloud's clock. The first reading carries `updatedAt` (written on Nova's clock)
 *   and `observedAt` (the `Date` of the same nova-api answer, Nova's clock too, the one Nova itself judges
 *   `updated_at` against to call a service up or down): age = observedAt − updatedAt, without any clock of
 *   ours or any skew between us and the cloud. Waiting max(0, window − age + margin) then puts the second
 *   reading at least window + margin after the last heartbeat: Nova stamped `observedAt` before we received
 *   the answer, and the second read happens after our wait, so that much time passes on any honest clock in
 *   between. This is what the fixed wait established (a window of silence, ending at a reading after the
 *   fence), found without waiting for silence already on record: a host whose heartbeat stopped when it
 *   failed, long before the fence, is confirmed at once; one that heartbeated A s before the first reading
 *   waits window − A + margin. A live host is never A ≥ report_interval old, so it always gets a second
 *   reading after its next heartbeat, and is refused. Hence no floor on this wait: the window is measured,
 *   not assumed. What the fixed wait did besides, and this does not, is keep watching for a whole window
 *   after the fence: a host already silent before it (isolated from Nova's message bus, say) that heartbeats
 *   again just after the first reading was caught by the fixed wait if that happened within the window. Not
 *   a guarantee either gave (neither sees a heartbeat after its last reading, and a host that stays isolated
 *   behind a lying BMC passes both): that is what the power read-back through the level that fenced is for.
 * - The margin (CLOCK_MARGIN_SECONDS, 1 s) absorbs the clocks' granularity so that rounding can only
 *   lengthen the wait: Nova's database keeps `updated_at` to the second (MySQL rounds, MariaDB truncates: at
 *   most 1 s earlier than the heartbeat it records), and `Date` is to the second, truncated by every server,
 *   which only makes the age look younger.
 * - The fixed wait (the window itself) when the age cannot be read on the cloud's clock: no `observedAt` (a
 *   cloud or proxy sending no readable `Date`), no heartbeat time on record, or a heartbeat dated more than the
 *   margin after the answer (the cloud's clocks disagree). Then both readings are taken after the fence, the
 *   window apart, and their `updatedAt` compared, whatever the clocks say.
 * - A cross-check of the cloud's clock after the age-based wait: the second answer's `Date` must have
 *   advanced at least as much as we waited (less the margin). If not (or it has none), its answers are not on
 *   one clock (API nodes behind a load balancer out of step, a clock set back) and the age proves nothing:
 *   the fixed wait is taken from there, and a third reading compared with the first.
 * Assumed, as by Nova itself: the nodes of one Nova keep one time (NTP). The window's lead over
 * report_interval (12 s over 10 s by default) is the room left for heartbeats late in the database, and for
 * skew between the node that writes `updated_at` (nova-conductor with the database servicegroup driver; the
 * compute host itself with the memcache one) and the one that answers. A cloud that cannot vouch for that
 * sets the param `livenessUseHeartbeatAge: false`: always the fixed wait.
 *
 * The simulator heartbeats continuously. On success the evidence is recorded, with the numbers audited;
 * evacuations refuse to start without it.
 */
/** Nova's report_interval is 10 s: a live nova-compute heartbeats at least once in 12 s. */
export const DEFAULT_LIVENESS_WAIT_SECONDS = 12;

/** Added to the age-based wait: Nova's `updated_at` and HTTP `Date` are whole seconds. */
export const CLOCK_MARGIN_SECONDS = 1;

/** Floor of the fixed wait, in ms (kept from before the age-based wait; it only guards against a zero window). */
const FIXED_WAIT_FLOOR_MS = 5;

export type LivenessWait =
  | {
      readonly basis: 'age';
      /** observedAt − updatedAt of the first reading, on the cloud's clock. */
      readonly ageMs: number;
      readonly windowMs: number;
      readonly marginMs: number;
      /** max(0, window − age + margin). */
      readonly waitMs: number;
    }
  | {
      readonly basis: 'fixed';
      readonly windowMs: number;
      readonly waitMs: number;
      /** Why the heartbeat's age was not used. */
      readonly reason: string;
    };

/** The fixed wait: the window itself between two readings (its floor only guards a zero window). */
export function fixedLivenessWait(windowSeconds: number, reason: string): Extract<LivenessWait, { basis: 'fixed' }> {
  const windowMs = Math.round(windowSeconds * 1000);
  return { basis: 'fixed', windowMs, waitMs: Math.max(FIXED_WAIT_FLOOR_MS, windowMs), reason };
}

/** How long to wait after the first reading `first` before the second one. Pure. */
export function livenessWait(first: Pick<ComputeService, 'updatedAt' | 'observedAt'>, windowSeconds: number): LivenessWait {
  if (first.observedAt === undefined) return fixedLivenessWait(windowSeconds, 'the cloud did not say when it answered (no readable Date)');
  const heartbeat = Date.parse(first.updatedAt);
  const observed = Date.parse(first.observedAt);
  if (!(heartbeat > 0)) return fixedLivenessWait(windowSeconds, 'the cloud has no heartbeat time on record');
  if (Number.isNaN(observed)) return fixedLivenessWait(windowSeconds, 'the cloud did not say when it answered (no readable Date)');
  const windowMs = Math.round(windowSeconds * 1000);
  const marginMs = CLOCK_MARGIN_SECONDS * 1000;
  const ageMs = observed - heartbeat;
  if (ageMs < -marginMs) {
    return fixedLivenessWait(windowSeconds, `the last heartbeat is dated ${seconds(-ageMs)} s after the cloud's answer: its clocks disagree`);
  }
  return { basis: 'age', ageMs, windowMs, marginMs, waitMs: Math.max(0, Math.ceil(windowMs - ageMs + marginMs)) };
}

/**
 * After the age-based wait: did the cloud's clock advance as much as we waited? `Date` is whole seconds, so a
 * single clock shows at least `waitMs` − 1 s between two answers `waitMs` apart; less means the answers are
 * not on one clock, and an age read on it proves nothing. A second answer without a readable `Date` cannot be
 * checked: not trusted either. Returns what is wrong, or undefined when the clock holds.
 */
export function cloudClockProblem(first: Pick<ComputeService, 'observedAt'>, second: Pick<ComputeService, 'observedAt'>, waitMs: number): string | undefined {
  if (first.observedAt === undefined) return undefined;
  if (second.observedAt === undefined) return 'the second answer has no readable Date: the cloud\'s clock cannot be checked';
  const advancedMs = Date.parse(second.observedAt) - Date.parse(first.observedAt);
  if (advancedMs >= waitMs - CLOCK_MARGIN_SECONDS * 1000) return undefined;
  return `the cloud's clock advanced ${seconds(advancedMs)} s while we waited ${seconds(waitMs)} s: its answers are not on one clock`;
}

/** Seconds for messages: at most three decimals, no trailing zeros. */
const seconds = (ms: number): string => String(Math.round(ms) / 1000);

export const verifyFenced = defineStep({
  name: 'verifyFenced',
  description: 'Confirm power-off by a status read and by the absence of service heartbeats',
  input: t.type({ host: t.string, level: t.number, devices: t.array(t.string), alreadyOff: t.boolean }),
  timeoutMs: 120_000,
  async run(input, { drivers, engine, clock, signal, recovery }) {
    const host = input.host;
    // Read back through the level that fenced: a stuck BMC at level 1 says nothing about a PDU that cut power.
    const power = await drivers.fencing.status(host, { signal, level: input.level });
    if (power !== 'off') {
      throw nonRetryable('RSR_FENCE_UNCONFIRMED', `power state of ${host} reads "${power}" after fencing`, { details: { host, power } });
    }
    const windowSeconds = secondsParam(recovery.params, 'livenessWaitSeconds', DEFAULT_LIVENESS_WAIT_SECONDS);
    const useAge = recovery.params.livenessUseHeartbeatAge !== false;
    // Every reading is taken after the power read off.
    const before = await drivers.cloud.getService(host, { signal });
    let wait = useAge ? livenessWait(before, windowSeconds) : fixedLivenessWait(windowSeconds, 'the heartbeat\'s age is not used (livenessUseHeartbeatAge: false)');
    let waitedMs = wait.waitMs;
    let readings = 2;
    await clock.sleep(wait.waitMs, signal);
    let after = await drivers.cloud.getService(host, { signal });
    refuseIfMoved(host, power, before, after, wait, waitedMs);
    const clockProblem = wait.basis === 'age' ? cloudClockProblem(before, after, wait.waitMs) : undefined;
    if (clockProblem !== undefined) {
      const fixed = fixedLivenessWait(windowSeconds, clockProblem);
      await engine.audit(`liveness check of ${host}: ${fixed.reason}; waiting the full window (${seconds(fixed.windowMs)} s) instead`, { host, reason: fixed.reason });
      wait = fixed;
      await clock.sleep(wait.waitMs, signal);
      waitedMs += wait.waitMs;
      readings = 3;
      after = await drivers.cloud.getService(host, { signal });
      refuseIfMoved(host, power, before, after, wait, waitedMs);
    }

    const silentMs = after.observedAt !== undefined ? Date.parse(after.observedAt) - Date.parse(after.updatedAt) : undefined;
    const evidence = {
      host,
      basis: wait.basis,
      heartbeatAt: after.updatedAt,
      windowSeconds: wait.windowMs / 1000,
      waitedSeconds: waitedMs / 1000,
      readings,
      ...(wait.basis === 'age' ? { heartbeatAgeSeconds: wait.ageMs / 1000, marginSeconds: wait.marginMs / 1000 } : { reason: wait.reason }),
      ...(wait.basis === 'age' && silentMs !== undefined ? { silentSeconds: silentMs / 1000 } : {}),
    };
    const at = clock.now();
    await engine.recordFence({ host, at, by: 'fencing', report: { host, level: input.level, devices: input.devices, attempts: [], alreadyOff: input.alreadyOff } });
    const window = `window ${seconds(wait.windowMs)} s`;
    const message = wait.basis === 'age'
      ? `power-off of ${host} confirmed: status off, no heartbeat for ${seconds(silentMs ?? wait.ageMs + waitedMs)} s (${window}; it was ${seconds(wait.ageMs)} s old at the first reading, waited ${seconds(waitedMs)} s)`
      : `power-off of ${host} confirmed: status off, no heartbeat in the ${seconds(waitedMs)} s between readings after the fence (${window}; fixed wait: ${wait.reason})`;
    await engine.audit(message, evidence);
    return { host, confirmedAt: at };
  },
});

function refuseIfMoved(host: string, power: string, before: ComputeService, after: ComputeService, wait: LivenessWait, waitedMs: number): void {
  if (Date.parse(after.updatedAt) > Date.parse(before.updatedAt)) {
    throw nonRetryable(
      'RSR_FENCE_UNCONFIRMED',
      `${host} reads off but its nova-compute still heartbeats (last at ${after.updatedAt}): the host is alive`,
      {
        details: {
          host, power, heartbeatBefore: before.updatedAt, heartbeatAfter: after.updatedAt,
          basis: wait.basis, windowSeconds: wait.windowMs / 1000, waitedSeconds: waitedMs / 1000,
          ...(wait.basis === 'age' ? { heartbeatAgeSeconds: wait.ageMs / 1000 } : {}),
        },
      },
    );
  }
}
