/**
 * A private, throwaway redis-server of our own (step (c) of ./locate-redis): started on a free 127.0.0.1 port
 * with no RDB and no AOF unless asked, and stopped with this process (SIGKILL on exit, or on SIGINT/SIGTERM
 * when nobody else handles them).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { ResurrectError } from '../../domain/errors';
import { withClient } from './redis-client';
import { OUTPUT_TAIL_CHARS, redisServerBinary } from './redis-server-binary';

const START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const KILL_WAIT_MS = 2_000;

export interface PrivateRedisOptions {
  readonly log: Logger;
  /** Turn AOF persistence on (persistence/chaos tests); default off, like RDB which is always off. */
  readonly appendonly?: boolean;
  /** With AOF: fsync every write (`always`, nothing acknowledged is lost to a kill) or Redis's `everysec`. */
  readonly appendfsync?: 'always' | 'everysec';
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

async function spawnRedis(binary: string, port: number, options: PrivateRedisOptions, env: NodeJS.ProcessEnv): Promise<PrivateRedis> {
  const { log } = options;
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'resurrect-redis-')));
  const removeDir = () => (ownsDir ? rm(dir, { recursive: true, force: true }) : Promise.resolve());

  // Everything is argv: no config file to write or clean up. `--save ''` turns RDB snapshots off.
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', options.appendonly ? 'yes' : 'no'];
  if (options.appendonly && options.appendfsync) args.push('--appendfsync', options.appendfsync);
  // Output goes to a file rather than a pipe: a pipe must be drained and would keep this process alive. It is
  // read back only when the start fails, to say why.
  const outputFile = path.join(dir, 'redis-server.out');
  const fd = openSync(outputFile, 'a');
  const child = (() => {
    try {
      // Its own process group: a Ctrl-C in the terminal (SIGINT to the foreground group) must not kill Redis
      // under an engine that is still shutting down; the engine stops it by pid when it is done.
      return spawn(binary, args, { stdio: ['ignore', fd, fd], env, detached: true });
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

// ---- Small helpers ------------------------------------------------------------------------------------------

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
