/**
 * Finds the Redis the engine (and its test suite) runs on, always in the same order so the outcome is
 * predictable:
 *   (a) REDIS_URL when set. It must answer, or we fail naming it: silently falling back to another server
 *       would split incidents and recoveries across two Redis instances.
 *   (b) a Redis already answering on 127.0.0.1:6379.
 *   (c) a private, throwaway `redis-server` from the PATH on a free 127.0.0.1 port (no RDB, no AOF), stopped
 *       with us.
 *   (d) as root on Debian (unless RESURRECT_NO_INSTALL=1), Debian's redis-server installed with apt-get,
 *       then (c).
 *   (e) otherwise RSR_REDIS_UNAVAILABLE, whose message says how to get one.
 *
 * `startPrivateRedis` is the spawn logic of (c) on its own, for tests that kill or restart their Redis.
 */
import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, existsSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import type { Logger } from 'pino';
import { ResurrectError } from '../../domain/errors';

export const DEFAULT_LOCAL_REDIS_URL = 'redis://127.0.0.1:6379';

export const NO_REDIS_MESSAGE =
  'No Redis found: set REDIS_URL, start one on 127.0.0.1:6379, or install redis-server (Debian/Ubuntu: sudo apt-get install redis-server).';

const ENV_PING_TIMEOUT_MS = 3_000;
// Short: on most machines nothing listens on 6379 and the refusal is immediate; this only bounds a black hole.
const LOCAL_PING_TIMEOUT_MS = 500;
const START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const KILL_WAIT_MS = 2_000;
const OUTPUT_TAIL_CHARS = 2_000;

export type RedisOrigin = 'env' | 'local' | 'private' | 'installed';

export interface LocatedRedis {
  readonly url: string;
  readonly origin: RedisOrigin;
  /** The server we started, when origin is 'private' or 'installed'. */
  readonly server?: PrivateRedis;
  /** Stops the server if we started it; a no-op for a Redis we only found. */
  stop(): Promise<void>;
}

export interface EnsureRedisOptions {
  /** Where REDIS_URL, PATH and RESURRECT_NO_INSTALL are read; defaults to process.env. */
  readonly env?: NodeJS.ProcessEnv;
  readonly log: Logger;
  /** Step (d); default true. RESURRECT_NO_INSTALL=1 in `env` also turns it off. */
  readonly allowInstall?: boolean;
  /** The "already running locally" candidate of step (b); injectable so tests do not depend on 6379. */
  readonly localUrl?: string;
}

export interface PrivateRedisOptions {
  readonly log: Logger;
  /** Turn AOF persistence on (persistence/chaos tests); default off, like RDB which is always off. */
  readonly appendonly?: boolean;
  /** Default: a free port picked on 127.0.0.1. */
  readonly port?: number;
  /**
   * Data directory to reuse, e.g. to restart on the AOF of a server that was killed. The caller owns it and
   * `stop()` leaves it in place; by default a fresh temporary directory is made and removed by `stop()`.
   */
  readonly dir?: string;
  /** Default: `redis-server` found on `env.PATH`. */
  readonly binary?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  /** Settles when the process has exited (for any reason), e.g. after `kill('SIGKILL')`. */
  readonly exited: Promise<void>;
  /** SIGTERM, SIGKILL after a grace period, then removes the directory if we made it. Idempotent. */
  stop(): Promise<void>;
  /** Sends a signal to this server's pid only (a no-op once it has exited). */
  kill(signal?: NodeJS.Signals): void;
}

export async function ensureRedis(options: EnsureRedisOptions): Promise<LocatedRedis> {
  const env = options.env ?? process.env;
  const { log } = options;

  const fromEnv = env.REDIS_URL;
  if (fromEnv !== undefined && fromEnv !== '') {
    const shown = redactRedisUrl(fromEnv);
    try {
      await pingRedis(fromEnv, ENV_PING_TIMEOUT_MS);
    } catch (err) {
      throw new ResurrectError(
        'RSR_REDIS_UNAVAILABLE',
        `REDIS_URL (${shown}) did not answer PING within ${ENV_PING_TIMEOUT_MS / 1000}s: ${messageOf(err)}`,
        { details: { url: shown }, cause: err },
      );
    }
    return found(fromEnv, 'env', log);
  }

  const localUrl = options.localUrl ?? DEFAULT_LOCAL_REDIS_URL;
  if (await answersPing(localUrl, LOCAL_PING_TIMEOUT_MS)) return found(localUrl, 'local', log);

  const { binary, installed } = await redisServerBinary(env, options.allowInstall ?? true, log, NO_REDIS_MESSAGE);
  const origin: 'private' | 'installed' = installed ? 'installed' : 'private';
  const server = await startPrivateRedis({ log, binary, env });
  log.info({ url: server.url, origin, redisPid: server.pid, dir: server.dir }, 'started a private redis-server');
  return { url: server.url, origin, server, stop: () => server.stop() };
}

