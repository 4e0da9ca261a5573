import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { parseTokenList, sha256, TOKENS_ENV } from '../../api/auth';
import { buildServer, listen } from '../../api/server';
import { buildApp, type App } from '../../container';
import type { Config } from '../../config/config';
import { createLogger } from '../../config/logger';
import { InputError } from '../../domain';
import { ensureRedis, redactRedisUrl } from '../../drivers/redis/locate-redis';
import { serveSimControl } from '../../engine/control-channel';
import { planForApp } from '../../plan/plan-for-app';
import type { GlobalOptions } from '../connect';
import { configFrom } from '../connect';
import { bounded } from '../bounded';
import { runtimeFilePath, writeRuntimeFile } from '../runtime-file';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export type StartOptions = GlobalOptions & { concurrency?: string; worker?: boolean; api?: boolean; apiPort?: string };

/**
 * `resurrect start` (and `npm start`): engine + embedded worker + simulated cloud + the REST API, until
 * SIGINT/SIGTERM.
 *
 * The API listens on `api.host:api.port` (127.0.0.1:8790; `--api-port`, 0 = any free port) unless `--no-api`.
 * With no token configured (`api.tokens`, RESURRECT_API_TOKENS) it makes an admin token for this run: the server
 * keeps only its hash, and the token goes, with the URL, into the runtime file (mode 0600) where the commands of
 * a second terminal find it. The log says the URL, never the token. A busy port stops the start (exit 2).
 */
export async function start(options: StartOptions): Promise<number> {
  const config = configFrom(options);
  const apiPort = options.apiPort === undefined ? config.api.port : Number(options.apiPort);
  if (!Number.isInteger(apiPort) || apiPort < 0 || apiPort > 65_535) {
    throw new InputError(`--api-port: expected a port number (0–65535), got ${options.apiPort}`, [{ path: 'api-port', message: 'not a port' }]);
  }
  // A malformed RESURRECT_API_TOKENS stops here, before anything is started (RSR_CONFIG_INVALID, exit 2).
  const configuredTokens = config.api.tokens.length + parseTokenList(process.env[TOKENS_ENV]).length;
  const log = createLogger({ level: config.log.level });
  const redis = await ensureRedis({ log, env: config.redis.url ? { ...process.env, REDIS_URL: config.redis.url } : process.env });
  log.info({ redis: redactRedisUrl(redis.url), origin: redis.origin }, `Redis: ${redactRedisUrl(redis.url)} (${redis.origin})`);
  const app = await buildApp({ config, redisUrl: redis.url, log });
  for (const error of app.loadReport.errors) log.warn({ file: error.file }, `plugin refused: ${error.message}`);
  const prefix = config.redis.prefix ?? 'rsr';

  // The API first: a busy port must stop the start before a worker takes any job.
  let api: ServedApi | undefined;
  if (options.api !== false) {
    try {
      api = await serveApi(app, config, log, { host: config.api.host, port: apiPort, makeToken: configuredTokens === 0 });
    } catch (err) {
      await app.close();
      await redis.stop();
      throw err;
    }
  }

  const embedded = config.worker.embedded && options.worker !== false;
  void app.connectCloud();
  if (embedded) app.worker().start(options.concurrency ? Number(options.concurrency) : config.worker.concurrency);
  const subscriber = new Redis(redis.url);
  const stopControl = await serveSimControl({
    subscriber, publisher: app.redis, prefix, world: app.world, log, report: (event) => app.engine.report(event), plan: (request) => planForApp(app, config, request),
  });
  let removeRuntimeFile: () => void = () => undefined;
  let runtimeFile = true;
  try {
    removeRuntimeFile = writeRuntimeFile({
      pid: process.pid, redisUrl: redis.url, prefix, startedAt: new Date().toISOString(),
      ...(api ? { apiUrl: api.url } : {}),
      ...(api?.token ? { apiToken: api.token } : {}),
    });
  } catch (err) {
    runtimeFile = false;
    log.warn(`no runtime file: ${(err as Error).message}; commands in another terminal will not find this engine${api?.token ? ' nor its API token' : ''}`);
  }
  if (api) {
    const how = api.token && runtimeFile
      ? `an admin token for this run is in ${runtimeFilePath()} (mode 0600), where \`npx resurrect incidents\` and the other commands find it`
      : api.token ? 'its token for this run could not be written anywhere: restart with a token configured (api.tokens, RESURRECT_API_TOKENS)'
        : `tokens from ${config.api.tokens.length > 0 ? 'api.tokens' : TOKENS_ENV}: give the CLI one with RESURRECT_TOKEN`;
    log.info({ url: api.url }, `API listening on ${api.url} (OpenAPI: ${api.url}/openapi.json); ${how}`);
    api.token = undefined;
  }
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
    // The API stops taking requests first (open event streams are ended), then the engine winds down.
    await api?.server.close();
    await stopControl();
    subscriber.disconnect();
    if (embedded) await app.worker().shutdown(config.worker.shutdownGraceMs);
    await app.close();
    return true;
  })(), config.worker.shutdownGraceMs + 10_000, () => log.warn('shutdown did not finish in time (is Redis gone?); stopping anyway'));
  await redis.stop();
  return stopped ? 0 : 1;
}

interface ServedApi {
  readonly server: FastifyInstance;
  readonly url: string;
  /** The token made for this run, until it is written to the runtime file (then dropped). */
  token: string | undefined;
}

/** The name the audit trail records for the run's token: who ran `start`. */
function localTokenName(): string {
  let user = process.env.USER;
  try {
    user ||= userInfo().username;
  } catch {
    // no passwd entry (a container): keep the fallback
  }
  return `${user || 'local'}@local`;
}

async function serveApi(app: App, config: Config, log: Logger, where: { host: string; port: number; makeToken: boolean }): Promise<ServedApi> {
  const token = where.makeToken ? randomBytes(32).toString('base64url') : undefined;
  // Only the hash goes to the server (auth.ts keeps digests only); the token itself only to the runtime file.
  const tokens = token === undefined ? config.api.tokens : [{ name: localTokenName(), role: 'admin' as const, sha256: sha256(token).toString('hex') }];
  // The engine's terminal shows recovery progress: a line per API request (each CLI command) would drown it.
  // Requests are logged at debug (`log.level: debug`); warnings and errors as always.
  const apiLog = log.isLevelEnabled('debug') ? log : log.child({}, { level: 'warn' });
  const server = await buildServer(app, { ...config.api, host: where.host, port: where.port, tokens }, { log: apiLog });
  if (!LOOPBACK.test(where.host)) log.warn({ host: where.host }, `the API listens on ${where.host}, beyond loopback, without TLS: put a TLS-terminating proxy in front`);
  try {
    return { server, url: await listen(server, { host: where.host, port: where.port }), token };
  } catch (err) {
    await server.close().catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new InputError(`the API port ${where.host}:${where.port} is already in use (another \`resurrect start\` or \`serve\`?): set api.port (0 = any free port), or start with --api-port N or --no-api`, [{ path: 'api.port', message: 'in use' }], 'RSR_CONFIG_INVALID');
    }
    if (code === 'EADDRNOTAVAIL' || code === 'EACCES' || code === 'ENOTFOUND') {
      throw new InputError(`the API cannot listen on ${where.host}:${where.port} (${code}): check api.host and api.port, or start with --no-api`, [{ path: 'api.host', message: code }], 'RSR_CONFIG_INVALID');
    }
    throw err;
  }
}
