import { spawn } from 'node:child_process';
import { request } from 'node:https';
import test from 'ava';
import { serve, type Served } from './harness';

/*
 * The Redfish BMCs against Debian's real /usr/sbin/fence_redfish, fed on stdin (never argv: a password on
 * the command line is visible to every user), the way Pacemaker runs it.
 */

const AGENT = '/usr/sbin/fence_redfish';
const SPEC = { hosts: ['compute-1', 'compute-2', 'compute-3'].map((name) => ({ name, vcpus: 8, ramMb: 16384 })) };
/** compute-3's BMC has its own password: the caller's default one is wrong there. */
const bmc = (host: string) => ({ username: 'admin', password: host === 'compute-3' ? 'other-Pa55' : 'bmc-Pa55' });

interface AgentRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function fenceRedfish(s: Served, host: string, action: string, extra: Record<string, string> = {}): Promise<AgentRun> {
  const options: Record<string, string> = {
    ip: '127.0.0.1',
    ipport: String(s.server.redfish.port),
    username: 'admin',
    password: 'bmc-Pa55',
    ssl_insecure: '1',
    systems_uri: s.server.redfish.systemsUri(host),
    action,
    ...extra,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(AGENT, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(Object.entries(options).map(([k, v]) => `${k}=${v}\n`).join(''));
  });
}

const served = () => serve(SPEC, { server: { bmc } });

test('fence_redfish: status on → exit 0; off → exit 0 and the simulated host loses power; status off → exit 2; on → back on', async (t) => {
  const s = await served();
  try {
    const on = await fenceRedfish(s, 'compute-1', 'status');
    t.is(on.code, 0, on.stderr);
    t.regex(on.stdout, /Status: ON/);

    const off = await fenceRedfish(s, 'compute-1', 'off');
    t.is(off.code, 0, off.stderr);
    t.regex(off.stdout, /Success: Powered OFF/);
    t.like(s.world.hostState('compute-1'), { power: 'off', running: false });
    t.is(s.world.hostState('compute-2').power, 'on', 'only that host');

    const status = await fenceRedfish(s, 'compute-1', 'status');
    t.is(status.code, 2, status.stderr);
    t.regex(status.stdout, /Status: OFF/);

    const back = await fenceRedfish(s, 'compute-1', 'on');
    t.is(back.code, 0, back.stderr);
    await s.world.idle();
    t.like(s.world.hostState('compute-1'), { power: 'on', running: true });
    t.is(s.world.count('bmc.off', 'compute-1', 'accepted'), 1);
    t.is(s.world.count('bmc.on', 'compute-1', 'accepted'), 1);
  } finally {
    await s.close();
  }
});

test('fence_redfish: a wrong password is exit 1 and changes nothing; an unreachable BMC is exit 1', async (t) => {
  const s = await served();
  try {
    const wrong = await fenceRedfish(s, 'compute-3', 'off');
    t.is(wrong.code, 1);
    t.is(s.world.hostState('compute-3').power, 'on');
    t.is(s.world.count('bmc.off'), 0);
    t.is((await fenceRedfish(s, 'compute-3', 'status', { password: 'other-Pa55' })).code, 0, "with compute-3's own password");

    s.world.injectFault({ kind: 'bmc-unreachable', host: 'compute-2' });
    const unreachable = await fenceRedfish(s, 'compute-2', 'status');
    t.is(unreachable.code, 1);
    t.regex(unreachable.stderr, /Failed: send_get_request/);
  } finally {
    await s.close();
  }
});

test('fence_redfish: bmc-lies-off ⇒ the agent reports off (exit 0, then status exit 2) while the host still runs; bmc-stuck-on ⇒ off fails', async (t) => {
  const s = await served();
  try {
    s.world.injectFault({ kind: 'bmc-lies-off', host: 'compute-1' });
    t.is((await fenceRedfish(s, 'compute-1', 'off')).code, 0);
    t.is((await fenceRedfish(s, 'compute-1', 'status')).code, 2);
    t.like(s.world.hostState('compute-1'), { running: true, power: 'on' });

    s.world.injectFault({ kind: 'bmc-stuck-on', host: 'compute-2' });
    const stuck = await fenceRedfish(s, 'compute-2', 'off', { power_timeout: '1' });
    t.is(stuck.code, 1, stuck.stdout);
    t.is(s.world.hostState('compute-2').power, 'on');
  } finally {
    await s.close();
  }
});

test('redfish: service root without auth; systems need Basic auth; the certificate is valid for 127.0.0.1; bad ResetType 400', async (t) => {
  const s = await served();
  try {
    const call = (method: string, path: string, auth?: string, body?: unknown) =>
      new Promise<{ status: number; body: any; headers: Record<string, unknown> }>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: s.server.redfish.port, method, path, ca: s.server.redfish.caCertPem, headers: { ...(auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) } },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined, headers: res.headers }));
          },
        );
        req.on('error', reject);
        req.end(body ? JSON.stringify(body) : undefined);
      });
    const root = await call('GET', '/redfish/v1/');
    t.is(root.status, 200);
    t.is(root.body.Systems['@odata.id'], '/redfish/v1/Systems');
    t.is(root.headers['odata-version'], '4.0');
    t.is((await call('GET', '/redfish/v1/Systems')).status, 401);
    const systems = await call('GET', '/redfish/v1/Systems', 'admin:bmc-Pa55');
    t.deepEqual(systems.body.Members.map((m: Record<string, string>) => m['@odata.id']), SPEC.hosts.map((h) => s.server.redfish.systemsUri(h.name)));
    const system = await call('GET', '/redfish/v1/Systems/compute-1', 'admin:bmc-Pa55');
    t.like(system.body, { Id: 'compute-1', PowerState: 'On', Actions: { '#ComputerSystem.Reset': { target: '/redfish/v1/Systems/compute-1/Actions/ComputerSystem.Reset' } } });
    t.is((await call('GET', '/redfish/v1/Systems/compute-1', 'admin:wrong')).status, 401);
    t.is((await call('GET', '/redfish/v1/Systems/compute-9', 'admin:bmc-Pa55')).status, 404);
    t.is((await call('POST', '/redfish/v1/Systems/compute-1/Actions/ComputerSystem.Reset', 'admin:bmc-Pa55', { ResetType: 'Explode' })).status, 400);
    t.is((await call('POST', '/redfish/v1/Systems/compute-1/Actions/ComputerSystem.Reset', 'admin:bmc-Pa55', { ResetType: 'ForceOff' })).status, 204);
    t.is(s.world.hostState('compute-1').power, 'off');
  } finally {
    await s.close();
  }
});

test('redfish: a hung BMC never answers; callers that give up free its session slots (BMCs serve 2 at once)', async (t) => {
  const s = await served();
  try {
    const get = (timeoutMs: number) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: s.server.redfish.port, path: '/redfish/v1/Systems/compute-1', ca: s.server.redfish.caCertPem, headers: { authorization: `Basic ${Buffer.from('admin:bmc-Pa55').toString('base64')}` } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.setTimeout(timeoutMs, () => req.destroy(new Error('gave up')));
        req.on('error', reject);
        req.end();
      });
    const fault = s.world.injectFault({ kind: 'bmc-hangs', host: 'compute-1' });
    const hung = await Promise.allSettled([get(300), get(300), get(300)]);
    t.deepEqual(hung.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
    s.world.clearFault(fault);
    t.is(await get(2000), 200, 'the slots held by the hung calls were given back');
  } finally {
    await s.close();
  }
});
