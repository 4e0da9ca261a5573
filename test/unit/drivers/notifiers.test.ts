import { Writable } from 'node:stream';
import test from 'ava';
import pino from 'pino';
import { nonRetryable, type ResurrectError } from '../../../src/domain';
import { FanoutNotifier } from '../../../src/drivers/notify/fanout-notifier';
import { LogNotifier } from '../../../src/drivers/notify/log-notifier';
import type { Notification, Notifier } from '../../../src/drivers/notify/port';

const NOTE: Notification = { severity: 'warning', topic: 'approval.requested', summary: 'approve evacuation of compute-3', details: { token: 'abc', host: 'compute-3' } };

class Recording implements Notifier {
  readonly got: Notification[] = [];
  constructor(
    readonly name: string,
    private readonly fail?: Error,
  ) {}
  async notify(n: Notification): Promise<void> {
    this.got.push(n);
    if (this.fail) throw this.fail;
  }
}

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: pino({ level: 'info' }, stream) };
}

test('log notifier: logs the summary at the level of the severity, secrets redacted', async (t) => {
  const { lines, log } = capture();
  const notifier = new LogNotifier(log);
  await notifier.notify(NOTE);
  await notifier.notify({ severity: 'critical', topic: 'incident.escalated', summary: 'escalated', incidentId: 'inc-9' });
  await new Promise((resolve) => setImmediate(resolve));
  t.is(notifier.name, 'log');
  t.like(lines[0], { level: 40, msg: 'approve evacuation of compute-3', notification: { topic: 'approval.requested', details: { token: '[redacted]', host: 'compute-3' } } });
  t.like(lines[1], { level: 50, notification: { incidentId: 'inc-9' } });
});

test('fanout notifier: delivers to every notifier', async (t) => {
  const a = new Recording('a');
  const b = new Recording('b');
  await new FanoutNotifier([a, b]).notify(NOTE);
  t.deepEqual([a.got, b.got], [[NOTE], [NOTE]]);
});

test('fanout notifier: one failure does not stop the others; the error lists failures and deliveries', async (t) => {
  const ok = new Recording('slack');
  const broken = new Recording('pager', nonRetryable('RSR_NOTIFY_FAILED', 'pager answered 500'));
  const error = (await t.throwsAsync(new FanoutNotifier([broken, ok]).notify(NOTE))) as ResurrectError;
  t.like(error, { code: 'RSR_NOTIFY_FAILED', retryable: true });
  t.deepEqual(error.details, { failures: [{ notifier: 'pager', code: 'RSR_NOTIFY_FAILED', message: 'pager answered 500' }], delivered: ['slack'] });
  t.is(ok.got.length, 1);
});

test("fanout notifier: an aborted signal rejects with its reason before sending", async (t) => {
  const a = new Recording('a');
  const controller = new AbortController();
  const reason = new Error('stop');
  controller.abort(reason);
  t.is(await t.throwsAsync(new FanoutNotifier([a]).notify(NOTE, { signal: controller.signal })), reason);
  t.is(a.got.length, 0);
});
