/**
 * Side by side on the lab's real OpenStack (issue 7, part 5): one host holding N servers fails (its power cut
 * through its BMC), and we time from the moment the failure is reported to every server ACTIVE on another host,
 * as Nova itself reports it. Recovered by:
 *   - the lower bound, measured in the same run: fence_ipmilan off + force-down + the lab recipe's plain
 *     evacuate loop (every evacuate at once, then poll), timed from the fence;
 *   - Resurrect: `resurrect serve --worker` on the OpenStack driver and fence_ipmilan, a host-down POSTed;
 *   - Resurrect with its post-fence heartbeat check reduced to nothing (livenessWaitSeconds 0.001): the power
 *     read-back alone, as the lower bound, Masakari and Pacemaker trust it; what the engine costs by itself;
 *   - Masakari: a COMPUTE_HOST notification as masakari-hostmonitor sends it, with the lab's 30 s
 *     post-disable wait and with its default 180 s (masakari-engine is restarted for each).
 *
 *   npm run lab:up && npm run bench:lab
 *   RESURRECT_BENCH_SIZES=3,10,30  RESURRECT_BENCH_RUNS=3  RESURRECT_BENCH_MASAKARI_RUNS=1
 *   RESURRECT_BENCH_MASAKARI_DEFAULT_SIZES=3 (sizes measured with the 180 s wait; "" for none)
 *   RESURRECT_BENCH_MASAKARI_DEFAULT_RUNS=1 (runs per size with the 180 s wait)
 *   RESURRECT_BENCH_TRAIL=1 prints each Resurrect run's audit trail, timed from the report
 */
import { spawnSync } from 'node:child_process';
import pino from 'pino';
import { ensureRedis } from '../src/drivers/redis/locate-redis';
import { LabCloud } from '../test/lab/lab-cloud';
import { LabMasakari } from '../test/lab/masakari';
import { startServedEngine } from '../test/lab/served-engine';

const VICTIM = 'compute-1';
const list = (value: string | undefined, fallback: string) => (value ?? fallback).split(',').map((s) => s.trim()).filter(Boolean).map(Number);
const SIZES = list(process.env.RESURRECT_BENCH_SIZES, '3,10,30');
const RUNS = Number(process.env.RESURRECT_BENCH_RUNS ?? 3);
const MASAKARI_RUNS = Number(process.env.RESURRECT_BENCH_MASAKARI_RUNS ?? 1);
const MASAKARI_DEFAULT_SIZES = list(process.env.RESURRECT_BENCH_MASAKARI_DEFAULT_SIZES, '3');
const MASAKARI_DEFAULT_RUNS = Number(process.env.RESURRECT_BENCH_MASAKARI_DEFAULT_RUNS ?? 1);
const TRAIL = process.env.RESURRECT_BENCH_TRAIL === '1';
const LAB_WAIT = 30;
const DEFAULT_WAIT = 180;

const lab = LabCloud.open();
const others = lab.lab.hosts.map((h) => h.name).filter((h) => h !== VICTIM);
const say = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

async function fresh(): Promise<void> {
  say('  bringing every host back, deleting every server');
  for (const host of lab.lab.hosts) await lab.restoreHost(host.name, 180_000);
  await lab.deleteAllServers(180_000);
}

async function boot(n: number): Promise<string[]> {
  return lab.bootAll(Array.from({ length: n }, (_, i) => ({ name: `bench-${i + 1}`, host: VICTIM, flavorId: lab.lab.flavor.id, imageId: lab.lab.image.id })), 180_000);
}

/** Seconds from `from` until every server is ACTIVE, idle, on another host (Nova's view, polled every 100 ms). */
async function allElsewhere(ids: readonly string[], from: number, timeoutMs: number): Promise<number> {
  await lab.until(async () => {
    const servers = await lab.servers();
    return ids.every((id) => {
      const s = servers.find((x) => x.id === id);
      return s !== undefined && s.status === 'ACTIVE' && s.taskState === null && others.includes(s.host);
    });
  }, `${ids.length} servers ACTIVE elsewhere`, timeoutMs, 100);
  return (Date.now() - from) / 1000;
}

