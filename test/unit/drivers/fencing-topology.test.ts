import test from 'ava';
import type { PowerState, ResurrectError } from '../../../src/domain';
import type { CallOptions } from '../../../src/drivers/cloud/port';
import type { FenceAttempt, FenceDevice } from '../../../src/drivers/fencing/port';
import { FencingTopology } from '../../../src/drivers/fencing/topology';

interface Behaviour {
  /** What status answers; default: the shared power. */
  status?: PowerState | 'error' | 'hang';
  off?: 'ok' | 'ignore' | 'error' | 'hang';
  on?: 'ok' | 'error';
}

/** A scripted device over a shared power switch; it records its calls and the signals it was given. */
class FakeDevice implements FenceDevice {
  readonly calls: string[] = [];
  readonly signals: AbortSignal[] = [];

  constructor(
    readonly id: string,
    private readonly power: { state: 'on' | 'off' },
    private readonly behaviour: Behaviour = {},
  ) {}

  async off(_target: string, options?: CallOptions): Promise<void> {
    this.track('off', options);
    const mode = this.behaviour.off ?? 'ok';
    if (mode === 'hang') return hang(options?.signal);
    if (mode === 'error') throw new Error(`${this.id} refused`);
    if (mode === 'ok') this.power.state = 'off';
  }

  async on(_target: string, options?: CallOptions): Promise<void> {
    this.track('on', options);
    if (this.behaviour.on === 'error') throw new Error(`${this.id} refused on`);
    this.power.state = 'on';
  }

  async status(_target: string, options?: CallOptions): Promise<PowerState> {
    this.track('status', options);
    const mode = this.behaviour.status;
    if (mode === 'hang') return hang(options?.signal);
    if (mode === 'error') throw new Error(`${this.id} unreachable`);
    return mode ?? this.power.state;
  }

  private track(call: string, options?: CallOptions) {
    this.calls.push(call);
    if (options?.signal) this.signals.push(options.signal);
  }
}

function hang<T>(signal?: AbortSignal): Promise<T> {
  return new Promise<T>((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }));
}

const attemptsOf = (error: unknown) => (error as ResurrectError).details.attempts as FenceAttempt[];

test('fencing topology: every device of a level must power off and read off', async (t) => {
  const power = { state: 'on' as 'on' | 'off' };
  const psuA = new FakeDevice('psu-a', power);
  const psuB = new FakeDevice('psu-b', power, { status: 'on' }); // the second feed stays live
  const ipmi = new FakeDevice('ipmi', power);
  const driver = new FencingTopology({ confirmTimeoutMs: 0, levels: { n1: [[psuA, psuB], [ipmi]] } });
  const report = await driver.fence('n1');
  t.like(report, { level: 2, devices: ['ipmi'], alreadyOff: true }, 'level 1 switched the host off already but could not confirm it');
  t.deepEqual(psuA.calls, ['status', 'off', 'status']);
  t.deepEqual(psuB.calls, ['status', 'off', 'status']);
});

test('fencing topology: the first failing device stops its level', async (t) => {
  const power = { state: 'on' as 'on' | 'off' };
  const broken = new FakeDevice('a', power, { off: 'error' });
  const never = new FakeDevice('b', power);
  const fallback = new FakeDevice('c', power);
  const report = await new FencingTopology({ confirmTimeoutMs: 0, levels: () => [[broken, never], [fallback]] }).fence('n1');
  t.is(report.level, 2);
  t.false(never.calls.includes('off'));
  t.true(report.attempts.some((a) => a.device === 'a' && a.action === 'off' && !a.ok && /refused/.test(a.error ?? '')));
});

