import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test from 'ava';
import pino from 'pino';
import { FenceAgentDevice } from '../../../src/drivers/fencing/fence-agent/fence-agent-device';
import { agentMetadata, parseMetadata, unknownParameters } from '../../../src/drivers/fencing/fence-agent/metadata';
import { agentEnv, resolveAgent } from '../../../src/drivers/fencing/fence-agent/run-agent';
import { fakeAgents, processAlive } from '../../helpers/fence-agents';

const PASSWORD = 'hunter2-Sx9!q';

function statusFile(content?: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'rsr-dummy-')), 'power');
  if (content !== undefined) writeFileSync(file, content);
  return file;
}

function capture() {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
  return { lines, log: pino({ level: 'trace' }, stream) };
}

async function waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('fence_dummy: status maps exit 0 to on and exit 2 to off; off makes the status file say off and claims nothing', async (t) => {
  const file = statusFile('on');
  const device = new FenceAgentDevice({ agent: 'fence_dummy', parameters: { status_file: file }, hosts: ['node-1'] });
  t.is(device.path, '/usr/sbin/fence_dummy');
  t.is(device.id, 'fence_dummy:node-1');
  t.is(await device.status('node-1'), 'on');
  t.is(await device.off('node-1'), undefined);
  t.is(readFileSync(file, 'utf8'), 'off');
  t.is(await device.status('node-1'), 'off');
  await device.on('node-1');
  t.is(readFileSync(file, 'utf8'), 'on');
  t.is(await device.status('node-1'), 'on');
  await t.throwsAsync(device.status('node-2'), { code: 'RSR_FENCE_FAILED' }, 'a device configured for node-1 refuses other targets');
});

test('fence_dummy: a status the agent cannot read is RSR_DRIVER_UNAVAILABLE with its last stderr line, never off', async (t) => {
  const device = new FenceAgentDevice({ agent: 'fence_dummy', parameters: { status_file: statusFile('flickering') } });
  const error = await t.throwsAsync(device.status('node-1'));
  t.like(error, { code: 'RSR_DRIVER_UNAVAILABLE', retryable: true });
  t.regex(error!.message, /fence_dummy status node-1 failed \(exit 1\): .*Unable to obtain correct plug status/);
  // off on the same device fails too (fencing.py reads status first)
  await t.throwsAsync(device.off('node-1'), { code: 'RSR_DRIVER_UNAVAILABLE' });
});

test('fence_dummy --type=fail: status says on, off fails with the agent\'s reason', async (t) => {
  const device = new FenceAgentDevice({ agent: 'fence_dummy', parameters: { type: 'fail', power_timeout: 1, stonith_status_sleep: 0 } });
  t.is(await device.status('node-1'), 'on');
  const error = await t.throwsAsync(device.off('node-1'));
  t.like(error, { code: 'RSR_DRIVER_UNAVAILABLE' });
  t.regex(error!.message, /exit 1\): .*Timed out waiting to power OFF/);
});

test('stdin is exactly what Pacemaker sends: action, host argument, nodename, then the parameters; no argv, no PCMK_service', async (t) => {
  const agents = fakeAgents();
  t.teardown(() => agents.remove());
  const device = new FenceAgentDevice({
    agent: 'fence_record',
    searchPath: agents.dir,
    hostArgument: 'plug',
    hostMap: { 'compute-1': 'System.Embedded.1' },
    parameters: { ip: '127.0.0.1', ipport: 8443, username: 'admin', password: PASSWORD, ssl_insecure: '1', systems_uri: '/redfish/v1/Systems/compute-1' },
    env: {},
  });
  t.is(device.path, join(agents.dir, 'fence_record'));
  t.is(await device.status('compute-1'), 'on');
  const expected = 'action=status\nplug=System.Embedded.1\nnodename=compute-1\nip=127.0.0.1\nipport=8443\nusername=admin\n'
    + `password=${PASSWORD}\nssl_insecure=1\nsystems_uri=/redfish/v1/Systems/compute-1\n`;
  t.is(agents.read('record.stdin'), expected);
  t.is(await device.stdinFor('status', 'compute-1'), expected);
  t.is(agents.read('record.argc').trim(), '0');
  t.is(agents.read('record.pcmk').trim(), 'unset');
  agents.write('code', '2');
  t.is(await device.status('compute-1'), 'off');
  await t.throwsAsync(device.off('compute-1'), { code: 'RSR_DRIVER_UNAVAILABLE' }, 'off has only 0 for success');
  agents.write('code', '0');
  await device.off('compute-1');
  t.true(agents.read('record.stdin').startsWith('action=off\n'));
  agents.write('code', '3');
  await t.throwsAsync(device.status('compute-1'), { code: 'RSR_DRIVER_UNAVAILABLE' }, 'an exit code other than 0 and 2 is an error');
  t.false('PCMK_service' in agentEnv({ PCMK_service: 'pacemaker-fenced', PATH: '/bin' }));
});

