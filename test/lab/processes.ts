/**
 * Starting, running and stopping the lab's processes. Daemons are started detached (their own session, output
 * to a log file under $RESURRECT_LAB/logs) and recorded in pids.json at once, so `down` can stop exactly them
 * even when `up` dies halfway. One-shot commands (db syncs, keystone-manage, …) append their output to a
 * log too; when one fails, the error says which service, the command and the end of its log.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LabProcess, PidsFile } from './lab';
import { commandLine, isRunning, labPaths, readPids, startTime, writeJson } from './lab';

/** Lines of a log quoted when something fails. */
export const TAIL_LINES = 30;

/** A stage's failure: what failed, how it was started and where its output is. */
export class LabFailure extends Error {
  constructor(
    readonly service: string,
    message: string,
    readonly details: { readonly command?: string; readonly log?: string; readonly hint?: string } = {},
  ) {
    super(message);
  }
}

/**
 * The environment of every lab process: Debian's own tools first on PATH (a pyenv or virtualenv `python3`
 * would lack the OpenStack modules), no inherited Python path, no Python deprecation chatter.
 */
export function labEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of ['PYTHONPATH', 'PYTHONHOME', 'PYTHONSTARTUP', 'VIRTUAL_ENV', 'OS_CLOUD', 'OS_CLIENT_CONFIG_FILE']) delete env[key];
  for (const key of Object.keys(env)) if (key.startsWith('OS_') || key.startsWith('RABBITMQ_') || key.startsWith('ERL_')) delete env[key];
  env.PATH = `/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin${env.PATH ? `:${env.PATH}` : ''}`;
  env.PYTHONWARNINGS = 'ignore';
  env.LC_ALL = 'C.UTF-8';
  return { ...env, ...extra };
}

export const shellQuote = (word: string): string => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);
export const displayCommand = (command: string, args: readonly string[]): string => [command, ...args].map(shellQuote).join(' ');

/** The last `lines` lines of a file ('' when it does not exist). */
export function tail(file: string, lines = TAIL_LINES): string {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8').replace(/\s+$/, '');
  return text.split('\n').slice(-lines).join('\n');
}

export interface DaemonSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Output (stdout and stderr) goes here. */
  readonly log: string;
  /** Text of the command line that identifies it (default: the command). */
  readonly match?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** A started daemon; `exited` is set if it ends while this process still runs (a start-up failure). */
export interface Daemon extends LabProcess {
  exited?: string;
}

let stopping = false;

/** After this, `startDaemon` refuses: `up` was interrupted and is stopping what it started. */
export function refuseNewDaemons(): void {
  stopping = true;
}

/** Starts a daemon detached and records it in pids.json before anything else happens. */
export function startDaemon(dir: string, spec: DaemonSpec): Daemon {
  if (stopping) throw new LabFailure(spec.name, `not starting ${spec.name}: the lab is being stopped`);
  const out = openSync(spec.log, 'a');
  const command = displayCommand(spec.command, spec.args);
  let child;
  try {
    child = spawn(spec.command, spec.args, { detached: true, stdio: ['ignore', out, out], env: spec.env ?? labEnv(), cwd: spec.cwd ?? dir });
  } finally {
    closeSync(out);
  }
  const pid = child.pid;
  if (pid === undefined) throw new LabFailure(spec.name, `could not start ${spec.name}`, { command, log: spec.log });
  const daemon: Daemon = { name: spec.name, pid, match: spec.match ?? spec.command, startTime: startTime(pid), command, log: spec.log };
  child.once('exit', (code, signal) => {
    daemon.exited = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  });
  child.on('error', (error) => {
    daemon.exited = `could not be run (${error.message})`;
  });
  child.unref();
  recordProcess(dir, daemon);
  return daemon;
}

/** Adds a process to pids.json (a process found rather than started, such as RabbitMQ's Erlang VM, too). */
export function recordProcess(dir: string, proc: LabProcess): void {
  const current: PidsFile = readPids(dir) ?? { dir, processes: [] };
  const { name, pid, match, startTime: start, command, log } = proc;
  writeJson(labPaths(dir).pids, { ...current, processes: [...current.processes, { name, pid, match, startTime: start, command, log }] });
}

export interface RunOptions {
  /** Output is appended here (default: kept in memory only). */
  readonly log?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string;
  readonly timeoutMs?: number;
  readonly cwd?: string;
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly output: string;
}