async function lowerBound(n: number): Promise<number> {
  const ids = await boot(n);
  const { bmc } = lab.host(VICTIM);
  const t0 = Date.now();
  // Options on stdin, as Pacemaker passes them: the password never shows in `ps`.
  const fenced = spawnSync('fence_ipmilan', [], {
    input: `ip=${bmc.address}\nipport=${bmc.port}\nusername=${bmc.username}\npassword=${bmc.password}\nlanplus=1\ncipher=3\npower_wait=0\naction=off\n`,
    env: { ...process.env, PYTHONWARNINGS: 'ignore' }, encoding: 'utf8', timeout: 60_000,
  });
  if (fenced.status !== 0) throw new Error(`fence_ipmilan off exited ${fenced.status}: ${fenced.stderr}`);
  await lab.updateService(VICTIM, { forced_down: true });
  await Promise.all(ids.map((id) => lab.nova('POST', `/servers/${id}/action`, { evacuate: {} }, { microversion: '2.68' })));
  return allElsewhere(ids, t0, 300_000);
}

/** The window of the heartbeat check in the "power read-back alone" runs: any silence on record passes it. */
const NO_HEARTBEAT_WINDOW = 0.001;

async function resurrect(n: number, engine: Awaited<ReturnType<typeof startServedEngine>>): Promise<number> {
  const ids = await boot(n);
  await lab.powerOff(VICTIM);
  const t0 = Date.now();
  const incident = await engine.report('host-down', VICTIM);
  const seconds = await allElsewhere(ids, t0, 300_000);
  const closed = await engine.settle(incident.id, 300_000);
  if (closed.outcome !== 'recovered') throw new Error(`Resurrect's incident ${incident.id} ended ${closed.outcome}`);
  if (TRAIL) {
    // Where the time went: every audited transition, in seconds from the report.
    for (const record of await engine.trail(incident.id)) {
      const at = ((Date.parse(record.at) - t0) / 1000).toFixed(2).padStart(6);
      say(`    ${at} ${(record.recoveryId ?? '').slice(-6).padEnd(6)} ${record.type.padEnd(10)} ${record.message.slice(0, 150)}`);
    }
  }
  // The operator's way back, through Resurrect: it also ends the failure's dedupe window, so that the next
  // run's failure of the same host is a new incident rather than a late duplicate of this one.
  const returned = await engine.api<{ incident: { id: string } }>('POST', `/api/v1/hosts/${VICTIM}/return`, {});
  if (returned.status !== 201) throw new Error(`return of ${VICTIM} answered ${returned.status}: ${JSON.stringify(returned.json)}`);
  await engine.settle(returned.json.incident.id, 300_000);
  return seconds;
}

/** Masakari notification statuses after which its flow no longer holds the host. */
const FINAL_NOTIFICATION = new Set(['finished', 'error', 'failed', 'ignored']);

