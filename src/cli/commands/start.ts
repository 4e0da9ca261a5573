import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { buildApp } from '../../container';
import { createLogger } from '../../config/logger';
import { ensureRedis, redactRedisUrl } from '../../drivers/redis/locate-redis';
import { serveSimControl } from '../../engine/control-channel';
import type { GlobalOptions } from '../connect';
import { configFrom } from '../connect';
import { bounded } from '../bounded';
import { writeRuntimeFile } from '../runtime-file';
import { planForApp } from './plan';

/** `resurrect start` (and `npm start`): engine + embedded worker + simulated cloud, until SIGINT/SIGTERM. */
export async function start(options: GlobalOptions & { concurrency?: string; worker?: boolean }): Promise<number> {
  const config = configFrom(options);
  const log = createLogger({ level: config.log.level });
  const redis = await ensureRedis({ log, env: config.redis.url ? { ...process.env, REDIS_URL: config.redis.url } : process.env });
  log.info({ redis: redactRedisUrl(redis.url), origin: redis.origin }, `Redis: ${redactRedisUrl(redis.url)} (${redis.origin})`);
  const app = await buildApp({ config, redisUrl: redis.url, log });
  for (const error of app.loadReport.errors) log.warn({ file: error.file }, `plugin refused: ${error.message}`);
  const prefix = config.redis.prefix ?? 'rsr';
  if (config.worker.embedded && options.worker !== false) app.worker().start(options.concurrency ? Number(options.concurrency) : config.worker.concurrency);

  const subscriber = new Redis(redis.url);
  const stopControl = await serveSimControl({
    subscriber, publisher: app.redis, prefix, world: app.world, log, report: (event) => app.engine.report(event), plan: (request) => planForApp(app, config, request),
  });
  const removeRuntimeFile = writeRuntimeFile({ pid: process.pid, redisUrl: redis.url, prefix, startedAt: new Date().toISOString() });
  if (app.world) {
    const snapshot = app.world.snapshot();
    log.info(`simulated cloud: ${snapshot.hosts.length} hosts, ${snapshot.instances.length} instances. In another terminal: npx resurrect sim fail compute-3`);
  }
  log.info(`workflows: ${app.registry.listWorkflows().map((w) => w.name).join(', ')}`);

  if (config.policy.file) {
    const file = config.policy.file;
    process.on('SIGHUP', () => {
      try {
        app.engine.reloadPolicy(readFileSync(file, 'utf8'));
      } catch (err) {
        log.warn({ file }, `policy reload: cannot read ${file}: ${(err as Error).message}`);
      }
    });
    log.info(`policy ${file}: reload with SIGHUP (kill -HUP ${process.pid})`);
  }

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info(`${signal}: stopping`);
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  removeRuntimeFile();
  const stopped = await bounded((async () => {
    await stopControl();
    subscriber.disconnect();
    if (config.worker.embedded && options.worker !== false) await app.worker().shutdown(config.worker.shutdownGraceMs);
    await app.close();
    return true;
  })(), config.worker.shutdownGraceMs + 10_000, () => log.warn('shutdown did not finish in time (is Redis gone?); stopping anyway'));
  await redis.stop();
  return stopped ? 0 : 1;
}
