/**
 * What every FencingDriver must do. The harness provides, for each of FENCING_CONTRACT_HOSTS, two levels of
 * one device each: level 1 the host's BMC, level 2 its PDU outlet; a per-device call timeout (`deviceTimeoutMs`,
 * 1.5 s unless it says otherwise: the hung-BMC test allows two of them plus 10 s for a whole fence, far less than a hang); and a backdoor to read the real power and to make
 * devices misbehave. Nothing here assumes a particular implementation: a simulated BMC and a real fence agent
 * driving a status file must both pass.
 */
import type { ExecutionContext, TestFn } from 'ava';
import type { FenceAttempt, FencingDriver } from '../../src/drivers/fencing/port';
import { eventually } from './eventually';

export type DeviceFaultKind = 'bmc-stuck-on' | 'bmc-lies-off' | 'bmc-unreachable' | 'bmc-unknown' | 'bmc-hangs';

export interface FencingWorldBackdoor {
  /** Real power of the host. */
  hostPower(host: string): 'on' | 'off' | Promise<'on' | 'off'>;
  /** Powers the host off behind the fencing driver's back (it crashed, someone pulled the plug). */
  powerOff(host: string): void | Promise<void>;
  /** Makes the level-1 device (`bmc`) or level-2 device (`pdu`) of a host misbehave. */
  injectFault(spec: { kind: DeviceFaultKind; host: string; device?: 'bmc' | 'pdu' }): string | Promise<string>;
}

export interface FencingHarness {
  readonly driver: FencingDriver;
  readonly world: FencingWorldBackdoor;
  /**
   * True when a device that cannot tell the power state fails its status call instead of answering
   * `unknown`: a fence agent's `status` has only on (exit 0), off (exit 2) and error (exit 1). Default false
   * (the simulated BMC answers `unknown`).
   */
  readonly unknownIsAnError?: boolean;
  /** The per-device call timeout the driver was given (default 1500 ms). */
  readonly deviceTimeoutMs?: number;
  teardown(): Promise<void>;
}

export const FENCING_CONTRACT_HOSTS = ['node-1', 'node-2'] as const;
const HOST = FENCING_CONTRACT_HOSTS[0];

/**
 * `cannot`: faults the harness's world cannot produce, with why (a real BMC cannot be told to ignore a
 * power-off). The tests that need one are registered as skipped with that reason in their title, never left
 * out silently.
 */
