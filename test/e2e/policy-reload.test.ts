import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test from 'ava';
import { useRedis } from '../helpers/redis';

const redis = useRedis(test);
const BIN = resolve(__dirname, '../../bin/resurrect.js');
const POLICY = (sla: string) => `version: 1\nrules:\n  - name: default\n    default: true\n    sla: ${sla}\n    workflow: fence-then-evacuate\n`;

test('resurrect start reloads its policy on SIGHUP, and keeps the running one when the new file is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rsr-hup-'));
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, POLICY('silver'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `redis: { prefix: ${redis.newPrefix()} }\npolicy: { file: ${policy} }\ncloud: { sim: { timeScale: 0 } }\n`);
  const child = spawn(process.execPath, [BIN, 'start', '--no-api'], {
    env: { ...process.env, REDIS_URL: redis.url, RESURRECT_CONFIG: config, RESURRECT_RUNTIME_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c) => { output += String(c); });
  child.stderr.on('data', (c) => { output += String(c); });
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const waitFor = async (pattern: RegExp) => {
    for (let i = 0; i < 200 && !pattern.test(output); i++) await new Promise((r) => setTimeout(r, 50));
    t.regex(output, pattern);
  };
  await waitFor(/reload with SIGHUP/);
  writeFileSync(policy, POLICY('gold'));
  child.kill('SIGHUP');
  await waitFor(/policy now [0-9a-f]{12} \(was [0-9a-f]{12}\)/);
  writeFileSync(policy, POLICY('no-such-sla'));
  child.kill('SIGHUP');
  await waitFor(/policy reload refused, keeping [0-9a-f]{12}: .*no-such-sla/);
  child.kill('SIGTERM');
  t.is(await exited, 0);
});
