/**
 * PollPacer on a manual clock: turns are spaced 1/perSecond apart whoever asks, in the order asked; nobody
 * waits when polls are rare; 0 turns pacing off.
 */
import test from 'ava';
import { PollPacer } from '../../../src/engine/poll-pacer';
import { ManualClock } from '../../helpers/manual-clock';

test('turns are spaced 1/perSecond apart across callers, first come first served', async (t) => {
  const clock = new ManualClock(0);
  const pacer = new PollPacer(10, clock);
  const served: { who: number; at: number }[] = [];
  const waiting = [0, 1, 2, 3].map((who) => pacer.turn().then(() => served.push({ who, at: clock.now() })));
  await clock.advance(1_000);
  await Promise.all(waiting);
  t.deepEqual(served, [{ who: 0, at: 0 }, { who: 1, at: 100 }, { who: 2, at: 200 }, { who: 3, at: 300 }]);
});

test('a poll after a quiet spell waits for nobody', async (t) => {
  const clock = new ManualClock(0);
  const pacer = new PollPacer(4, clock);
  await pacer.turn();
  await clock.advance(5_000);
  const before = clock.now();
  await pacer.turn();
  t.is(clock.now(), before);
});

test('perSecond 0: no pacing at all', async (t) => {
  const clock = new ManualClock(0);
  const pacer = new PollPacer(0, clock);
  for (let i = 0; i < 100; i++) await pacer.turn();
  t.is(clock.now(), 0);
});
