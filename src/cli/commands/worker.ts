import { buildApp } from '../../container';
import { createLogger } from '../../config/logger';
import { redactRedisUrl } from '../../drivers/redis/locate-redis';
import type { GlobalOptions } from '../connect';
import { bounded } from '../bounded';
import { configFrom, locateRunningRedis } from '../connect';

/**
 * `resurrect worker [--concurrency N] [--name NAME]`: one more process taking recovery jobs from the shared
 * Redis. It never starts a Redis of its own (an empty one would hold no work). SIGTERM/SIGINT: graceful
 * shutdown (see RecoveryWorker.shutdown). Exit 0 after a clean stop.
 */
export async function worker(options: GlobalOptions & { concurrency?: string; name?: string }): Promise<number> {
  const config = configFrom(options);
  const log = createLogger({ level: config.log.level });
  const { url, prefix } = await locateRunningRedis(config, log);
  const app = await buildApp({ config: { ...config, redis: { ...config.redis, prefix } }, redisUrl: url, log, workerName: options.name });
  for (const error of app.loadReport.errors) log.warn({ file: error.file }, `plugin refused: ${error.message}`);
  if (config.cloud.driver === 'sim') {
    log.warn('this worker drives a simulated cloud of its own: point workers at a shared cloud (`resurrect sim serve` and cloud.driver: openstack) so they act on one world');
  }
  void app.connectCloud();
  const recoveries = app.worker();
  recoveries.start(options.concurrency ? Number(options.concurrency) : config.worker.concurrency);
  log.info({ redis: redactRedisUrl(url), prefix, worker: recoveries.name }, `worker ${recoveries.name} ready on ${redactRedisUrl(url)} (prefix ${prefix})`);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info(`${signal}: finishing the jobs in flight (up to ${config.worker.shutdownGraceMs} ms)`);
  const how = await bounded((async () => {
    const result = await recoveries.shutdown(config.worker.shutdownGraceMs);
    await app.close();
    return result;
  })(), config.worker.shutdownGraceMs + 10_000, () => log.warn('shutdown did not finish in time (is Redis gone?); stopping anyway'));
  log.info(`worker ${recoveries.name} stopped (${how ?? 'abandoned'})`);
  return how ? 0 : 1;
}
