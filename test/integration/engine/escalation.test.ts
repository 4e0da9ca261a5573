import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Keys } from '../../../src/engine/keys';
import { SlaCompliance } from '../../../src/engine/sla-compliance';
import { defineSla, definePlugin } from '../../../src/plugins/api';
import { gatedNotifier, RecordingNotifier, startEngine } from '../../helpers/engine';
import { useRedis } from '../../helpers/redis';
import { until } from '../../helpers/wait';

const redis = useRedis(test);

/** An SLA on a human scale shrunk to seconds, so a test can watch its ladder climb. */
const fast = defineSla({
  name: 'fast-gold',
  description: 'a gold ladder in seconds',
  deadlineSeconds: 3,
  priority: 1,
  retry: { attempts: 1, backoffMs: 10, exponential: false },
  workflows: { allowed: ['restart-in-place', 'live-migrate-instance', 'evacuate-instance', 'notify-only'], preferred: ['restart-in-place'] },
  escalation: [
    { action: 'restart-in-place', budgetSeconds: 1 },
    { action: 'live-migrate', budgetSeconds: 1 },
    { action: 'page', budgetSeconds: 1, notify: 'critical' },
  ],
});

/** One rung only, and a deadline as short as it: the deadline passes while the VM is still down. */
const tight = defineSla({
  name: 'tight',
  description: 'one rung, one second',
  deadlineSeconds: 1,
  priority: 2,
  retry: { attempts: 1, backoffMs: 10, exponential: false },
  workflows: { allowed: ['restart-in-place'], preferred: ['restart-in-place'] },
  escalation: [{ action: 'restart-in-place', budgetSeconds: 1 }],
});

/** A deadline that can pass while the first rung still has budget: the rung started late (it waited for a slot). */
const lateStart = defineSla({
  name: 'late-start',
  description: 'four seconds, three for the first rung',
  deadlineSeconds: 4,
  priority: 3,
  retry: { attempts: 1, backoffMs: 10, exponential: false },
  workflows: { allowed: ['restart-in-place', 'notify-only'], preferred: ['restart-in-place'] },
  escalation: [{ action: 'restart-in-place', budgetSeconds: 3 }, { action: 'page', budgetSeconds: 1 }],
});

const plugin = definePlugin({ name: 'test-slas', slas: [fast, tight, lateStart] });

function policy(sla: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'rsr-ladder-')), 'policy.yaml');
  writeFileSync(file, `
version: 1
rules:
  - name: default
    default: true
    sla: ${sla}
    workflow: restart-in-place
`);
  return file;
}

test('a rung that runs out of time ⇒ the next rung runs (audited, notified); a ladder that ends ⇒ a human is paged', async (t) => {
  const notifier = new RecordingNotifier();
  const h = await startEngine(redis, { plugins: [plugin], notifier, config: { policy: { file: policy('fast-gold') } } });
  t.teardown(() => h.close());
  h.world.crashInstance('vm-b');
  // The restart is accepted but the VM never comes back: rung 1 can only run out of time.
  h.world.injectFault({ kind: 'never-active', instance: 'vm-b' });
  const { incident } = await h.app.engine.report({ kind: 'instance-down', host: 'compute-1', instance: 'vm-b' });

  const closed = await h.waitClosed(incident.id, 15_000);
  t.is(closed.outcome, 'escalated');
  const recovery = await h.app.engine.recovery(incident.recoveryId);
  t.is(recovery.workflow, 'live-migrate-instance', 'the recovery climbed to rung 2 and ran its workflow');
  t.like(recovery.ladder, { sla: 'fast-gold', rung: 1, entry: 0 });
  t.regex(recovery.reason ?? '', /paged a human/);

  const trail = await h.trail(incident.recoveryId);
  const at = (pattern: RegExp) => trail.findIndex((line) => pattern.test(line));
  const deadlineArmed = at(/SLA fast-gold: deadline .* \(3 s RTO\)/);
  const armed = at(/SLA fast-gold: ladder rung 1\/3 \(restart-in-place, 1 s\)/);
  t.true(deadlineArmed >= 0 && armed > deadlineArmed, trail.join('\n'));
  const budget = at(/rung 1 \(restart-in-place\) used its 1 s budget/);
  const climbed = at(/climbing to rung 2\/3 \(live-migrate\): live-migrate-instance for 1 s/);
  const paged = at(/climbing to rung 3\/3 \(page\): paging a human/);
  t.true(armed >= 0 && budget > armed && climbed > budget && paged > climbed, trail.join('\n'));
  t.is(h.world.count('startInstance', 'vm-b', 'accepted') + h.world.count('rebootInstance', 'vm-b', 'accepted'), 1, 'rung 1 acted once');

  const rung = notifier.sent.find((n) => n.topic === 'sla.rung');
  t.like(rung, { severity: 'warning', recoveryId: incident.recoveryId });
  const page = notifier.sent.find((n) => n.topic === 'sla.page');
  t.like(page, { severity: 'critical', recoveryId: incident.recoveryId });
  t.regex(page?.summary ?? '', /vm-b .*fast-gold/);
});

