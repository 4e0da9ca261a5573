/**
 * The SLA codec: it accepts the built-in pack and the guide's example, and refuses bad SLAs with the field
 * path of each problem, through `decodeSla` and through the loader's `checkSla` message.
 */
import test from 'ava';
import slaPack, { bestEffort, bronze, gold, platinum, silver } from '../../../plugins/sla-pack';
import example, { tier0 } from '../../../docs/examples/sla-tier0';
import { isPlugin } from '../../../src/plugins/api';
import type { SlaDefinition } from '../../../src/plugins/api';
import { checkSla, decodeSla } from '../../../src/plugins/sla-codec';

const BUILTIN_WORKFLOWS = new Set(['restart-in-place', 'live-migrate-first', 'live-migrate-instance', 'fence-then-evacuate', 'evacuate-instance', 'notify-only']);

const base: SlaDefinition = {
  name: 'test-tier',
  description: 'a valid SLA each test breaks in one place',
  deadlineSeconds: 600,
  priority: 3,
  retry: { attempts: 3, backoffMs: 1000, exponential: true },
  workflows: { allowed: ['restart-in-place', 'fence-then-evacuate'], preferred: ['fence-then-evacuate'] },
  escalation: [
    { action: 'restart-in-place', budgetSeconds: 120 },
    { action: 'fence-then-evacuate', budgetSeconds: 300 },
    { action: 'page', budgetSeconds: 180, notify: 'critical' },
  ],
};

const problems = (value: unknown, workflows: ReadonlySet<string> | undefined = BUILTIN_WORKFLOWS) =>
  (decodeSla(value, { workflows }).problems ?? []).map((p) => `${p.path}: ${p.message}`);

test('the built-in pack and the guide example are plugins whose SLAs all decode unchanged', (t) => {
  t.true(isPlugin(slaPack));
  t.true(isPlugin(example));
  const slas = [...(slaPack.slas ?? []), ...(example.slas ?? [])];
  t.deepEqual(slas.map((s) => s.name), ['platinum', 'gold', 'silver', 'bronze', 'best-effort', 'tier0']);
  for (const sla of slas) {
    const decoded = decodeSla(sla, { workflows: BUILTIN_WORKFLOWS });
    t.deepEqual(decoded.problems, undefined, sla.name);
    t.deepEqual(decoded.sla, sla, sla.name);
  }
  t.deepEqual(problems(base), []);
});

test('the pack is ordered: deadlines grow and priorities fall from platinum to best-effort; ladders fit their deadlines', (t) => {
  const tiers = [platinum, gold, silver, bronze, bestEffort];
  t.deepEqual(tiers.map((s) => s.deadlineSeconds), [300, 900, 1800, 7200, null]);
  t.deepEqual(tiers.map((s) => s.priority), [1, 2, 4, 6, 9]);
  t.deepEqual(tiers.map((s) => s.retry.attempts), [6, 5, 4, 3, 2]);
  for (const sla of tiers.filter((s) => s.deadlineSeconds !== null)) {
    t.deepEqual(sla.escalation.reduce((sum, r) => sum + r.budgetSeconds, 0), sla.deadlineSeconds, sla.name);
  }
  // Only the top tiers page; best-effort only notifies.
  t.deepEqual(tiers.filter((s) => s.escalation.some((r) => r.action === 'page')).map((s) => s.name), ['platinum', 'gold']);
  t.deepEqual(bestEffort.escalation.map((r) => r.action), ['notify']);
  t.is(tier0.escalation[1]?.action, 'fence-then-evacuate');
});

test('a negative or fractional deadline is refused at deadlineSeconds; null means no deadline', (t) => {
  t.deepEqual(problems({ ...base, deadlineSeconds: -5 }), ['deadlineSeconds: expected a positive integer (seconds) or null, got -5']);
  t.deepEqual(problems({ ...base, deadlineSeconds: 1.5 }), ['deadlineSeconds: expected a positive integer (seconds) or null, got 1.5']);
  t.deepEqual(problems({ ...base, deadlineSeconds: '300' }), ['deadlineSeconds: expected a positive integer (seconds) or null, got "300"']);
  t.deepEqual(problems({ ...base, deadlineSeconds: null }), []);
});