/**
 * The redis-server binary: from the PATH, or installed from Debian's packages when allowed (root, Debian-like,
 * RESURRECT_NO_INSTALL unset); otherwise RSR_REDIS_UNAVAILABLE with `missingMessage`.
 */
async function redisServerBinary(env: NodeJS.ProcessEnv, allowInstall: boolean, log: Logger, missingMessage: string): Promise<{ binary: string; installed: boolean }> {
  const onPath = findOnPath('redis-server', env);
  if (onPath !== undefined) return { binary: onPath, installed: false };
  const aptGet = installer(env, allowInstall);
  if (aptGet === undefined) throw new ResurrectError('RSR_REDIS_UNAVAILABLE', missingMessage);
  await aptInstallRedis(aptGet, env, log);
  // Debian puts it in /usr/bin, which a trimmed PATH may lack.
  const binary = findOnPath('redis-server', env) ?? (existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : undefined);
  if (binary === undefined) {
    throw new ResurrectError('RSR_REDIS_UNAVAILABLE', 'apt-get installed redis-server but no redis-server binary can be found.');
  }
  return { binary, installed: true };
}

/**
 * Starts a redis-server of our own on a free loopback port (tests, chaos runs, and `npm start` when no Redis
 * answers). Installs Debian's redis-server first under the same rules as `ensureRedis`.
 */
export async function startPrivateRedis(options: PrivateRedisOptions): Promise<PrivateRedis> {
  const env = options.env ?? process.env;
  const binary = options.binary ?? (await redisServerBinary(
    env, true, options.log, 'redis-server is not on the PATH: install it (Debian/Ubuntu: sudo apt-get install redis-server).',
  )).binary;
  // Between findFreePort closing its socket and redis-server binding, a parallel test process may take the
  // port: a fresh port is worth two more tries. A port the caller chose is not ours to change.
  const attempts = options.port === undefined ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await findFreePort());
    try {
      return await spawnRedis(binary, port, options, env);
    } catch (err) {
      const addressInUse = err instanceof ResurrectError && err.details.addressInUse === true;
      if (!addressInUse || attempt >= attempts) throw err;
      options.log.debug({ port, attempt }, 'port taken before redis-server could bind it; trying another');
    }
  }
}

/** Resolves when `url` answers PING within `timeoutMs`; rejects with the client's reason otherwise. */
export async function pingRedis(url: string, timeoutMs: number): Promise<void> {
  await withClient(url, timeoutMs, async (client) => {
    const answer = await client.ping();
    if (answer !== 'PONG') throw new Error(`unexpected answer to PING: ${answer}`);
  });
}

/** A free TCP port on 127.0.0.1 at the time of asking (also handy for "nothing listens here" in tests). */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/** A Redis URL fit for logs: credentials become `***` and the query (which may carry a password) is dropped. */
export function redactRedisUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url.replace(/^(.*\/\/)?[^/@]*@/, '$1***@').replace(/\?.*$/, '');
  }
  const credentials = parsed.username !== '' || parsed.password !== '' ? '***@' : '';
  const dbPath = parsed.pathname === '/' ? '' : parsed.pathname;
  return `${parsed.protocol}//${credentials}${parsed.host}${dbPath}`;
}

function found(url: string, origin: 'env' | 'local', log: Logger): LocatedRedis {
  log.info({ url: redactRedisUrl(url), origin }, 'using Redis');
  return { url, origin, stop: async () => undefined };
}

async function answersPing(url: string, timeoutMs: number): Promise<boolean> {
  try {
    await pingRedis(url, timeoutMs);
    return true;
  } catch {
    return false;
  }
}

