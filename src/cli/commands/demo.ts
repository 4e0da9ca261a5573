import { randomBytes } from 'node:crypto';
import Table from 'cli-table3';
import { buildApp } from '../../container';
import { createLogger } from '../../config/logger';
import { ensureRedis } from '../../drivers/redis/locate-redis';
import type { ChildResult } from '../../plugins/api';
import type { GlobalOptions } from '../connect';
import { configFrom } from '../connect';

/**
 * `resurrect demo`: a self-contained scenario on its own simulated cloud and its own key prefix. A host loses
 * power, the host-down event arrives, the host is fenced (power-off read back), its instances are evacuated,
 * and a summary table is printed. Exit 0 when every instance came back.
 */
export async function demo(options: GlobalOptions & { host: string; timeScale: string; seed: string }): Promise<number> {
  const prefix = options.prefix ?? `rsr-demo-${randomBytes(3).toString('hex')}`;
  const base = configFrom({ ...options, prefix });
  const config = {
    ...base,
    cloud: { ...base.cloud, sim: { ...base.cloud.sim, timeScale: Number(options.timeScale), seed: Number(options.seed) } },
    // The simulated cloud runs at `timeScale`; so does the wait for a heartbeat after the fence.
    params: { ...base.params, pollIntervalMs: 100, livenessWaitSeconds: Number(base.params.livenessWaitSeconds ?? 12) * Number(options.timeScale) },
    retry: { ...base.retry, backoffMs: 500 },
  };
  const log = createLogger({ level: config.log.level });
  const redis = await ensureRedis({ log });
  const app = await buildApp({ config, redisUrl: redis.url, log, workerName: 'demo-worker' });
  const started = Date.now();
  try {
    if (!app.world) throw new Error('the demo needs the simulated cloud');
    const onHost = app.world.instanceIds(options.host).length;
    log.info(`demo: ${options.host} holds ${onHost} instances; cutting its power`);
    app.world.fail(options.host, 'power');
    const { incident } = await app.engine.report({ kind: 'host-down', host: options.host, source: 'demo-monitor' });
    app.worker().start(config.worker.concurrency);
    const closed = await app.engine.waitForIncident(incident.id, { timeoutMs: 10 * 60_000, pollMs: 200 });
    const root = await app.engine.recovery(closed.recoveryId);
    const results = await app.engine.childResults(root.id);
    const power = app.world.hostState(options.host);
    printSummary(results, {
      incident: closed.id, outcome: closed.outcome ?? 'unknown', reason: closed.reason, host: options.host,
      fenced: power.power === 'off', seconds: (Date.now() - started) / 1000,
    });
    process.stdout.write(`\nAudit trail: npx resurrect audit ${closed.id} --prefix ${prefix}${redis.origin === 'private' || redis.origin === 'installed' ? '   (this demo ran on a private Redis that stops with it: set REDIS_URL or start Redis on 127.0.0.1:6379 to keep the trail)' : ''}\n`);
    return closed.outcome === 'recovered' ? 0 : 1;
  } finally {
    await app.close();
    await redis.stop();
  }
}

function names(r: ChildResult): string {
  return typeof r.result?.name === 'string' ? r.result.name : '';
}

function printSummary(results: ChildResult[], summary: { incident: string; outcome: string; reason?: string; host: string; fenced: boolean; seconds: number }): void {
  const tty = Boolean(process.stdout.isTTY);
  const table = new Table({
    head: ['instance', 'name', 'outcome', 'target host', 'attempts', 'seconds'],
    style: { head: tty ? ['cyan'] : [], border: tty ? ['grey'] : [] },
  });
  for (const r of [...results].sort((a, b) => names(a).localeCompare(names(b)))) {
    const target = typeof r.result?.targetHost === 'string' ? r.result.targetHost : '-';
    table.push([r.subject.instance ?? r.key, names(r), r.outcome, target, String(r.attempts), r.seconds.toFixed(1)]);
  }
  process.stdout.write(`\nIncident ${summary.incident}: ${summary.host} ${summary.fenced ? 'fenced (power-off verified)' : 'NOT fenced'}; outcome ${summary.outcome}${summary.reason ? ` (${summary.reason})` : ''}; ${results.length} instances in ${summary.seconds.toFixed(1)} s\n`);
  process.stdout.write(`${table.toString()}\n`);
}
