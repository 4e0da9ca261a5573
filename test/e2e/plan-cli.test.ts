import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { RecoveryPlan } from '../../src/plan/plan-codec';
import { BIN, runCli } from '../helpers/cli';
import type { CliResult } from '../helpers/cli';
import { useRedis } from '../helpers/redis';

const redis = useRedis(test);
/** The demo world's reserved spares. */
const SPARES = ['compute-4', 'compute-8'];

const cli = (args: string[], env: NodeJS.ProcessEnv) => runCli(args, env, 60_000);

/** No engine listens on a fresh prefix: the command plans against a local build of the configuration. */
function local(extraConfig = '') {
  const dir = mkdtempSync(join(tmpdir(), 'rsr-plan-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `redis: { prefix: ${redis.newPrefix()} }\n${extraConfig}`);
  return { dir, env: { REDIS_URL: redis.url, RESURRECT_CONFIG: config, RESURRECT_RUNTIME_DIR: dir } };
}

const parse = (r: CliResult) => JSON.parse(r.stdout) as RecoveryPlan;

test('plan --json without an engine: every VM of the failed host gets a target that is neither failed nor a spare', async (t) => {
  const { env } = local();
  const r = await cli(['plan', '--fail', 'compute-3', '--json'], env);
  t.is(r.code, 0, r.stderr);
  const plan = parse(r);
  t.is(plan.kind, 'host-down');
  t.deepEqual(plan.failedHosts, ['compute-3']);
  t.is(plan.entries.length, 11);
  t.deepEqual(plan.entries.map((e) => e.order), Array.from({ length: 11 }, (_, i) => i + 1));
  for (const e of plan.entries) {
    t.is(e.host, 'compute-3');
    t.truthy(e.target, e.instance);
    t.not(e.target, 'compute-3');
    t.false(SPARES.includes(e.target!), 'mode auto keeps the reserved spares free');
    t.true(e.predictedDoneAt! > plan.openedAt);
  }
  t.deepEqual(plan.wontFit, []);

  const human = await cli(['plan', '--fail', 'compute-3'], env);
  t.is(human.code, 0, human.stderr);
  t.regex(human.stdout, /Plan: host-down of compute-3: 11 VMs, 11 with a target, 0 will not fit/);
  t.regex(human.stdout, /From a local build of the configuration/);
  t.regex(human.stdout, /│ 1 +│/);
});

test('plan: a failure beyond spare capacity names the VMs that will not fit; the policy sends gold to the spares first', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rsr-plan-policy-'));
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, [
    'version: 1',
    'defaults: { workflow: fence-then-evacuate }',
    'rules:',
    '  - { name: gold, match: { vm: { metadata: { tier: gold } } }, sla: gold, params: { placement: rh_priority } }',
    '  - { name: default, default: true, sla: bronze }',
    '',
  ].join('\n'));
  const { env } = local(`policy: { file: ${policy} }\n`);
  // Every working host fails: only the two reserved spares are left.
  const r = await cli(['plan', '--fail', 'compute-1,compute-2,compute-3,compute-5,compute-6,compute-7', '--json'], env);
  t.is(r.code, 0, r.stderr);
  const plan = parse(r);
  t.truthy(plan.policyVersion);
  const gold = plan.entries.filter((e) => e.sla === 'gold');
  const bronze = plan.entries.filter((e) => e.sla === 'bronze');
  t.true(gold.length > 0 && bronze.length > 0);
  t.true(gold.every((e) => e.placement === 'rh-priority' && SPARES.includes(e.target!)), JSON.stringify(gold));
  t.true(Math.max(...gold.map((e) => e.order)) < Math.min(...bronze.map((e) => e.order)), 'gold is ranked before bronze');
  t.deepEqual(plan.wontFit.map((w) => w.instance).sort(), bronze.map((e) => e.instance).sort());
  for (const w of plan.wontFit) t.regex(w.reason, new RegExp(`^${w.name} \\(${w.instance}\\): no non-reserved host is enabled and up`));
  t.true(bronze.every((e) => plan.atRisk.includes(e.instance)));
});

test('plan of an unknown host exits 2 and names it', async (t) => {
  const { env } = local();
  const r = await cli(['plan', '--fail', 'compute-3,compute-99'], env);
  t.is(r.code, 2);
  t.regex(r.stderr, /unknown host "compute-99"/);
  t.is(r.stdout, '');
  const empty = await cli(['plan', '--fail', ','], env);
  t.is(empty.code, 2);
});

test('plan asks a running `resurrect start`, which plans on its own world: a host whose nova-compute died there is no target', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rsr-plan-engine-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `redis: { prefix: ${redis.newPrefix()} }\ncloud: { sim: { timeScale: 0.01 } }\nparams: { livenessWaitSeconds: 0.1 }\n`);
  const env = { ...process.env, REDIS_URL: redis.url, RESURRECT_CONFIG: config, RESURRECT_RUNTIME_DIR: dir };
  // --no-api: the second-terminal commands take their Redis path here (over the API: cli-api.test.ts).
  const engine = spawn(process.execPath, [BIN, 'start', '--no-api'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  engine.stdout.on('data', (c) => { output += String(c); });
  engine.stderr.on('data', (c) => { output += String(c); });
  const exited = new Promise<number | null>((done) => engine.on('exit', (code) => done(code)));
  t.teardown(() => { if (engine.exitCode === null) engine.kill('SIGKILL'); });
  for (let i = 0; i < 300 && !output.includes('workflows:'); i++) await new Promise((r) => setTimeout(r, 50));
  t.true(output.includes('workflows:'), output);

  const second = { RESURRECT_RUNTIME_DIR: dir, REDIS_URL: '', RESURRECT_CONFIG: config };
  const before = parse(await cli(['plan', '--fail', 'compute-3', '--json'], second));
  t.true(before.entries.some((e) => e.target === 'compute-5'), 'compute-5 is a target while it is healthy');
  t.is(before.latency.fenceMs, 18 + 100, 'the engine\'s timeScale and params shape the model');

  const failed = await cli(['sim', 'fail', 'compute-5', '--mode', 'service', '--no-emit'], second);
  t.is(failed.code, 0, failed.stderr);
  const after = await cli(['plan', '--fail', 'compute-3', '--json'], second);
  t.is(after.code, 0, after.stderr);
  const plan = parse(after);
  t.is(plan.entries.length, 11);
  t.true(plan.entries.every((e) => e.target !== null && e.target !== 'compute-5'), JSON.stringify(plan.entries.map((e) => e.target)));

  const human = await cli(['plan', '--fail', 'compute-3'], second);
  t.regex(human.stdout, /From the running engine/);
  const bad = await cli(['plan', '--fail', 'compute-42'], second);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /unknown host "compute-42"/);
  t.false(/incident .* opened/.test(output), 'planning opened no incident');

  engine.kill('SIGTERM');
  t.is(await exited, 0);
});
