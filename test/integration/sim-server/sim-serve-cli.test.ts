import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { passwordAuth } from './harness';

const BIN = resolve(__dirname, '../../../bin/resurrect.js');
const run = promisify(execFile);

test('resurrect sim serve: prints the endpoints, serves them, writes clouds.yaml; SIGTERM ⇒ exit 0', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rsr-sim-serve-'));
  const inventory = join(dir, 'world.json');
  writeFileSync(inventory, JSON.stringify({ hosts: [{ name: 'alpha', vcpus: 4, ramMb: 8192 }, { name: 'beta', vcpus: 4, ramMb: 8192 }], instances: [{ id: 'vm-a', host: 'alpha', flavor: { name: 'm', vcpus: 1, ramMb: 512 } }] }));
  const clouds = join(dir, 'clouds.yaml');
  const child = spawn(process.execPath, [BIN, 'sim', 'serve', '--time-scale', '0', '--inventory', inventory, '--clouds-yaml', clouds, '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`not ready in time: ${stdout} ${stderr}`)), 15_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('Serving;')) {
        clearTimeout(timer);
        ready();
      }
    });
    child.on('exit', () => fail(new Error(`exited early: ${stderr}`)));
  });

  const url = (label: string) => new RegExp(`^${label}\\s+(\\S+)`, 'm').exec(stdout)?.[1] ?? '';
  const authUrl = url('auth URL');
  const computeUrl = url('compute URL');
  t.regex(authUrl, /^http:\/\/127\.0\.0\.1:\d+\/identity$/);
  t.regex(computeUrl, /^http:\/\/127\.0\.0\.1:\d+\/compute\/v2\.1$/);
  t.regex(url('Redfish URL'), /^https:\/\/127\.0\.0\.1:\d+$/);
  t.regex(stdout, /2 hosts, 1 instances/);
  const yaml = readFileSync(clouds, 'utf8');
  t.true(yaml.includes(`auth_url: ${authUrl}`), yaml);
  t.regex(yaml, /project_name: admin/);

  const auth = await fetch(`${authUrl}/v3/auth/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(passwordAuth()) });
  t.is(auth.status, 201);
  const servers = await fetch(`${computeUrl}/servers/detail?all_tenants=1&host=alpha`, { headers: { 'x-auth-token': auth.headers.get('x-subject-token') ?? '' } });
  t.deepEqual(((await servers.json()) as { servers: { id: string }[] }).servers.map((s) => s.id), ['vm-a']);

  child.kill('SIGTERM');
  t.is(await exited, 0, stderr);
});

test('resurrect sim serve refuses a non-loopback bind address (exit 2)', async (t) => {
  const error = await t.throwsAsync(run(process.execPath, [BIN, 'sim', 'serve', '--bind', '0.0.0.0', '--time-scale', '0'], { timeout: 15_000 }));
  const e = error as unknown as { code: number; stderr: string };
  t.is(e.code, 2);
  t.regex(e.stderr, /loopback only/);
});