test('the host argument follows the metadata as Pacemaker picks it: plug if listed (fence_redfish), else port (fence_dummy); none suppresses it', async (t) => {
  const redfish = new FenceAgentDevice({ agent: 'fence_redfish', parameters: { ip: '127.0.0.1', username: 'admin', password: PASSWORD } });
  t.is(await redfish.stdinFor('off', 'compute-1'), `action=off\nplug=compute-1\nnodename=compute-1\nip=127.0.0.1\nusername=admin\npassword=${PASSWORD}\n`);
  const dummy = new FenceAgentDevice({ agent: 'fence_dummy', parameters: { status_file: '/tmp/x' } });
  t.is(await dummy.stdinFor('status', 'node-1'), 'action=status\nport=node-1\nnodename=node-1\nstatus_file=/tmp/x\n');
  const none = new FenceAgentDevice({ agent: 'fence_dummy', hostArgument: 'none', parameters: { status_file: '/tmp/x' } });
  t.is(await none.stdinFor('on', 'node-1'), 'action=on\nnodename=node-1\nstatus_file=/tmp/x\n');
  const explicit = new FenceAgentDevice({ agent: 'fence_redfish', parameters: { plug: 'blade-7' } });
  t.is(await explicit.stdinFor('status', 'compute-1'), 'action=status\nnodename=compute-1\nplug=blade-7\n', 'a configured plug wins over the target');
});

test('a call that outlives its timeout is RSR_DRIVER_TIMEOUT and the agent\'s whole process group is killed', async (t) => {
  const agents = fakeAgents();
  t.teardown(() => agents.remove());
  const device = new FenceAgentDevice({ agent: 'fence_sleepy', searchPath: agents.dir, hostArgument: 'port', timeoutMs: 400 });
  const started = Date.now();
  const error = await t.throwsAsync(device.off('node-1'));
  t.like(error, { code: 'RSR_DRIVER_TIMEOUT', retryable: true });
  t.regex(error!.message, /fence_sleepy off node-1 did not answer within 400 ms/);
  t.true(Date.now() - started < 2000);
  const [shell, sleeper] = agents.read('sleepy.pids').trim().split(' ').map(Number) as [number, number];
  await waitFor(() => (!processAlive(shell) && !processAlive(sleeper) ? true : undefined), 'the agent and its child to die');
  t.pass();
});

test('an aborted call rejects with the reason and kills the agent', async (t) => {
  const agents = fakeAgents();
  t.teardown(() => agents.remove());
  const device = new FenceAgentDevice({ agent: 'fence_sleepy', searchPath: agents.dir, hostArgument: 'port', timeoutMs: 10_000 });
  const controller = new AbortController();
  const reason = new Error('recovery cancelled');
  const call = device.status('node-1', { signal: controller.signal });
  const pids = await waitFor(() => (agents.exists('sleepy.pids') ? agents.read('sleepy.pids') : undefined), 'the agent to start');
  controller.abort(reason);
  t.is(await t.throwsAsync(call), reason);
  const [shell, sleeper] = pids.trim().split(' ').map(Number) as [number, number];
  await waitFor(() => (!processAlive(shell) && !processAlive(sleeper) ? true : undefined), 'the agent and its child to die');
  t.pass();
});

test('the password travels on stdin only: absent from the running agent\'s /proc cmdline and environment', async (t) => {
  const agents = fakeAgents();
  t.teardown(() => agents.remove());
  const { lines, log } = capture();
  const device = new FenceAgentDevice({
    agent: 'fence_sleepy', searchPath: agents.dir, hostArgument: 'plug', timeoutMs: 10_000, log,
    parameters: { ip: '10.0.0.5', username: 'admin', password: PASSWORD, password_script: `/bin/echo ${PASSWORD}` },
  });
  const controller = new AbortController();
  const call = device.off('compute-9', { signal: controller.signal });
  const pids = await waitFor(() => (agents.exists('sleepy.pids') ? agents.read('sleepy.pids') : undefined), 'the agent to start');
  const [shell] = pids.trim().split(' ').map(Number) as [number];
  const cmdline = readFileSync(`/proc/${shell}/cmdline`, 'utf8');
  const environ = readFileSync(`/proc/${shell}/environ`, 'utf8');
  t.regex(cmdline, /fence_sleepy/, 'we read the right process');
  t.false(cmdline.includes(PASSWORD));
  t.false(cmdline.includes('compute-9'), 'no argument at all: not even the target');
  t.false(environ.includes(PASSWORD));
  t.true(agents.read('sleepy.stdin').includes(`password=${PASSWORD}\n`), 'the agent did get it, on stdin');
  controller.abort(new Error('done'));
  await t.throwsAsync(call);
  t.false(lines.join('').includes(PASSWORD));
});

