/**
 * Ordering under contention across processes (issue 5, part 3): two hosts down with gold and bronze VMs mixed
 * on both, one recovery slot shared by two `resurrect worker` processes. Every gold VM must finish before any
 * bronze VM starts, read from the global audit stream (one order for everything every process wrote).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import test from 'ava';
import { loadConfig } from '../../src/config/config';
import { buildApp } from '../../src/container';
import type { AuditRecord } from '../../src/domain';
import { SimWorld } from '../../src/drivers/cloud/sim/world';
import { startSimServer } from '../../src/drivers/cloud/sim/http/server';
import { useRedis } from '../helpers/redis';
import { BMC, servedCloudConfig } from '../helpers/served-cloud';
import { until } from '../helpers/wait';

const redis = useRedis(test);
const BIN = resolve(__dirname, '../../bin/resurrect.js');
const FAILED = ['compute-1', 'compute-2'];

function world(): SimWorld {
  // Rebuilds take ~0.2 s of real time: long enough that a second slot-holder would overlap visibly.
  const w = new SimWorld({ seed: 5, timeScale: 0.001, latency: { completeMs: { evacuate: 200_000 } } });
  for (let i = 1; i <= 6; i++) w.addHost({ name: `compute-${i}`, zone: 'az-1', vcpus: 32, ramMb: 65_536 });
  w.addImage('img-cirros');
  const flavor = { name: 'm1.small', vcpus: 1, ramMb: 1024, extraSpecs: {} };
  for (const host of FAILED) {
    // Ids interleave tiers, so neither id order nor creation order puts gold first.
    for (let n = 0; n < 6; n++) {
      w.addInstance({ id: `${host}-vm-${n}`, host, flavor, image: 'img-cirros', sharedStorage: true, metadata: { tier: n % 2 === 0 ? 'bronze' : 'gold' } });
    }
  }
  return w;
}

test('two hosts down, mixed SLAs, one slot shared by two worker processes ⇒ every gold VM finishes before any bronze VM starts', async (t) => {
  t.timeout(120_000);
  const log = pino({ level: 'silent' });
  const w = world();
  const sim = await startSimServer({ world: w, log, bmc: BMC });
  t.teardown(() => sim.close());
  const prefix = redis.newPrefix();
  const policyFile = join(mkdtempSync(join(tmpdir(), 'rsr-order-')), 'policy.yaml');
  writeFileSync(policyFile, `
version: 1
rules:
  - { name: gold-vms, match: { vm: { metadata: { tier: gold } } }, sla: gold, workflow: fence-then-evacuate }
  - { name: default, default: true, sla: bronze, workflow: fence-then-evacuate }
`);
  const { configFile, env } = servedCloudConfig({ sim, prefix, redisUrl: redis.url, extra: `
policy: { file: ${policyFile} }
limits: { global: 1 }
params: { pollIntervalMs: 50, activeTimeoutSeconds: 60, livenessWaitSeconds: 0.2 }
worker: { concurrency: 4, lockDurationMs: 3000, stalledIntervalMs: 1000 }
retry: { attempts: 5, backoffMs: 200 }
log: { level: warn }
` });
  const output: string[] = [];
  const workers: ChildProcess[] = [];
  t.teardown(() => { for (const child of workers) child.kill('SIGKILL'); });
  for (const name of ['w1', 'w2']) {
    const child = spawn(process.execPath, [BIN, 'worker', '--name', name], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (c) => output.push(`${name}: ${String(c)}`));
    child.stderr?.on('data', (c) => output.push(`${name}: ${String(c)}`));
    workers.push(child);
  }

  const reporter = await buildApp({ config: loadConfig({ file: configFile, env: {} }), redisUrl: redis.url, log, workerName: 'monitor' });
  t.teardown(() => reporter.close());
  for (const host of FAILED) w.failHost(host, 'power');
  const incidents = await Promise.all(FAILED.map((host) => reporter.engine.report({ kind: 'host-down', host, source: 'ordering-test' })));
  const open = async () => (await Promise.all(incidents.map(({ incident }) => reporter.engine.incident(incident.id)))).some((i) => i.status === 'open');
  await until(async () => !(await open()), 90_000).catch(() => t.log(output.join('').slice(-4000)));
  for (const { incident } of incidents) t.is((await reporter.engine.incident(incident.id)).outcome, 'recovered');

  // The global stream, in the order Redis appended it; children are named by their instance.
  const rows = (await reporter.redis.xrange(`${prefix}:audit`, '-', '+')).map(([, fields]) => JSON.parse(fields[fields.indexOf('r') + 1] ?? '{}') as AuditRecord);
  const tierOf = (recoveryId: string | undefined) => {
    const n = Number(/vm-(\d+)$/.exec(recoveryId ?? '')?.[1] ?? NaN);
    return Number.isNaN(n) ? undefined : n % 2 === 0 ? 'bronze' : 'gold';
  };
  const childRows = rows.map((record, index) => ({ record, index, tier: tierOf(record.recoveryId) })).filter((row) => row.tier !== undefined);
  const goldFinished = childRows.filter((row) => row.tier === 'gold' && /^recovery recovered/.test(row.record.message));
  const bronzeStarted = childRows.filter((row) => row.tier === 'bronze' && row.record.type === 'transition' && row.record.from === '(start)');
  t.is(goldFinished.length, 6, 'six gold VMs recovered');
  t.is(bronzeStarted.length, 6, 'six bronze VMs started');
  const lastGold = Math.max(...goldFinished.map((row) => row.index));
  const firstBronze = Math.min(...bronzeStarted.map((row) => row.index));
  t.true(lastGold < firstBronze, `a bronze VM started (audit #${firstBronze}) before the last gold VM finished (#${lastGold})`);
  // Both processes did the work, and bronze VMs really waited for the slot (the order was not luck).
  const writers = new Set(childRows.filter((row) => row.record.type === 'transition').map((row) => row.record.worker));
  t.deepEqual([...writers].sort(), ['w1', 'w2']);
  t.true(childRows.some((row) => row.tier === 'bronze' && /^waiting: waiting for a recovery slot/.test(row.record.message)));
  for (const host of FAILED) {
    for (let n = 0; n < 6; n++) t.is(w.count('evacuate', `${host}-vm-${n}`, 'accepted'), 1);
  }
});
