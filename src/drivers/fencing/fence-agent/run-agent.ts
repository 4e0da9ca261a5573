/**
 * Running a fence agent the way Pacemaker's fencer does (fence-agent contract §1): the binary with **no
 * arguments**, the options as `name=value` lines on stdin, stdin closed, stdout/stderr captured, the whole
 * process group killed when the call's time is up or the caller gives up. Nothing secret ever reaches argv,
 * the environment, a log line or an error message: options travel on stdin only, and every text the agent
 * prints is passed through `redactSecrets` before anyone sees it.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { nonRetryable, retryable } from '../../../domain';

/** Agent names as fence-agents installs them; anything else (paths, `..`, shell words) is refused. */
export const AGENT_NAME = /^fence_[a-z0-9_]+$/;

/** Where agents are looked for after PATH: Debian/RHEL install them in /usr/sbin, often not on a daemon's PATH. */
export const AGENT_DIRS = ['/usr/sbin'] as const;

/** Option names whose values are secrets (password, passwd, password_script, snmp_priv_passwd, community…). */
export const SECRET_OPTION = /pass(word|wd)?|secret|token|credential|community|private[-_]?key|api[-_]?key/i;

/** Option names as stdin carries them: no `=`, no whitespace, nothing that could start a second line. */
const OPTION_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

const MAX_STDOUT = 1 << 20;
const MAX_STDERR = 64 << 10;

export type AgentOptionValue = string | number | boolean;

export interface AgentRun {
  /** Exit code; null when the agent died of a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Redacted. */
  readonly stdout: string;
  /** Redacted. */
  readonly stderr: string;
  readonly ms: number;
  readonly pid: number | undefined;
}

export interface RunAgentOptions {
  /** Hard bound on the call: the agent's process group is killed with SIGKILL after it. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** Environment of the agent (default: this process's, without PCMK_service; see fence-agent-device.ts). */
  readonly env?: NodeJS.ProcessEnv;
  /** Values to blank out of everything the agent prints (default: the values of secret-looking options). */
  readonly secrets?: readonly string[];
  /** For messages: `fence_redfish status node-1`. */
  readonly what?: string;
}

/**
 * Finds an agent by name in `searchPath` (default: $PATH), then /usr/sbin. Refuses names that are not
 * `fence_[a-z0-9_]+`. Throws RSR_CONFIG_INVALID when no executable file of that name exists.
 */
export function resolveAgent(name: string, searchPath: string | undefined = process.env.PATH): string {
  if (!AGENT_NAME.test(name)) {
    throw nonRetryable('RSR_CONFIG_INVALID', `"${name}" is not a fence agent name (fence_[a-z0-9_]+)`, { details: { agent: name } });
  }
  const dirs = [...(searchPath ?? '').split(delimiter).filter((d) => d.length > 0 && d.startsWith('/')), ...AGENT_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw nonRetryable('RSR_CONFIG_INVALID', `no fence agent ${name} found (searched PATH and ${AGENT_DIRS.join(', ')})`, { details: { agent: name } });
}

/** The stdin text: one `name=value` line per option, in order. Refuses what could inject a line. */
export function agentStdin(options: readonly (readonly [string, AgentOptionValue])[]): string {
  return options.map(([name, value]) => {
    if (!OPTION_NAME.test(name)) throw nonRetryable('RSR_CONFIG_INVALID', `fence agent option name "${name}" is not valid`, { details: { option: name } });
    const text = String(value);
    // A newline in a value would become a second option (e.g. `action=on`): never let one through.
    if (/[\r\n\0]/.test(text)) throw nonRetryable('RSR_CONFIG_INVALID', `fence agent option "${name}" contains a line break`, { details: { option: name } });
    return `${name}=${text}\n`;
  }).join('');
}

/** The values of secret-looking options (what `redactSecrets` blanks out). */
export function secretValues(options: readonly (readonly [string, AgentOptionValue])[]): string[] {
  return options.filter(([name, value]) => SECRET_OPTION.test(name) && String(value).length > 0).map(([, value]) => String(value));
}

/** Replaces every occurrence of every secret with `[redacted]` (longest first, so a secret containing another goes whole). */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length > 0) out = out.split(secret).join('[redacted]');
  }
  return out;
}

/** The last non-empty line of an agent's output, trimmed (fencing.py prints its error last). */
export function lastLine(text: string): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  return lines[lines.length - 1] ?? '';
}

/**
 * Runs the agent at `path` with no arguments, `stdin` on its standard input. Resolves with the exit status
 * whatever it is (interpreting it is the caller's job); rejects with RSR_DRIVER_TIMEOUT (retryable) after
 * `timeoutMs`, with the signal's reason when aborted, RSR_DRIVER_UNAVAILABLE when it cannot be started. On
 * timeout or abort the agent's whole process group (it is started as a group leader) gets SIGKILL, so a
 * helper it forked (ipmitool, ssh, curl) dies with it.
 */
export function runAgent(path: string, stdin: string, options: RunAgentOptions): Promise<AgentRun> {
  const { signal } = options;
  const what = options.what ?? path;
  const secrets = options.secrets ?? [];
  if (signal?.aborted) return Promise.reject(signal.reason);
  const started = Date.now();
  return new Promise<AgentRun>((resolve, reject) => {
    const child = spawn(path, [], { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env: options.env ?? agentEnv() });
    let stdout = '';
    let stderr = '';
    let settled = false;
    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        try {
          child.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    };
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => finish(() => {
      killGroup();
      reject(signal?.reason);
    });
    const timer = setTimeout(() => finish(() => {
      killGroup();
      const tail = lastLine(redactSecrets(stderr, secrets));
      reject(retryable('RSR_DRIVER_TIMEOUT', `${what} did not answer within ${options.timeoutMs} ms (agent killed)${tail ? `; last output: ${tail}` : ''}`, {
        details: { agent: path, timeoutMs: options.timeoutMs, pid: child.pid },
      }));
    }), options.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => { if (stdout.length < MAX_STDOUT) stdout += chunk; });
    child.stderr.on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-MAX_STDERR); });
    child.on('error', (error: NodeJS.ErrnoException) => finish(() => {
      killGroup();
      reject(retryable('RSR_DRIVER_UNAVAILABLE', `${what}: could not run the agent (${error.code ?? error.message})`, { details: { agent: path } }));
    }));
    child.on('close', (code, exitSignal) => finish(() => {
      resolve({
        code,
        signal: exitSignal,
        stdout: redactSecrets(stdout, secrets),
        stderr: redactSecrets(stderr, secrets),
        ms: Date.now() - started,
        pid: child.pid,
      });
    }));
    // An agent may exit before reading its input (bad option, --help): that EPIPE is not our failure.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}

/**
 * The agent's environment: ours, minus PCMK_service. That variable makes fencing.py force `disable_timeout`
 * (its own power/login/shell timeouts become 0 = wait forever); we do not set it and do not let an inherited
 * one through, so agents keep their own bounded waits and fail with their own message (see the device).
 */
export function agentEnv(base: NodeJS.ProcessEnv = process.env, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, ...extra };
  if (!('PCMK_service' in extra)) delete env.PCMK_service;
  return env;
}
