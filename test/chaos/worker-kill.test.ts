/**
 * Crash test (issue: many workers): the simulated cloud served over HTTP, three `resurrect worker` processes
 * driving it through the OpenStack driver and Debian's real fence_redfish, three hosts × 20 VMs failed, and
 * workers killed with SIGKILL at seeded random moments while replacements start. Every VM must be evacuated
 * exactly once (the simulator's counter), no incident lost, every recovery's audit trail complete and ordered.
 *
 * CI runs two seeds; RESURRECT_SOAK=<n> runs n seeds with more kills.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import pino from 'pino';
import test from 'ava';
import { loadConfig } from '../../src/config/config';
import { buildApp } from '../../src/container';
import { SimWorld } from '../../src/drivers/cloud/sim/world';
import { startSimServer } from '../../src/drivers/cloud/sim/http/server';
import { useRedis } from '../helpers/redis';
import { BMC, servedCloudConfig } from '../helpers/served-cloud';
import { until } from '../helpers/wait';

const redis = useRedis(test);
const BIN = resolve(__dirname, '../../bin/resurrect.js');
const SOAK = Number(process.env.RESURRECT_SOAK ?? 0);
const SEEDS = SOAK > 0 ? Array.from({ length: SOAK }, (_, i) => 100 + i) : [11, 12];
const KILLS = SOAK > 0 ? 12 : 5;
const FAILED = ['compute-1', 'compute-2', 'compute-3'];
const VMS_PER_HOST = 20;

/** mulberry32: the kill schedule is reproducible from the seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

function world(seed: number): SimWorld {
  // Rebuilds take ~1 s of real time; the API answers in well under a millisecond.
  const w = new SimWorld({ seed, timeScale: 0.001, latency: { completeMs: { evacuate: 1_000_000 } } });
  for (let i = 1; i <= 9; i++) w.addHost({ name: `compute-${i}`, zone: 'az-1', vcpus: 32, ramMb: 65_536 });
  w.addImage('img-cirros');
  const flavor = { name: 'm1.small', vcpus: 1, ramMb: 1024, extraSpecs: {} };
  for (const host of FAILED) {
    for (let n = 0; n < VMS_PER_HOST; n++) w.addInstance({ id: `${host}-vm-${n}`, host, flavor, image: 'img-cirros', sharedStorage: n % 2 === 0 });
  }
  return w;
}

for (const seed of SEEDS) {
  test.serial(`seed ${seed}: 3 worker processes, ${KILLS}+ SIGKILLs mid-recovery ⇒ 60 VMs evacuated exactly once, nothing lost`, async (t) => {
    t.timeout(180_000);
    const log = pino({ level: 'silent' });
    const w = world(seed);
    const sim = await startSimServer({ world: w, log, bmc: BMC });
    t.teardown(() => sim.close());

    const prefix = redis.newPrefix();
    const { configFile, env } = servedCloudConfig({ sim, prefix, redisUrl: redis.url, extra: `
params: { pollIntervalMs: 100, activeTimeoutSeconds: 60, livenessWaitSeconds: 0.2 }
worker: { concurrency: 8, lockDurationMs: 3000, stalledIntervalMs: 1000, maxStalledCount: 50 }
retry: { attempts: 8, backoffMs: 200 }
log: { level: info }
` });
    const output: string[] = [];
    const workers = new Map<string, ChildProcess>();
    let named = 0;
    const startWorker = () => {
      const name = `w${++named}`;
      const child = spawn(process.execPath, [BIN, 'worker', '--name', name], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.on('data', (c) => output.push(`${name}: ${String(c)}`));
      child.stderr?.on('data', (c) => output.push(`${name}: ${String(c)}`));
      workers.set(name, child);
      child.on('exit', () => workers.delete(name));
    };
    t.teardown(() => { for (const child of workers.values()) child.kill('SIGKILL'); });
    for (let i = 0; i < 3; i++) startWorker();

    // The reporting side: what a monitor's call does, from this process.
    const reporter = await buildApp({ config: loadConfig({ file: configFile, env: {} }), redisUrl: redis.url, log, workerName: 'monitor' });
    t.teardown(() => reporter.close());
    for (const host of FAILED) w.failHost(host, 'power');
    const incidents = await Promise.all(FAILED.map((host) => reporter.engine.report({ kind: 'host-down', host, source: 'crash-test' })));

    const random = rng(seed);
    let kills = 0;
    const open = async () => (await Promise.all(incidents.map(({ incident }) => reporter.engine.incident(incident.id)))).some((i) => i.status === 'open');
    while (kills < KILLS && (await open())) {
      await new Promise((r) => setTimeout(r, 300 + random() * 1200));
      const live = [...workers.keys()];
      if (live.length === 0) continue;
      const victim = live[Math.floor(random() * live.length)]!;
      workers.get(victim)?.kill('SIGKILL');
      kills++;
      startWorker();
    }
    await until(async () => !(await open()), 150_000).catch(() => t.log(output.join('').slice(-4000)));

    t.true(kills >= KILLS, `only ${kills} kills happened before the incidents closed`);
    for (const { incident } of incidents) {
      const closed = await reporter.engine.incident(incident.id);
      t.is(closed.outcome, 'recovered', `${incident.id}: ${closed.reason ?? ''}`);
    }
    for (const host of FAILED) {
      for (let n = 0; n < VMS_PER_HOST; n++) {
        const id = `${host}-vm-${n}`;
        t.is(w.count('evacuate', id, 'accepted'), 1, `${id} evacuated exactly once`);
        const vm = w.instanceState(id);
        t.is(vm.status, 'ACTIVE', id);
        t.false(FAILED.includes(vm.host), id);
      }
    }
    t.deepEqual(w.splitBrains(), []);
    // Secrets from clouds.yaml and the fencing configuration appear nowhere the run left a trace.
    const everything = [output.join(''), JSON.stringify(await reporter.redis.xrange(`${prefix}:audit`, '-', '+'))];
    t.true(everything.every((text) => text.length > 10_000), 'the workers logged and audited (the search is not vacuous)');
    for (const secret of [BMC.password, 'password: secret', '"secret"']) {
      t.false(everything.some((text) => text.includes(secret)), `${secret} leaked`);
    }
    for (const { incident } of incidents) {
      for (const child of await reporter.engine.children(incident.recoveryId)) {
        const transitions = (await reporter.engine.audit(child.id)).map((r) => r.record).filter((r) => r.type === 'transition');
        t.is(transitions[0]?.from, '(start)', child.id);
        t.is(transitions.at(-1)?.to, 'recovered', child.id);
        for (let i = 1; i < transitions.length; i++) {
          t.is(transitions[i]!.from, transitions[i - 1]!.to, `${child.id}: ${transitions.map((r) => `${r.from}→${r.to}`).join(', ')}`);
        }
      }
    }
  });
}