test('a recovery still running at its deadline ⇒ one breach, audited, notified and counted against its SLA', async (t) => {
  const notifier = new RecordingNotifier();
  const prefix = redis.newPrefix();
  const h = await startEngine(redis, { prefix, plugins: [plugin], notifier, config: { policy: { file: policy('tight') } } });
  t.teardown(() => h.close());
  h.world.crashInstance('vm-c');
  h.world.injectFault({ kind: 'never-active', instance: 'vm-c' });
  const { incident } = await h.app.engine.report({ kind: 'instance-down', host: 'compute-1', instance: 'vm-c' });
  const closed = await h.waitClosed(incident.id, 15_000);
  t.is(closed.outcome, 'escalated', 'the only rung ran out of time: nothing left to try');
  await until(async () => notifier.topics().includes('sla.deadline-breached'), 5_000);
  t.is(notifier.topics().filter((topic) => topic === 'sla.deadline-breached').length, 1);
  const trail = await h.trail(incident.recoveryId);
  t.is(trail.filter((line) => line.startsWith('deadline breached:')).length, 1);
  t.true(trail.some((line) => /missed SLA tight's 1 s deadline/.test(line)), trail.join('\n'));
  const [report] = await new SlaCompliance(h.app.redis, new Keys(prefix)).report();
  t.like(report, { sla: 'tight', total: 1, escalated: 1, breached: 1, withinDeadline: 0, compliance: 0 });
});

test('a VM recovered on its first rung climbs nothing and breaches nothing; its clocks fire into the void', async (t) => {
  const notifier = new RecordingNotifier();
  const prefix = redis.newPrefix();
  const h = await startEngine(redis, { prefix, plugins: [plugin], notifier, config: { policy: { file: policy('tight') } } });
  t.teardown(() => h.close());
  h.world.crashInstance('vm-a');
  const { incident } = await h.app.engine.report({ kind: 'instance-down', host: 'compute-1', instance: 'vm-a' });
  t.is((await h.waitClosed(incident.id)).outcome, 'recovered');
  // Let both timers (1 s) fire.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  t.deepEqual(notifier.topics().filter((topic) => topic.startsWith('sla.')), []);
  const trail = await h.trail(incident.recoveryId);
  t.false(trail.some((line) => /climbing|breached/.test(line)), trail.join('\n'));
  const [report] = await new SlaCompliance(h.app.redis, new Keys(prefix)).report();
  t.like(report, { sla: 'tight', total: 1, recovered: 1, breached: 0, withinDeadline: 1, compliance: 1 });
});

test('a deadline that passes while the VM is still on a rung with budget left ⇒ the next rung runs at once', async (t) => {
  const { plugin: gatedPager, letGo } = gatedNotifier(/vm-a/);
  const file = join(mkdtempSync(join(tmpdir(), 'rsr-ladder-')), 'policy.yaml');
  writeFileSync(file, `
version: 1
rules:
  - { name: blocker, match: { vm: { haEnabled: true } }, sla: gold, workflow: notify-only }
  - { name: default, default: true, sla: late-start, workflow: restart-in-place }
`);
  const h = await startEngine(redis, {
    plugins: [plugin, gatedPager],
    config: { policy: { file }, notifiers: [{ type: 'plugin', name: 'gated' }], limits: { global: 1, perTargetHost: 0, cloudApi: { ratePerSecond: 0, burst: 0 } } },
  });
  t.teardown(() => { letGo(); return h.close(); });
  // vm-a (HA_Enabled) holds the only slot while its notification hangs.
  const blocker = await h.app.engine.report({ kind: 'instance-down', host: 'compute-1', instance: 'vm-a' });
  await until(async () => (await h.app.engine.recovery(blocker.incident.recoveryId)).status === 'running');
  h.world.crashInstance('vm-b');
  h.world.injectFault({ kind: 'never-active', instance: 'vm-b' });
  const late = await h.app.engine.report({ kind: 'instance-down', host: 'compute-1', instance: 'vm-b' });
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  letGo(); // vm-b gets the slot about 2 s in: its first rung (3 s) would end at 5 s, its deadline is at 4 s.
  const closed = await h.waitClosed(late.incident.id, 10_000);
  t.is(closed.outcome, 'escalated');
  const trail = await h.trail(late.incident.recoveryId);
  const at = (pattern: RegExp) => trail.findIndex((line) => pattern.test(line));
  const breached = at(/^deadline breached: .*late-start's 4 s deadline/);
  const moving = at(/the 4 s deadline passed; moving to the next rung/);
  const paged = at(/climbing to rung 2\/2 \(page\): paging a human/);
  t.true(breached >= 0 && moving > breached && paged > moving, trail.join('\n'));
  t.is(at(/used its 3 s budget/), -1, 'the rung did not have to run out first');
});