test('fencing topology: a device answering unknown never counts as off', async (t) => {
  const power = { state: 'on' as 'on' | 'off' };
  const unsure = new FakeDevice('unsure', power, { status: 'unknown' });
  const pdu = new FakeDevice('pdu', power);
  const report = await new FencingTopology({ confirmTimeoutMs: 0, levels: { n1: [[unsure], [pdu]] } }).fence('n1');
  t.is(report.level, 2, 'level 1 switched power off but could not confirm it');
  t.true(report.attempts.some((a) => a.level === 1 && a.action === 'status' && a.result === 'unknown'));
  t.is(await new FencingTopology({ confirmTimeoutMs: 0, levels: { n1: [[unsure]] } }).status('n1'), 'unknown');
});

test('fencing topology: when every level fails: RSR_FENCE_FAILED with the host and every attempt', async (t) => {
  const power = { state: 'on' as 'on' | 'off' };
  const unsure = new FakeDevice('unsure', power, { status: 'unknown', off: 'ignore' });
  const stuck = new FakeDevice('stuck', power, { off: 'ignore' });
  const error = await t.throwsAsync(new FencingTopology({ confirmTimeoutMs: 0, levels: { n1: [[unsure], [stuck]] } }).fence('n1'));
  t.like(error, { code: 'RSR_FENCE_FAILED', retryable: false });
  t.is((error as ResurrectError).details.host, 'n1');
  t.deepEqual(
    attemptsOf(error).map((a) => `${a.level}:${a.device}:${a.action}:${a.result ?? (a.ok ? 'ok' : 'failed')}`),
    ['1:unsure:status:unknown', '1:unsure:off:ok', '1:unsure:status:unknown', '2:stuck:status:on', '2:stuck:off:ok', '2:stuck:status:on'],
  );
  t.is(power.state, 'on');
});

test('fencing topology: a hung device times out, fails its level and gets its signal aborted', async (t) => {
  const power = { state: 'on' as 'on' | 'off' };
  const hung = new FakeDevice('hung', power, { off: 'hang' });
  const fallback = new FakeDevice('pdu', power);
  const started = Date.now();
  const report = await new FencingTopology({ confirmTimeoutMs: 0, levels: { n1: [[hung], [fallback]] }, timeoutMs: 40 }).fence('n1');
  t.is(report.level, 2);
  t.true(Date.now() - started < 2000);
  t.true(report.attempts.some((a) => a.device === 'hung' && a.action === 'off' && /RSR_DRIVER_TIMEOUT/.test(a.error ?? '')));
  t.true(hung.signals.at(-1)?.aborted);
});

test('fencing topology: an empty level is never "all off"', async (t) => {
  const power = { state: 'on' as 'on' | 'off' };
  await t.throwsAsync(new FencingTopology({ confirmTimeoutMs: 0, levels: { n1: [[]] } }).fence('n1'), { code: 'RSR_FENCE_FAILED' });
  const report = await new FencingTopology({ confirmTimeoutMs: 0, levels: { n1: [[], [new FakeDevice('d', power)]] } }).fence('n1');
  t.like(report, { level: 2, alreadyOff: false });
  t.is(await new FencingTopology({ confirmTimeoutMs: 0, levels: { n1: [[]] } }).status('n1'), 'unknown');
});

test('fencing topology: status is the first level that fully answers, unknown when its devices disagree', async (t) => {
  const power = { state: 'off' as 'on' | 'off' };
  const down = new FakeDevice('down', power, { status: 'error' });
  const off1 = new FakeDevice('off1', power);
  const on1 = new FakeDevice('on1', power, { status: 'on' });
  t.is(await new FencingTopology({ confirmTimeoutMs: 0, levels: { n1: [[down], [off1]] } }).status('n1'), 'off');
  t.is(await new FencingTopology({ confirmTimeoutMs: 0, levels: { n1: [[off1, on1], [off1]] } }).status('n1'), 'unknown');
  t.is(await new FencingTopology({ confirmTimeoutMs: 0, levels: { n1: [[down]] } }).status('n1'), 'unknown');
  const hung = new FakeDevice('hung', power, { status: 'hang' });
  t.is(await new FencingTopology({ confirmTimeoutMs: 0, levels: { n1: [[hung]] }, timeoutMs: 20 }).status('n1'), 'unknown');
});