/** The pid of the redis-server answering at `url`, so a starting server can tell itself from a neighbour. */
async function serverPid(url: string, timeoutMs: number): Promise<number | undefined> {
  try {
    return await withClient(url, timeoutMs, async (client) => {
      const info = await client.info('server');
      const match = /^process_id:(\d+)/m.exec(info);
      return match ? Number(match[1]) : undefined;
    });
  } catch {
    return undefined;
  }
}

/** One short-lived connection: no retries, bounded in time, always disconnected. */
async function withClient<T>(url: string, timeoutMs: number, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    // ioredis arms this timer on disconnect() even when the socket is already gone (connection refused) and
    // its default of 2 s would then hold a short-lived CLI process open for nothing.
    disconnectTimeout: 100,
  });
  // The 'error' event carries the useful reason (ECONNREFUSED, WRONGPASS); connect() may only say "Connection
  // is closed". Listening also keeps ioredis from printing "Unhandled error event".
  let lastError: unknown;
  client.on('error', (err: unknown) => {
    lastError = err;
  });
  const attempt = (async () => {
    await client.connect();
    return use(client);
  })();
  attempt.catch(() => undefined); // the timer may win the race; the loser must not become an unhandled rejection
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([attempt, deadline]);
  } catch (err) {
    throw lastError instanceof Error ? lastError : err;
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

async function spawnRedis(binary: string, port: number, options: PrivateRedisOptions, env: NodeJS.ProcessEnv): Promise<PrivateRedis> {
  const { log } = options;
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'resurrect-redis-')));
  const removeDir = () => (ownsDir ? rm(dir, { recursive: true, force: true }) : Promise.resolve());

  // Everything is argv: no config file to write or clean up. `--save ''` turns RDB snapshots off.
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', options.appendonly ? 'yes' : 'no'];
  // Output goes to a file rather than a pipe: a pipe must be drained and would keep this process alive. It is
  // read back only when the start fails, to say why.
  const outputFile = path.join(dir, 'redis-server.out');
  const fd = openSync(outputFile, 'a');
  const child = (() => {
    try {
      return spawn(binary, args, { stdio: ['ignore', fd, fd], env });
    } finally {
      closeSync(fd);
    }
  })();

  let running = child.pid !== undefined;
  const ended = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      resolve(signal ? `was killed by ${signal}` : `exited with code ${code}`);
    });
    child.once('error', (err) => {
      running = false;
      resolve(`could not be run: ${err.message}`);
    });
  });
  // The server's lifetime follows this process (see the exit hooks below); it must not hold the process open.
  child.unref();

  const url = `redis://127.0.0.1:${port}`;
  const startFailed = async (why: string) => {
    const tail = readTail(outputFile);
    await removeDir();
    return new ResurrectError(
      'RSR_REDIS_UNAVAILABLE',
      `redis-server (${binary}) on 127.0.0.1:${port} ${why}${tail ? `; its last output: ${tail}` : ''}`,
      { details: { port, binary, addressInUse: /address already in use/i.test(tail) } },
    );
  };
  const livePid = child.pid;
  if (livePid === undefined) throw await startFailed(await ended); // spawn itself failed (ENOENT, EACCES)
  const failure = await waitUntilServing(url, livePid, ended);
  if (failure !== undefined) {
    if (running) {
      signalPid(livePid, 'SIGKILL');
      await within(ended, KILL_WAIT_MS);
    }
    throw await startFailed(failure);
  }

  let stopping: Promise<void> | undefined;
  const tracked: TrackedServer = {
    pid: livePid,
    dir: ownsDir ? dir : undefined,
    isRunning: () => running,
  };
  track(tracked);

  const stop = async () => {
    if (running) {
      signalPid(livePid, 'SIGTERM');
      await within(ended, STOP_GRACE_MS);
    }
    if (running) {
      log.warn({ redisPid: livePid, port }, 'redis-server ignored SIGTERM; sending SIGKILL');
      signalPid(livePid, 'SIGKILL');
      await within(ended, KILL_WAIT_MS);
    }
    untrack(tracked);
    await removeDir();
  };

  return {
    url,
    port,
    pid: livePid,
    dir,
    exited: ended.then(() => undefined),
    stop: () => (stopping ??= stop()),
    kill: (signal: NodeJS.Signals = 'SIGTERM') => {
      if (running) signalPid(livePid, signal);
    },
  };
}

