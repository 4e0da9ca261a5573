import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { BIN, runCli } from '../helpers/cli';
import { useRedis } from '../helpers/redis';

const redis = useRedis(test);

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, env);

test('resurrect demo exits 0 and prints the summary table and the audit command, which then prints the trail', async (t) => {
  const prefix = redis.newPrefix();
  const demo = await cli(['demo', '--time-scale', '0.01', '--prefix', prefix], { REDIS_URL: redis.url });
  t.is(demo.code, 0, demo.stderr);
  t.regex(demo.stdout, /Incident inc-\S+: compute-3 fenced \(power-off verified\); outcome recovered; 11 instances/);
  t.is((demo.stdout.match(/│ recovered │ compute-\d/g) ?? []).length, 11, demo.stdout);
  const command = /Audit trail: npx resurrect audit (inc-\S+) --prefix (\S+)/.exec(demo.stdout);
  t.truthy(command, demo.stdout);
  t.is(command?.[2], prefix);

  const trail = await cli(['audit', command![1]!, '--prefix', prefix], { REDIS_URL: redis.url });
  t.is(trail.code, 0, trail.stderr);
  const lines = trail.stdout.trim().split('\n');
  t.regex(lines[0] ?? '', /incident opened: host-down host:compute-3/);
  t.regex(lines[lines.length - 1] ?? '', /incident resolved/);
  const confirmed = lines.findIndex((l) => /power-off of compute-3 confirmed/.test(l));
  const evacuated = lines.findIndex((l) => /evacuate \S+ from compute-3( to \S+)? accepted/.test(l));
  t.true(confirmed > 0 && evacuated > confirmed, 'the trail shows the fence confirmed before any evacuation');

  const json = await cli(['audit', command![1]!, '--prefix', prefix, '--json'], { REDIS_URL: redis.url });
  const records = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string });
  t.true(records.filter((r) => r.type === 'transition').length > 11 * 3);
});

test('resurrect audit of an unknown id exits 3; validate exits 2 naming the file and reason, 0 on the built-ins', async (t) => {
  const missing = await cli(['audit', 'inc-nope', '--prefix', redis.newPrefix()], { REDIS_URL: redis.url });
  t.is(missing.code, 3);
  t.regex(missing.stderr, /no audit trail for inc-nope/);

  const builtins = await cli(['validate']);
  t.is(builtins.code, 0, builtins.stdout + builtins.stderr);
  t.regex(builtins.stdout, /ok\s+\S+workflows\/fence-then-evacuate\/index\.ts: workflows fence-then-evacuate, evacuate-instance/);

  const dir = mkdtempSync(join(tmpdir(), 'rsr-validate-'));
  writeFileSync(join(dir, 'typo.yaml'), 'name: typo-flow\ndescription: x\nhandles: [host-down]\ninitial: a\nstates:\n  a:\n    invoke: { step: fenceHots, input: {} }\n    onDone: done\n    onError: done\n  done: { type: final, outcome: recovered }\n');
  const refused = await cli(['validate', join(dir, 'typo.yaml')]);
  t.is(refused.code, 2);
  t.regex(refused.stdout, /refused\s+\S+typo\.yaml: .*fenceHots/);

  // Checked against the built-in workflows too: a name clash is caught here, not at start-up.
  writeFileSync(join(dir, 'clash.yaml'), 'name: restart-in-place\ndescription: x\nhandles: [instance-down]\ninitial: a\nstates:\n  a:\n    invoke: { step: notify, input: { severity: info, topic: t, summary: s } }\n    onDone: done\n    onError: done\n  done: { type: final, outcome: recovered }\n');
  const clash = await cli(['validate', join(dir, 'clash.yaml')]);
  t.is(clash.code, 2);
  t.regex(clash.stdout, /refused\s+\S+clash\.yaml: duplicate workflow "restart-in-place"/);
});