export function fencingDriverContract(
  test: TestFn, name: string, makeHarness: () => Promise<FencingHarness>, cannot: Readonly<Partial<Record<DeviceFaultKind, string>>> = {},
): void {
  const run = (title: string, body: (t: ExecutionContext, h: FencingHarness) => Promise<void>, needs: readonly DeviceFaultKind[] = []) => {
    const missing = needs.filter((kind) => cannot[kind] !== undefined);
    if (missing.length > 0) {
      test.skip(`${name} fencing contract: ${title} (not here: ${missing.map((kind) => `${kind}: ${cannot[kind]}`).join('; ')})`, () => undefined);
      return;
    }
    test(`${name} fencing contract: ${title}`, async (t) => {
      const harness = await makeHarness();
      try {
        await body(t, harness);
      } finally {
        await harness.teardown();
      }
    });
  };

  const offAttempts = (attempts: readonly FenceAttempt[], level: number) => attempts.filter((a) => a.level === level && a.action === 'off');

  run('topology names the devices of each level in order', async (t, { driver }) => {
    const levels = driver.topology(HOST);
    t.is(levels.length, 2);
    t.is(levels[0]?.length, 1);
    t.is(levels[1]?.length, 1);
    t.not(levels[0]?.[0], levels[1]?.[0]);
    t.deepEqual(driver.topology('node-unknown'), []);
  });

  run('fence powers the host off at level 1 and status then reads off', async (t, { driver, world }) => {
    t.is(await driver.status(HOST), 'on');
    const report = await driver.fence(HOST);
    t.like(report, { host: HOST, level: 1, alreadyOff: false });
    t.deepEqual(report.devices, driver.topology(HOST)[0]);
    t.true(offAttempts(report.attempts, 1).every((a) => a.ok));
    t.is(offAttempts(report.attempts, 1).length, 1);
    t.is(await world.hostPower(HOST), 'off');
    t.is(await driver.status(HOST), 'off');
    t.is(await world.hostPower(FENCING_CONTRACT_HOSTS[1]), 'on', 'fencing one host leaves the others alone');
  });

  run('a host already off counts as fenced, without an off request', async (t, { driver, world }) => {
    await world.powerOff(HOST);
    const report = await driver.fence(HOST);
    t.like(report, { level: 1, alreadyOff: true });
    t.is(offAttempts(report.attempts, 1).length, 0);
    t.true(report.attempts.some((a) => a.action === 'status' && a.result === 'off'));
  });

  run('a BMC stuck on fails level 1 and level 2 fences', async (t, { driver, world }) => {
    await world.injectFault({ kind: 'bmc-stuck-on', host: HOST });
    const report = await driver.fence(HOST);
    t.like(report, { level: 2, alreadyOff: false });
    t.deepEqual(report.devices, driver.topology(HOST)[1]);
    t.true(report.attempts.some((a) => a.level === 1 && a.action === 'status' && a.result === 'on'));
    t.is(await world.hostPower(HOST), 'off');
  }, ['bmc-stuck-on']);

  run('an unreachable BMC fails level 1 with the error recorded; level 2 fences', async (t, { driver, world }) => {
    await world.injectFault({ kind: 'bmc-unreachable', host: HOST });
    const report = await driver.fence(HOST);
    t.is(report.level, 2);
    const failed = report.attempts.filter((a) => a.level === 1 && !a.ok);
    t.true(failed.length > 0);
    t.true(failed.every((a) => typeof a.error === 'string' && a.error.length > 0));
  });

  run('a hung BMC times out and fails its level instead of hanging the fence', async (t, { driver, world, deviceTimeoutMs = 1500 }) => {
    await world.injectFault({ kind: 'bmc-hangs', host: HOST });
    const started = Date.now();
    const report = await driver.fence(HOST);
    t.is(report.level, 2);
    // Level 1 spends at most two timeouts (its status read, then its off); level 2's agents then start and
    // fence, which takes seconds on a busy machine. A hang would last until the test's own timeout.
    t.true(Date.now() - started < 2 * deviceTimeoutMs + 10_000);
    t.true(report.attempts.some((a) => a.level === 1 && !a.ok && /answer|time/i.test(a.error ?? '')));
  });

  run('when every level fails: RSR_FENCE_FAILED, not retryable, with every attempt', async (t, { driver, world }) => {
    await world.injectFault({ kind: 'bmc-unreachable', host: HOST });
    await world.injectFault({ kind: 'bmc-stuck-on', host: HOST, device: 'pdu' });
    const error = await t.throwsAsync(driver.fence(HOST));
    t.like(error, { code: 'RSR_FENCE_FAILED', retryable: false });
    const details = (error as unknown as { details: { host: string; attempts: FenceAttempt[] } }).details;
    t.is(details.host, HOST);
    t.true(details.attempts.some((a) => a.level === 1 && !a.ok));
    t.true(details.attempts.some((a) => a.level === 2 && a.action === 'status' && a.result === 'on'));
    t.is(await world.hostPower(HOST), 'on');
  }, ['bmc-unreachable', 'bmc-stuck-on']);

  run('a device answering unknown is never taken as off', async (t, { driver, world, unknownIsAnError }) => {
    await world.injectFault({ kind: 'bmc-unknown', host: HOST });
    const before = await driver.status(HOST);
    // An agent's error makes status fall through to level 2, which reads the real power (on).
    if (unknownIsAnError) t.is(before, 'on');
    else t.is(before, 'unknown');
    const report = await driver.fence(HOST);
    t.is(report.level, 2, 'level 1 could not confirm off');
    const level1 = report.attempts.filter((a) => a.level === 1 && a.action === 'status');
    t.true(level1.length > 0);
    t.false(level1.some((a) => a.result === 'off'));
    if (unknownIsAnError) t.true(level1.every((a) => !a.ok && typeof a.error === 'string' && a.error.length > 0));
    else t.true(level1.some((a) => a.result === 'unknown'));
    t.not(await driver.status(HOST), 'on');
  });

  run('fence of a host without devices fails with RSR_FENCE_FAILED', async (t, { driver }) => {
    await t.throwsAsync(driver.fence('node-unknown'), { code: 'RSR_FENCE_FAILED' });
    t.is(await driver.status('node-unknown'), 'unknown');
  });

  run('unfence powers a fenced host back on', async (t, { driver, world }) => {
    await driver.fence(HOST);
    await driver.unfence(HOST);
    await eventually(async () => world.hostPower(HOST), (p) => p === 'on', { what: 'power on' });
    t.is(await driver.status(HOST), 'on');
  });

  run('an aborted signal rejects with its reason and powers nothing off', async (t, { driver, world }) => {
    const controller = new AbortController();
    const reason = new Error('recovery cancelled');
    controller.abort(reason);
    t.is(await t.throwsAsync(driver.fence(HOST, { signal: controller.signal })), reason);
    t.is(await world.hostPower(HOST), 'on');
  });
}