/** Runs a command to its end; never rejects for a non-zero exit (see `runStep`). */
export function runCommand(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: options.env ?? labEnv(), cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
    const started = new Date();
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
    const finish = (code: number | null, signal: NodeJS.Signals | null, extra = '') => {
      if (timer) clearTimeout(timer);
      const output = Buffer.concat(chunks).toString('utf8') + extra;
      if (options.log) {
        const took = ((Date.now() - started.getTime()) / 1000).toFixed(1);
        const end = `# ${signal ? `killed by ${signal}` : `exit ${code}`} after ${took} s\n`;
        writeFileSync(options.log, `# ${started.toISOString()}\n$ ${displayCommand(command, args)}\n${output}${output.endsWith('\n') || output === '' ? '' : '\n'}${end}`, { flag: 'a' });
      }
      resolve({ code, signal, output });
    };
    child.once('error', (error) => finish(127, null, `could not run ${command}: ${error.message}\n`));
    child.once('close', (code, signal) => finish(code, signal));
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Runs a command that must succeed; a failure is a LabFailure of `service` quoting the end of its output. */
export async function runStep(service: string, command: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const result = await runCommand(command, args, options);
  if (result.code !== 0) {
    const how = result.signal ? `was killed by ${result.signal}${options.timeoutMs ? ` (time limit ${options.timeoutMs / 1000} s)` : ''}` : `exited with code ${result.code}`;
    throw new LabFailure(service, `${command.split('/').pop()} ${how}`, {
      command: displayCommand(command, args),
      log: options.log,
      ...(options.log ? {} : { hint: result.output.trim().split('\n').slice(-TAIL_LINES).join('\n') }),
    });
  }
  return result.output;
}

/**
 * Polls `ready` every `intervalMs` until it answers true. Fails as `daemon`'s (or `service`'s) failure when
 * the daemon ends first or the time is up.
 */
export async function waitUntil(
  service: string,
  what: string,
  ready: () => Promise<boolean> | boolean,
  options: { readonly timeoutMs: number; readonly intervalMs?: number; readonly daemon?: Daemon | readonly Daemon[]; readonly log?: string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const daemons: readonly Daemon[] = options.daemon === undefined ? [] : Array.isArray(options.daemon) ? options.daemon : [options.daemon as Daemon];
  for (;;) {
    const gone = daemons.find((d) => d.exited !== undefined);
    if (gone) {
      throw new LabFailure(service, `${gone.name} ${gone.exited} while waiting for ${what}`, { command: gone.command, log: gone.log });
    }
    if (await Promise.resolve().then(ready).catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new LabFailure(service, `timed out after ${options.timeoutMs / 1000} s waiting for ${what}`, {
        command: daemons[0]?.command,
        log: options.log ?? daemons[0]?.log,
      });
    }
    await sleep(options.intervalMs ?? 200);
  }
}

/** True when something answers HTTP at `url` (any status). */
export async function answersHttp(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000), headers: { Connection: 'close' } });
    await response.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

/** How long `stop` waits after SIGTERM before SIGKILL. */
export const STOP_GRACE_MS = 15_000;

/**
 * Stops one recorded process: SIGTERM, then SIGKILL after `graceMs`. Only if its command line (and start
 * time, when recorded) still match: a pid reused by someone else's process is left alone.
 */
export async function stopProcess(proc: Pick<LabProcess, 'pid' | 'match' | 'startTime' | 'name'>, graceMs = STOP_GRACE_MS): Promise<string> {
  if (!isRunning(proc)) return 'not running';
  const started = Date.now();
  try {
    process.kill(proc.pid, 'SIGTERM');
  } catch {
    return 'not running';
  }
  while (Date.now() - started < graceMs) {
    if (!isRunning(proc)) return `stopped (${((Date.now() - started) / 1000).toFixed(1)} s)`;
    await sleep(100);
  }
  if (!isRunning(proc)) return 'stopped';
  try {
    process.kill(proc.pid, 'SIGKILL');
  } catch {
    return 'stopped';
  }
  for (let i = 0; i < 50 && isRunning(proc); i++) await sleep(100);
  return isRunning(proc) ? `still running after SIGKILL: ${commandLine(proc.pid) ?? ''}` : `killed with SIGKILL after ${graceMs / 1000} s`;
}