test('fencing topology: aborting the caller stops fencing with its reason, not RSR_FENCE_FAILED', async (t) => {
  const power = { state: 'on' as 'on' | 'off' };
  const hung = new FakeDevice('hung', power, { off: 'hang' });
  const next = new FakeDevice('next', power);
  const controller = new AbortController();
  const fencing = new FencingTopology({ confirmTimeoutMs: 0, levels: { n1: [[hung], [next]] } }).fence('n1', { signal: controller.signal });
  await new Promise((resolve) => setTimeout(resolve, 10));
  const reason = new Error('cancelled');
  controller.abort(reason);
  t.is(await t.throwsAsync(fencing), reason);
  t.deepEqual(next.calls, [], 'the next level is not tried');
  t.is(power.state, 'on');
});

test('fencing topology: unfence uses the first level whose devices all accept', async (t) => {
  const power = { state: 'off' as 'on' | 'off' };
  const refusing = new FakeDevice('refusing', power, { on: 'error' });
  const ok = new FakeDevice('ok', power);
  await new FencingTopology({ confirmTimeoutMs: 0, levels: { n1: [[refusing], [ok]] } }).unfence('n1');
  t.is(power.state, 'on');
  const error = await t.throwsAsync(new FencingTopology({ confirmTimeoutMs: 0, levels: { n1: [[refusing]] } }).unfence('n1'), { code: 'RSR_FENCE_FAILED' });
  t.like((error as ResurrectError).details, { host: 'n1', failures: [{ level: 1, device: 'refusing' }] });
});

test('fencing topology: topology lists device ids per level; unknown hosts have none', (t) => {
  const power = { state: 'on' as 'on' | 'off' };
  const driver = new FencingTopology({ confirmTimeoutMs: 0, levels: { n1: [[new FakeDevice('a', power), new FakeDevice('b', power)], [new FakeDevice('c', power)]] } });
  t.deepEqual(driver.topology('n1'), [['a', 'b'], ['c']]);
  t.deepEqual(driver.topology('n2'), []);
});

test('fencing topology: after the power-off, status is polled until the level reads off (a BMC slow to report)', async (t) => {
  const power = { state: 'on' as 'on' | 'off' };
  let reads = 0;
  // Accepts the power-off at once but keeps reporting "on" for its first three reads after it.
  const slow: FenceDevice = {
    id: 'slow-bmc',
    off: async () => { power.state = 'off'; },
    on: async () => { power.state = 'on'; },
    status: async () => (power.state === 'off' && ++reads > 3 ? 'off' : 'on'),
  };
  const report = await new FencingTopology({ confirmTimeoutMs: 1_000, confirmIntervalMs: 10, levels: { n1: [[slow]] } }).fence('n1');
  t.is(report.level, 1);
  t.deepEqual(report.attempts.filter((a) => a.action === 'status').map((a) => a.result), ['on', 'on', 'on', 'on', 'off']);
});

test('fencing topology: a level that never reads off within the confirmation budget fails, and the next level is tried', async (t) => {
  const power = { state: 'on' as 'on' | 'off' };
  const liar: FenceDevice = { id: 'never-off', off: async () => undefined, on: async () => undefined, status: async () => 'on' };
  const pdu = new FakeDevice('pdu', power);
  const started = Date.now();
  const report = await new FencingTopology({ confirmTimeoutMs: 100, confirmIntervalMs: 10, levels: { n1: [[liar], [pdu]] } }).fence('n1');
  t.is(report.level, 2);
  t.true(Date.now() - started >= 100, 'level 1 was polled for its whole budget');
  t.true(report.attempts.filter((a) => a.device === 'never-off' && a.action === 'status').length > 3);
});
