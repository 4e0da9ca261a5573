import { readFileSync } from 'node:fs';
import { buildServer, listen } from '../../api/server';
import { buildApp } from '../../container';
import { createLogger } from '../../config/logger';
import { InputError } from '../../domain';
import { redactRedisUrl } from '../../drivers/redis/locate-redis';
import { bounded } from '../bounded';
import type { GlobalOptions } from '../connect';
import { configFrom, locateRunningRedis } from '../connect';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/**
 * `resurrect serve [--port N] [--host H] [--worker]`: the REST API (docs/api.md) over the shared Redis of a
 * running engine, found as `resurrect worker` finds it (REDIS_URL, the runtime file, a local Redis; it never
 * starts one). No worker of its own unless `--worker`. Listens on `api.host:api.port` (loopback, 8790 by
 * default). SIGINT/SIGTERM: stop accepting, finish the requests in flight, exit 0.
 */
export async function serve(options: GlobalOptions & { port?: string; host?: string; worker?: boolean; concurrency?: string }): Promise<number> {
  const config = configFrom(options);
  const port = options.port === undefined ? config.api.port : Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new InputError(`--port: expected a port number (0–65535), got ${options.port}`, [{ path: 'port', message: 'not a port' }]);
  const host = options.host ?? config.api.host;
  const log = createLogger({ level: config.log.level });
  const { url, prefix } = await locateRunningRedis(config, log);
  const app = await buildApp({ config: { ...config, redis: { ...config.redis, prefix } }, redisUrl: url, log });
  for (const error of app.loadReport.errors) log.warn({ file: error.file }, `plugin refused: ${error.message}`);
  if (config.cloud.driver === 'sim') {
    log.warn('this API process builds a simulated cloud of its own: plans and policy facts come from that world, not from the engine\'s (use `resurrect sim serve` and cloud.driver: openstack to share one)');
  }
  void app.connectCloud();
  if (options.worker) app.worker().start(options.concurrency ? Number(options.concurrency) : config.worker.concurrency);

  const api = { ...config.api, host, port };
  const server = await buildServer(app, api, { log });
  if (config.api.tokens.length === 0 && !process.env.RESURRECT_API_TOKENS) {
    log.warn('no API tokens configured (api.tokens, RESURRECT_API_TOKENS): only /healthz, /readyz and /openapi.json will answer');
  }
  if (!LOOPBACK.test(host)) log.warn({ host }, `listening on ${host}, beyond loopback, without TLS: put a TLS-terminating proxy in front`);
  if (config.policy.file) {
    const file = config.policy.file;
    process.on('SIGHUP', () => {
      try {
        app.engine.reloadPolicy(readFileSync(file, 'utf8'));
      } catch (err) {
        log.warn({ file }, `policy reload: cannot read ${file}: ${(err as Error).message}`);
      }
    });
  }
  const address = await listen(server, { host, port });
  log.info({ url: address, redis: redactRedisUrl(url), prefix }, `API listening on ${address} (OpenAPI: ${address}/openapi.json; Redis ${redactRedisUrl(url)}, prefix ${prefix})`);

  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info(`${signal}: stopping the API`);
  const stopped = await bounded((async () => {
    await server.close();
    if (options.worker) await app.worker().shutdown(config.worker.shutdownGraceMs);
    await app.close();
    return true;
  })(), config.worker.shutdownGraceMs + 10_000, () => log.warn('shutdown did not finish in time (is Redis gone?); stopping anyway'));
  log.info('API stopped');
  return stopped ? 0 : 1;
}
