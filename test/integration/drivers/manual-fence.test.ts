import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import type { Clock } from '../../../src/domain';
import { systemClock } from '../../../src/domain';
import { FenceAgentDevice } from '../../../src/drivers/fencing/fence-agent/fence-agent-device';
import { confirmPowerOff, pendingRequests, readManualFence } from '../../../src/drivers/fencing/manual/confirmations';
import { ManualFenceDevice } from '../../../src/drivers/fencing/manual/manual-fence-device';
import { FencingTopology } from '../../../src/drivers/fencing/topology';
import { Keys } from '../../../src/engine/keys';
import { eventually } from '../../contracts/eventually';
import { useRedis } from '../../helpers/redis';

const redis = useRedis(test);
const BIN = resolve(__dirname, '../../../bin/resurrect.js');

/** The engine's side and, on a second connection, the operator's (what the CLI does in its own process). */
function sides(clock: Clock = systemClock, options: { timeoutMs?: number; requestTtlMs?: number } = {}) {
  const keys = new Keys(redis.newPrefix());
  const engine = redis.connection();
  const operator = redis.connection();
  const device = new ManualFenceDevice({ redis: engine, keys, hosts: ['compute-1'], pollIntervalMs: 20, clock, ...options });
  return { keys, engine, operator, device };
}

const pendingHosts = async (s: ReturnType<typeof sides>) => (await pendingRequests(s.operator, s.keys)).map((r) => r.host);

test('off waits for the operator: pending request visible, status unknown until a confirmation from another connection, then off', async (t) => {
  const s = sides();
  t.is(s.device.id, 'manual:compute-1');
  t.is(await s.device.status('compute-1'), 'unknown', 'nothing asked, nothing known: never on');
  let resolved = false;
  const off = s.device.off('compute-1').then(() => { resolved = true; });
  await eventually(() => pendingHosts(s), (hosts) => hosts.includes('compute-1'), { what: 'the pending request' });
  const [request] = await pendingRequests(s.operator, s.keys);
  t.like(request, { host: 'compute-1', device: 'manual:compute-1' });
  t.is(await s.device.status('compute-1'), 'unknown');
  await new Promise((r) => setTimeout(r, 100));
  t.false(resolved, 'off does not resolve before the confirmation');

  const record = await confirmPowerOff(s.operator, s.keys, 'compute-1', 'alice', 'pulled both PSUs');
  t.like(record, { host: 'compute-1', by: 'alice', comment: 'pulled both PSUs', requestId: request!.id });
  t.false(Number.isNaN(Date.parse(record!.at)));
  await off;
  t.is(await s.device.status('compute-1'), 'off');
  t.deepEqual(await pendingHosts(s), []);
  t.deepEqual((await readManualFence(s.operator, s.keys, 'compute-1')).confirmation, record, 'the record is stored as written');
});

test('an aborted off rejects with the reason; the request stays pending and a later confirmation still counts', async (t) => {
  const s = sides();
  const controller = new AbortController();
  const reason = new Error('recovery cancelled');
  const off = s.device.off('compute-1', { signal: controller.signal });
  await eventually(() => pendingHosts(s), (hosts) => hosts.includes('compute-1'), { what: 'the pending request' });
  controller.abort(reason);
  t.is(await t.throwsAsync(off), reason);
  t.is(await s.device.status('compute-1'), 'unknown');
  t.deepEqual(await pendingHosts(s), ['compute-1']);
  await confirmPowerOff(s.operator, s.keys, 'compute-1', 'bob');
  t.is(await s.device.status('compute-1'), 'off');
  await s.device.off('compute-1'); // answered already: returns at once
  const signal = AbortSignal.abort(reason);
  t.is(await t.throwsAsync(s.device.off('compute-1', { signal })), reason, 'an already aborted signal is refused before anything');
});