test('priority below 1, attempts below 1 and a negative backoff are refused at their paths', (t) => {
  t.deepEqual(problems({ ...base, priority: 0 }), ['priority: expected PositiveInteger, got 0']);
  t.deepEqual(problems({ ...base, retry: { ...base.retry, attempts: 0 } }), ['retry.attempts: expected PositiveInteger, got 0']);
  t.deepEqual(problems({ ...base, retry: { ...base.retry, backoffMs: -1 } }), ['retry.backoffMs: expected NonNegativeInteger, got -1']);
  t.deepEqual(problems({ ...base, escalation: [{ action: 'page', budgetSeconds: 0 }] }), ['escalation[0].budgetSeconds: expected PositiveInteger, got 0']);
  t.deepEqual(problems({ ...base, escalation: [{ action: 'page', budgetSeconds: 60, notify: 'loud' }] }), ['escalation[0].notify: expected Severity, got "loud"']);
});

test('a preferred workflow that is not allowed is refused with its index', (t) => {
  t.deepEqual(problems({ ...base, workflows: { allowed: ['restart-in-place'], preferred: ['restart-in-place', 'notify-only'] }, escalation: [{ action: 'page', budgetSeconds: 60 }] }), [
    'workflows.preferred[1]: "notify-only" is not in workflows.allowed',
  ]);
  t.deepEqual(problems({ ...base, workflows: { allowed: [], preferred: [] }, escalation: [{ action: 'page', budgetSeconds: 60 }] }), ['workflows.allowed: must name at least one workflow']);
});

test('an unknown rung action is refused: neither built-in nor a registered workflow, or not a name at all', (t) => {
  const ladder = (action: string) => ({ ...base, escalation: [base.escalation[0], { action, budgetSeconds: 60 }] });
  t.deepEqual(problems(ladder('reboot-harder')), [
    'escalation[1].action: unknown action "reboot-harder": neither a built-in action (restart-in-place, live-migrate, evacuate, notify, page) nor a registered workflow',
  ]);
  // A registered workflow that the SLA does not allow is refused too.
  t.deepEqual(problems(ladder('notify-only')), ['escalation[1].action: workflow "notify-only" is not in workflows.allowed']);
  // Not even a workflow name: a shape error, without the registry.
  t.deepEqual(problems(ladder('Page Someone!'), undefined), [
    'escalation[1].action: expected one of restart-in-place, live-migrate, evacuate, notify, page or a kebab-case workflow name, got "Page Someone!"',
  ]);
  t.deepEqual(problems({ ...base, escalation: [] }), ['escalation: needs at least one rung']);
});

test('an allowed workflow that is not registered is refused', (t) => {
  t.deepEqual(problems({ ...base, workflows: { allowed: ['restart-in-place', 'fence-then-evacuate', 'drain-host'], preferred: [] } }), [
    'workflows.allowed[2]: unknown workflow "drain-host"',
  ]);
});

test('unknown keys are refused at every level, with their paths', (t) => {
  t.deepEqual(problems({ ...base, deadline: 600 }), ['deadline: unknown key "deadline"']);
  t.deepEqual(problems({ ...base, retry: { ...base.retry, jitter: true } }), ['retry.jitter: unknown key "jitter"']);
  t.deepEqual(problems({ ...base, workflows: { ...base.workflows, denied: [] } }), ['workflows.denied: unknown key "denied"']);
  t.deepEqual(problems({ ...base, escalation: [{ action: 'page', budgetSeconds: 60, severity: 'critical' }] }), ['escalation[0].severity: unknown key "severity"']);
  // The old flat retry fields are unknown keys now, and the missing ones are named.
  const flat = problems({ name: 'old', description: '', deadlineSeconds: 60, priority: 1, attempts: 3, backoffMs: 10 });
  for (const expected of ['attempts: unknown key "attempts"', 'backoffMs: unknown key "backoffMs"', 'retry: expected SlaRetry, got undefined', 'workflows: expected SlaWorkflows, got undefined']) {
    t.true(flat.includes(expected), `${expected}\n---\n${flat.join('\n')}`);
  }
});

test('rung budgets over the deadline are refused, saying by how much and why', (t) => {
  const over = { ...base, deadlineSeconds: 500 };
  t.deepEqual(problems(over), [
    'escalation: rung budgets add up to 600 s, more than deadlineSeconds 500: the last rungs would start after the deadline has passed',
  ]);
  t.deepEqual(problems({ ...base, deadlineSeconds: 600 }), [], 'exactly the deadline fits');
});

test('checkSla names the SLA and every problem in one message, and returns the SLA when it is valid', (t) => {
  t.is(checkSla(base, { workflows: BUILTIN_WORKFLOWS }), base);
  t.throws(() => checkSla({ ...base, priority: 0, extra: 1 }), {
    message: 'SLA "test-tier": extra: unknown key "extra"; priority: expected PositiveInteger, got 0',
  });
  t.throws(() => checkSla({ description: 'no name' }), { message: /^an SLA: name: expected KebabName, got undefined; / });
});