/** undefined once the server with our pid answers; otherwise why it never will. */
async function waitUntilServing(url: string, pid: number, ended: Promise<string>): Promise<string | undefined> {
  let endedWith: string | undefined;
  void ended.then((why) => {
    endedWith = why;
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (endedWith === undefined) {
    // Checking the pid, not just PING: if a neighbour took the port first, it answers while ours dies.
    if ((await serverPid(url, 250)) === pid) return undefined;
    if (Date.now() > deadline) return `did not answer PING within ${START_TIMEOUT_MS / 1000}s`;
    await sleep(50);
  }
  return endedWith;
}

function readTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-OUTPUT_TAIL_CHARS).trim();
  } catch {
    return '';
  }
}

// ---- Stopping private servers with this process ----------------------------------------------------------

interface TrackedServer {
  readonly pid: number;
  readonly dir: string | undefined;
  isRunning(): boolean;
}

const live = new Set<TrackedServer>();
const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function track(server: TrackedServer): void {
  if (live.size === 0) {
    process.on('exit', stopAllNow);
    for (const signal of STOP_SIGNALS) process.on(signal, onStopSignal);
  }
  live.add(server);
}

function untrack(server: TrackedServer): void {
  if (!live.delete(server) || live.size > 0) return;
  process.off('exit', stopAllNow);
  for (const signal of STOP_SIGNALS) process.off(signal, onStopSignal);
}

/** Synchronous, as 'exit' requires: SIGKILL because there is no time to wait for a clean shutdown, and the
 *  directory is removed right after, so nothing must still be writing into it. */
function stopAllNow(): void {
  for (const server of live) {
    if (server.isRunning()) signalPid(server.pid, 'SIGKILL');
    if (server.dir !== undefined) rmSync(server.dir, { recursive: true, force: true });
  }
  live.clear();
}

/**
 * Listening to a signal cancels Node's default of dying from it. When we are the only listener we stop the
 * servers, step aside and raise the signal again so the process still dies as it would have. When someone
 * else listens (a graceful shutdown that may still need Redis), the signal is theirs and the 'exit' hook
 * cleans up when they are done.
 */
function onStopSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  stopAllNow();
  process.off('exit', stopAllNow);
  for (const s of STOP_SIGNALS) process.off(s, onStopSignal);
  process.kill(process.pid, signal);
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // already gone: that was the goal
  }
}

// ---- Step (d): Debian's package -----------------------------------------------------------------------------

/** apt-get's path when installing is allowed and possible here, otherwise undefined. */
function installer(env: NodeJS.ProcessEnv, allowInstall: boolean): string | undefined {
  if (!allowInstall || isSet(env.RESURRECT_NO_INSTALL)) return undefined;
  if (process.getuid?.() !== 0 || !existsSync('/etc/debian_version')) return undefined;
  return findOnPath('apt-get', env);
}

async function aptInstallRedis(aptGet: string, env: NodeJS.ProcessEnv, log: Logger): Promise<void> {
  log.warn("installing Debian's redis-server with apt-get (set RESURRECT_NO_INSTALL=1 to opt out)");
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  // Parallel test processes may all get here: wait for dpkg's lock instead of failing on it.
  const lock = ['-o', 'DPkg::Lock::Timeout=300'];
  await runQuietly(aptGet, [...lock, '-qq', 'update'], aptEnv);
  await runQuietly(aptGet, [...lock, '-y', '-qq', 'install', 'redis-server'], aptEnv);
}

function runQuietly(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keepTail = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout.on('data', keepTail);
    child.stderr.on('data', keepTail);
    const failed = (why: string, cause?: unknown) =>
      reject(
        new ResurrectError('RSR_REDIS_UNAVAILABLE', `Could not install redis-server: \`apt-get ${args.join(' ')}\` ${why}${output ? `: ${output.trim()}` : ''}`, {
          cause,
        }),
      );
    child.once('error', (err) => failed('could not be run', err));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else failed(signal ? `was killed by ${signal}` : `exited with code ${code}`);
    });
  });
}

// ---- Small helpers ------------------------------------------------------------------------------------------

function findOnPath(command: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, fsConstants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function isSet(flag: string | undefined): boolean {
  return flag !== undefined && !['', '0', 'false', 'no'].includes(flag.toLowerCase());
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Waits for `promise` at most `ms`, without leaving a timer behind to hold the process open. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