test('npm start equivalent: `sim fail` from a second terminal opens an incident the running engine recovers; `trigger` only sends the event', async (t) => {
  const prefix = redis.newPrefix();
  const runtimeDir = mkdtempSync(join(tmpdir(), 'rsr-runtime-'));
  const configFile = join(runtimeDir, 'config.yaml');
  writeFileSync(configFile, `redis:\n  prefix: ${prefix}\ncloud:\n  sim:\n    timeScale: 0.01\nparams:\n  pollIntervalMs: 50\n  livenessWaitSeconds: 0.1\nworkflows:\n  host-degraded: notify-only\n`);
  const env = { ...process.env, REDIS_URL: redis.url, RESURRECT_RUNTIME_DIR: runtimeDir, RESURRECT_CONFIG: configFile };
  // --no-api: the second-terminal commands take their Redis path here (over the API: cli-api.test.ts).
  const engine = spawn(process.execPath, [BIN, 'start', '--no-api'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  engine.stdout.on('data', (chunk) => { output += String(chunk); });
  engine.stderr.on('data', (chunk) => { output += String(chunk); });
  const exited = new Promise<number | null>((done) => engine.on('exit', (code) => done(code)));
  t.teardown(() => { if (engine.exitCode === null) engine.kill('SIGKILL'); });
  for (let i = 0; i < 300 && !output.includes('workflows:'); i++) await new Promise((r) => setTimeout(r, 50));
  t.true(output.includes('workflows:'), output);

  // Commands in the second terminal find the engine through the runtime file: no REDIS_URL, no config.
  const second = { RESURRECT_RUNTIME_DIR: runtimeDir, REDIS_URL: '', RESURRECT_CONFIG: '' };
  const failed = await cli(['sim', 'fail', 'compute-3'], second);
  t.is(failed.code, 0, failed.stderr);
  const id = /opened incident (inc-\S+) \(fence-then-evacuate\)/.exec(failed.stdout)?.[1];
  t.truthy(id, failed.stdout);
  let trail = '';
  for (let i = 0; i < 400 && !/incident (resolved|escalated)/.test(trail); i++) {
    trail = (await cli(['audit', id!], second)).stdout;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.regex(trail, /incident resolved/);
  t.regex(output, /fence-then-evacuate compute-3: fencing → verifying/, 'the engine terminal shows progress lines');

  const triggered = await cli(['trigger', 'host-down', 'compute-3', '--json'], second);
  t.is(triggered.code, 0, triggered.stderr);
  const body = JSON.parse(triggered.stdout) as { created: boolean; incident: { id: string } };
  t.false(body.created, 'within the dedupe window the event joins the incident just closed');
  t.is(body.incident.id, id as string);

  const vmFail = await cli(['sim', 'fail', 'compute-5', '--mode', 'vm', '--json'], second);
  t.is(vmFail.code, 0, vmFail.stderr);
  const vm = JSON.parse(vmFail.stdout) as { reports: { incident: { workflow: string; kind: string } }[] };
  t.is(vm.reports[0]?.incident.workflow, 'restart-in-place');

  // notify-only (mapped for host-degraded here) waits for an operator, who decides from the CLI.
  const held = JSON.parse((await cli(['trigger', 'host-degraded', 'compute-6', '--json'], second)).stdout) as { incident: { id: string; recoveryId: string } };
  for (let i = 0; i < 200 && !/→ awaitingDecision/.test(trail); i++) {
    trail = (await cli(['audit', held.incident.recoveryId], second)).stdout;
    await new Promise((r) => setTimeout(r, 50));
  }
  const decided = await cli(['decide', held.incident.recoveryId, 'resolve', '--by', 'erin', '--comment', 'replaced the fan'], second);
  t.is(decided.code, 0, decided.stderr);
  for (let i = 0; i < 200 && !/incident resolved/.test(trail); i++) {
    trail = (await cli(['audit', held.incident.id], second)).stdout;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.regex(trail, /operator erin decided: resolve \(replaced the fan\)/);
  t.regex(trail, /incident resolved: decided by erin: replaced the fan/);
  const bad = await cli(['decide', held.incident.recoveryId, 'maybe'], second);
  t.is(bad.code, 2, 'an invalid decision is refused by the argument parser');

  engine.kill('SIGTERM');
  t.is(await exited, 0);
});