let lastNotification = 0;
async function masakari(n: number, masakariLab: LabMasakari): Promise<number> {
  await masakariLab.endMaintenance(VICTIM);
  const ids = await boot(n);
  await lab.powerOff(VICTIM);
  // Masakari drops a second notification for a host within duplicate_notification_detection_interval (30 s).
  const quiet = lastNotification + 31_000 - Date.now();
  if (quiet > 0) await new Promise((r) => setTimeout(r, quiet));
  const t0 = Date.now();
  lastNotification = t0;
  const id = await masakariLab.notifyHostDown(VICTIM);
  const seconds = await allElsewhere(ids, t0, 600_000);
  say(`    masakari notification ${id}: ${await masakariLab.notificationStatus(id)}`);
  // Masakari refuses to take its host out of maintenance (409 "in-use to process notifications") until its
  // flow has ended, which may be after every server is ACTIVE: wait for that, untimed.
  let status = '';
  await lab.until(async () => FINAL_NOTIFICATION.has((status = await masakariLab.notificationStatus(id))), `masakari notification ${id} to end`, 600_000, 1000);
  say(`    masakari notification ${id} ended ${status}`);
  await masakariLab.endMaintenance(VICTIM);
  return seconds;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const log = pino({ level: 'warn' });
  const redis = await ensureRedis({ log });
  const masakariLab = new LabMasakari(lab.lab);
  say('starting resurrect serve --worker on the lab');
  const engine = await startServedEngine(lab.lab, redis.url, `rsr-bench-${Date.now()}`).catch(async (err: Error) => {
    await redis.stop();
    throw err;
  });
  say(`resurrect serve on ${engine.url}`);
  const trusting = await startServedEngine(lab.lab, redis.url, `rsr-bench-trusting-${Date.now()}`, { params: { livenessWaitSeconds: NO_HEARTBEAT_WINDOW } }).catch(async (err: Error) => {
    await engine.stop();
    await redis.stop();
    throw err;
  });
  const rows: string[] = [];
  try {
    for (const n of SIZES) {
      const results: Record<string, number[]> = { bound: [], resurrect: [], trusting: [], m30: [], m180: [] };
      for (let r = 1; r <= RUNS; r++) {
        await fresh();
        results.bound!.push(await lowerBound(n));
        say(`N=${n} run ${r}: lower bound ${results.bound!.at(-1)!.toFixed(2)} s`);
        await fresh();
        results.resurrect!.push(await resurrect(n, engine));
        say(`N=${n} run ${r}: Resurrect ${results.resurrect!.at(-1)!.toFixed(2)} s`);
        await fresh();
        results.trusting!.push(await resurrect(n, trusting));
        say(`N=${n} run ${r}: Resurrect, power read-back alone ${results.trusting!.at(-1)!.toFixed(2)} s`);
      }
      await masakariLab.setWait(LAB_WAIT);
      for (let r = 1; r <= MASAKARI_RUNS; r++) {
        await fresh();
        results.m30!.push(await masakari(n, masakariLab));
        say(`N=${n} run ${r}: Masakari (wait ${LAB_WAIT} s) ${results.m30!.at(-1)!.toFixed(2)} s`);
      }
      if (MASAKARI_DEFAULT_SIZES.includes(n) && MASAKARI_DEFAULT_RUNS > 0) {
        await masakariLab.setWait(DEFAULT_WAIT);
        for (let r = 1; r <= MASAKARI_DEFAULT_RUNS; r++) {
          await fresh();
          results.m180!.push(await masakari(n, masakariLab));
          say(`N=${n} run ${r}: Masakari (wait ${DEFAULT_WAIT} s) ${results.m180!.at(-1)!.toFixed(2)} s`);
        }
        await masakariLab.setWait(LAB_WAIT);
      }
      const [b, res, trust, m30, m180] = [median(results.bound!), median(results.resurrect!), median(results.trusting!), median(results.m30!), median(results.m180!)];
      const cell = (x: number) => (Number.isNaN(x) ? '—' : x.toFixed(1));
      rows.push(`| ${n} | ${cell(b)} | ${cell(res)} (${(res / b).toFixed(2)}×) | ${cell(trust)} (${(trust / b).toFixed(2)}×) | ${cell(m30)} (${(m30 / res).toFixed(1)}×) | ${Number.isNaN(m180) ? '—' : `${cell(m180)} (${(m180 / res).toFixed(1)}×)`} |`);
      say(`N=${n} every run, s: ${Object.entries(results).map(([k, xs]) => `${k} ${xs.map((x) => x.toFixed(1)).join('/')}`).join('; ')}`);
    }
  } finally {
    await engine.stop();
    await trusting.stop();
    await fresh().catch((err: Error) => say(`cleanup: ${err.message}`));
    await redis.stop();
  }
  process.stdout.write([
    `Lab failover, seconds from the failure report to every server ACTIVE elsewhere (median of ${RUNS} runs; Masakari ${MASAKARI_RUNS} at ${LAB_WAIT} s, ${MASAKARI_DEFAULT_RUNS} at ${DEFAULT_WAIT} s):`,
    '',
    `| servers | lower bound | Resurrect (/ bound) | Resurrect, power read-back alone (/ bound) | Masakari, wait ${LAB_WAIT} s (/ Resurrect) | Masakari, wait ${DEFAULT_WAIT} s (/ Resurrect) |`,
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n'));
}

main().catch((err: Error) => {
  process.stderr.write(`bench:lab failed: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