test('an agent that echoes its input and fails: the error message, its details and the logs carry no secret', async (t) => {
  const agents = fakeAgents();
  t.teardown(() => agents.remove());
  const { lines, log } = capture();
  const device = new FenceAgentDevice({
    agent: 'fence_echo', searchPath: agents.dir, hostArgument: 'plug', log,
    parameters: { username: 'admin', passwd_script: '/usr/local/bin/get-bmc-pass', password: PASSWORD },
  });
  const error = await t.throwsAsync(device.status('compute-1'));
  t.like(error, { code: 'RSR_DRIVER_UNAVAILABLE' });
  t.regex(error!.message, /fence_echo status compute-1 failed \(exit 1\): password=\[redacted\]/, 'the last line, redacted');
  t.false(JSON.stringify({ message: error!.message, details: (error as unknown as { details: unknown }).details }).includes(PASSWORD));
  const logged = lines.join('');
  t.true(logged.length > 0, 'the failure was logged');
  t.regex(logged, /\[redacted\]/);
  t.false(logged.includes(PASSWORD));
  t.false(logged.includes('get-bmc-pass'), 'password_script values are secrets too');

  // fence_dummy itself echoes unknown options ("Ignoring unknown option 'password=…'") on stderr
  const dummy = new FenceAgentDevice({ agent: 'fence_dummy', parameters: { status_file: statusFile('garbled'), password: PASSWORD }, log });
  const dummyError = await t.throwsAsync(dummy.off('node-1'));
  t.false(dummyError!.message.includes(PASSWORD));
  t.false(lines.join('').includes(PASSWORD));
});

test('agents are resolved by name only: PATH, then /usr/sbin; anything else is refused as configuration', (t) => {
  t.is(resolveAgent('fence_ipmilan', '/nonexistent'), '/usr/sbin/fence_ipmilan');
  for (const bad of ['/usr/sbin/fence_dummy', '../fence_dummy', 'fence_dummy;id', 'FENCE_DUMMY', 'stonith', 'fence_']) {
    t.throws(() => new FenceAgentDevice({ agent: bad }), { code: 'RSR_CONFIG_INVALID' }, bad);
  }
  t.throws(() => new FenceAgentDevice({ agent: 'fence_nosuchagent' }), { code: 'RSR_CONFIG_INVALID', message: /no fence agent fence_nosuchagent found/ });
});

test('options that would inject a line or override the fencer are refused', (t) => {
  t.throws(() => new FenceAgentDevice({ agent: 'fence_dummy', parameters: { password: 'x\naction=on' } }), { code: 'RSR_CONFIG_INVALID', message: /line break/ });
  t.throws(() => new FenceAgentDevice({ agent: 'fence_dummy', parameters: { 'ip=x': '1' } }), { code: 'RSR_CONFIG_INVALID' });
  t.throws(() => new FenceAgentDevice({ agent: 'fence_dummy', parameters: { action: 'on' } }), { code: 'RSR_CONFIG_INVALID' });
  t.throws(() => new FenceAgentDevice({ agent: 'fence_dummy', parameters: { nodename: 'other' } }), { code: 'RSR_CONFIG_INVALID' });
});

test('metadata of fence_dummy: its parameters, long-option spellings and actions', async (t) => {
  const meta = await agentMetadata('fence_dummy');
  t.is(meta.name, 'fence_dummy');
  t.is(meta.path, '/usr/sbin/fence_dummy');
  for (const p of ['action', 'status_file', 'type', 'random_sleep_range', 'delay', 'power_timeout']) t.true(meta.parameters.includes(p), p);
  t.false(meta.parameters.includes('plug'));
  t.deepEqual(['on', 'off', 'reboot', 'status', 'monitor', 'metadata'].filter((a) => !meta.actions.includes(a)), []);
  t.deepEqual(unknownParameters(meta, ['status_file', 'status-file', 'power-timeout', 'pasword', 'ip']), ['pasword', 'ip']);
});

test('metadata of fence_redfish: the parameters a Redfish BMC needs, old and new names', async (t) => {
  const meta = await agentMetadata('fence_redfish');
  t.is(meta.name, 'fence_redfish');
  for (const p of ['ip', 'ipaddr', 'ipport', 'username', 'login', 'password', 'passwd', 'password_script', 'ssl_insecure', 'systems_uri', 'redfish_uri', 'plug', 'port']) {
    t.true(meta.parameters.includes(p), p);
  }
  t.deepEqual(unknownParameters(meta, ['ip', 'username', 'password', 'ssl_insecure', 'systems_uri', 'systems-uri', 'lanplus']), ['lanplus']);
  t.deepEqual(['on', 'off', 'reboot', 'status'].filter((a) => !meta.actions.includes(a)), []);
  t.is(parseMetadata('<html>not metadata</html>'), undefined);
});
