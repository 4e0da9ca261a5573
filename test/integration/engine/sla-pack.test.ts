/**
 * SLA plugins through the engine: started with `plugins.dirs` holding the guide's examples and an operator
 * directory with good and broken SLA files, it registers the built-in pack (from the install's `plugins/`)
 * and the guide's `tier0` with their numbers, refuses each broken SLA with its file and reason, and loads the
 * rest. Also checks that docs/writing-slas.md quotes the example file verbatim.
 */
import test from 'ava';
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { useRedis } from '../../helpers/redis';
import { startEngine } from '../../helpers/engine';

const redis = useRedis(test);

const ROOT = path.resolve(__dirname, '../../..');
const API = path.join(ROOT, 'src/plugins/api');
const EXAMPLES = path.join(ROOT, 'docs/examples');
const EXAMPLE = path.join(EXAMPLES, 'sla-tier0.ts');
const GUIDE = path.join(ROOT, 'docs/writing-slas.md');
const PACK = path.join(ROOT, 'plugins/sla-pack/index.ts');

const sla = (name: string, fields: string) => `import { definePlugin } from ${JSON.stringify(API)};
export default definePlugin({
  name: ${JSON.stringify(`${name}-plugin`)},
  slas: [{
    name: ${JSON.stringify(name)},
    description: 'an operator tier',
    deadlineSeconds: 1200,
    priority: 3,
    retry: { attempts: 4, backoffMs: 500, exponential: true },
    workflows: { allowed: ['restart-in-place', 'notify-only'], preferred: ['restart-in-place'] },
    escalation: [{ action: 'restart-in-place', budgetSeconds: 600 }, { action: 'notify', budgetSeconds: 600, notify: 'warning' }],
    ${fields}
  } as never],
});
`;

/** Later keys win in an object literal: each broken file overrides one field of an otherwise good SLA. */
const BROKEN: Record<string, { content: string; reason: string }> = {
  'over-budget.ts': {
    content: sla('over-budget', `escalation: [{ action: 'restart-in-place', budgetSeconds: 900 }, { action: 'page', budgetSeconds: 600 }],`),
    reason: 'SLA "over-budget": escalation: rung budgets add up to 1500 s, more than deadlineSeconds 1200: the last rungs would start after the deadline has passed',
  },
  'typo-action.ts': {
    content: sla('typo-action', `escalation: [{ action: 'restart-in-plaice', budgetSeconds: 60 }],`),
    reason:
      'SLA "typo-action": escalation[0].action: unknown action "restart-in-plaice": neither a built-in action (restart-in-place, live-migrate, evacuate, notify, page) nor a registered workflow',
  },
  'not-allowed.ts': {
    content: sla('not-allowed', `workflows: { allowed: ['notify-only'], preferred: ['fence-then-evacuate'] }, escalation: [{ action: 'notify', budgetSeconds: 60 }],`),
    reason: 'SLA "not-allowed": workflows.preferred[0]: "fence-then-evacuate" is not in workflows.allowed',
  },
  'negative.ts': {
    content: sla('negative', `deadlineSeconds: -1, timeout: 5,`),
    reason: 'SLA "negative": timeout: unknown key "timeout"; deadlineSeconds: expected a positive integer (seconds) or null, got -1',
  },
  // The pack's name is taken: the duplicate is refused and the built-in stays.
  'dup-gold.ts': {
    content: sla('gold', ''),
    reason: `duplicate SLA "gold": already registered from ${PACK}`,
  },
};

let dir = '';

test.before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rsr-sla-pack-'));
  await fs.writeFile(path.join(dir, 'site-tier.ts'), sla('site-tier', ''));
  for (const [name, { content }] of Object.entries(BROKEN)) await fs.writeFile(path.join(dir, name), content);
});

test.after.always(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

test('the engine loads the built-in pack, the guide example and the good operator SLA; each broken SLA is refused with file and reason', async (t) => {
  const h = await startEngine(redis, { config: { plugins: { dirs: [EXAMPLES, dir] } }, worker: false });
  t.teardown(() => h.close());
  const { registry, loadReport } = h.app;

  t.deepEqual(
    loadReport.errors.map((e) => [path.basename(e.file), e.reason]).sort(),
    Object.entries(BROKEN).map(([name, { reason }]) => [name, reason]).sort(),
    loadReport.errors.map((e) => e.message).join('\n'),
  );
  for (const error of loadReport.errors) {
    t.is(error.code, 'RSR_PLUGIN_LOAD');
    t.true(error.message.startsWith(`${error.file}: `), error.message);
  }

  t.deepEqual(registry.listSlas().map((s) => s.name).sort(), ['best-effort', 'bronze', 'gold', 'platinum', 'silver', 'site-tier', 'tier0']);
  for (const name of ['platinum', 'gold', 'silver', 'bronze', 'best-effort']) t.is(registry.sourceOf('sla', name), PACK, name);
  t.is(registry.sourceOf('sla', 'tier0'), EXAMPLE);
  t.is(registry.sourceOf('sla', 'site-tier'), path.join(dir, 'site-tier.ts'));
  t.true(loadReport.loaded.some((e) => e.file === PACK && e.plugin === 'sla-pack' && e.slas.join() === 'platinum,gold,silver,bronze,best-effort'));

  const numbers = (name: string) => {
    const s = registry.sla(name);
    return [s.deadlineSeconds, s.priority, s.retry.attempts, s.retry.backoffMs, s.retry.exponential, s.escalation.map((r) => `${r.action}:${r.budgetSeconds}`).join(' ')];
  };
  t.deepEqual(numbers('platinum'), [300, 1, 6, 2000, true, 'restart-in-place:60 live-migrate:90 evacuate:120 page:30']);
  t.deepEqual(numbers('gold'), [900, 2, 5, 5000, true, 'restart-in-place:120 live-migrate:240 evacuate:420 page:120']);
  t.deepEqual(numbers('silver'), [1800, 4, 4, 10000, true, 'restart-in-place:300 evacuate:1200 notify:300']);
  t.deepEqual(numbers('bronze'), [7200, 6, 3, 30000, true, 'restart-in-place:1800 evacuate:4800 notify:600']);
  t.deepEqual(numbers('best-effort'), [null, 9, 2, 60000, false, 'notify:3600']);
  t.deepEqual(numbers('tier0'), [180, 1, 8, 1000, true, 'restart-in-place:30 fence-then-evacuate:90 page:60']);
  t.deepEqual(registry.sla('silver').workflows.allowed.includes('live-migrate-first'), false);
  t.deepEqual(registry.sla('platinum').workflows.preferred, ['live-migrate-first', 'fence-then-evacuate', 'restart-in-place']);

  // Workflows are unaffected: the examples' workflows load beside the SLAs.
  t.true(registry.hasWorkflow('drain-then-notify'));
  t.true(registry.hasWorkflow('fence-then-evacuate'));
});

test('docs/writing-slas.md quotes the example file verbatim, once', (t) => {
  const guide = readFileSync(GUIDE, 'utf8');
  const relative = path.relative(ROOT, EXAMPLE);
  const blocks = [...guide.matchAll(/<!-- quote: (\S+) -->\n```[a-z]*\n([\s\S]*?)```/g)];
  t.deepEqual(blocks.map((m) => m[1]), [relative], 'the guide quotes exactly the example file');
  t.is(blocks[0]?.[2], readFileSync(EXAMPLE, 'utf8'), `the guide's copy of ${relative} differs from the file: update the guide`);
});