test('off gives up after its timeout with RSR_FENCE_UNCONFIRMED; a confirmation given in advance or for an older request never counts', async (t) => {
  let now = Date.UTC(2026, 0, 1);
  const clock: Clock = { now: () => now, sleep: (ms, signal) => { now += ms; return systemClock.sleep(1, signal); } };
  const s = sides(clock, { timeoutMs: 200, requestTtlMs: 60_000 });
  t.is(await confirmPowerOff(s.operator, s.keys, 'compute-1', 'carol'), undefined, 'nothing pending: nothing to confirm');
  t.is(await s.device.status('compute-1'), 'unknown');

  await t.throwsAsync(s.device.off('compute-1'), { code: 'RSR_FENCE_UNCONFIRMED', message: /resurrect fence confirm compute-1/ });
  const [first] = await pendingRequests(s.operator, s.keys);
  t.truthy(first);
  await confirmPowerOff(s.operator, s.keys, 'compute-1', 'carol');
  t.is(await s.device.status('compute-1'), 'off');

  now += 61_000; // the request (and its confirmation) are now stale
  t.is(await s.device.status('compute-1'), 'unknown', 'an old confirmation does not vouch for today');
  await t.throwsAsync(s.device.off('compute-1'), { code: 'RSR_FENCE_UNCONFIRMED' });
  const [second] = await pendingRequests(s.operator, s.keys);
  t.not(second?.id, first?.id, 'a new request was made');

  await confirmPowerOff(s.operator, s.keys, 'compute-1', 'dave');
  t.is(await s.device.status('compute-1'), 'off');
  await s.device.on('compute-1');
  t.is(await s.device.status('compute-1'), 'unknown', 'unfencing withdraws the confirmation');
  await t.throwsAsync(s.device.status('compute-2'), { code: 'RSR_FENCE_FAILED' });
  await t.throwsAsync(confirmPowerOff(s.operator, s.keys, 'compute-1', ' '), { code: 'RSR_INPUT_INVALID' });
});

test('a topology falls back to manual fencing and the CLI confirms it from another process (`resurrect fence pending|confirm`)', async (t) => {
  const prefix = redis.newPrefix();
  const keys = new Keys(prefix);
  const engine = redis.connection();
  const stuck = new FenceAgentDevice({ agent: 'fence_dummy', id: 'bmc-compute-1', hosts: ['compute-1'], parameters: { type: 'fail', power_timeout: 1, stonith_status_sleep: 0 } });
  const manual = new ManualFenceDevice({ redis: engine, keys, hosts: ['compute-1'], pollIntervalMs: 20, timeoutMs: 30_000 });
  const topology = new FencingTopology({ timeoutMs: 30_000, levels: { 'compute-1': [[stuck], [manual]] } });
  const fencing = topology.fence('compute-1');

  const run = promisify(execFile);
  const env = { ...process.env, REDIS_URL: redis.url, RESURRECT_CONFIG: join(mkdtempSync(join(tmpdir(), 'rsr-fence-cli-')), 'none.yaml') };
  writeFileSync(env.RESURRECT_CONFIG, '{}\n');
  const cli = (...args: string[]) => run(process.execPath, [BIN, ...args, '--prefix', prefix], { env });
  await eventually(async () => (await pendingRequests(engine, keys)).length, (n) => n === 1, { what: 'the manual request', timeoutMs: 10_000 });

  const pending = await cli('fence', 'pending');
  t.regex(pending.stdout, /^compute-1 {2}requested .* by manual:compute-1; power it off, then: resurrect fence confirm compute-1 --by <name>$/m);
  const refused = await t.throwsAsync(cli('fence', 'confirm', 'compute-2', '--by', 'erin'));
  t.is((refused as unknown as { code: number }).code, 3);
  const confirmed = await cli('fence', 'confirm', 'compute-1', '--by', 'erin', '--comment', 'PDU outlets 7+8 off', '--json');
  const record = JSON.parse(confirmed.stdout) as Record<string, unknown>;
  t.like(record, { host: 'compute-1', by: 'erin', comment: 'PDU outlets 7+8 off' });

  const report = await fencing;
  t.like(report, { host: 'compute-1', level: 2, devices: ['manual:compute-1'], alreadyOff: false });
  t.true(report.attempts.some((a) => a.level === 1 && a.action === 'off' && !a.ok));
  t.true(report.attempts.some((a) => a.level === 2 && a.action === 'status' && a.result === 'unknown'));
  t.true(report.attempts.some((a) => a.level === 2 && a.action === 'status' && a.result === 'off'));
  t.is((await cli('fence', 'pending')).stdout, 'no manual fencing request pending\n');
});
