/**
 * Installing what a fresh Debian/Ubuntu machine lacks, with apt-get, the way the README promises: only as
 * root, only on a Debian-like system, never when RESURRECT_NO_INSTALL is set, and always with a visible
 * message. Parallel processes may ask at once: they wait for dpkg's lock instead of failing on it.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';

/** How much of apt-get's output an error message quotes. */
export const OUTPUT_TAIL_CHARS = 2_000;

/** apt-get's path when installing is allowed and possible here, otherwise undefined. */
export function aptInstaller(env: NodeJS.ProcessEnv, allowInstall = true): string | undefined {
  if (!allowInstall || isSet(env.RESURRECT_NO_INSTALL)) return undefined;
  if (process.getuid?.() !== 0 || !existsSync('/etc/debian_version')) return undefined;
  return findOnPath('apt-get', env);
}

/** Installs `packages`; rejects with apt-get's output tail (wrapped by `fail`) when it does not work. */
export async function aptInstall(
  aptGet: string,
  packages: readonly string[],
  options: { env: NodeJS.ProcessEnv; log: Pick<Logger, 'warn'>; fail: (message: string, cause?: unknown) => Error },
): Promise<void> {
  options.log.warn(`installing Debian's ${packages.join(', ')} with apt-get (set RESURRECT_NO_INSTALL=1 to opt out)`);
  const env = { ...options.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lock = ['-o', 'DPkg::Lock::Timeout=300'];
  await run(aptGet, [...lock, '-qq', 'update'], env, options.fail);
  await run(aptGet, [...lock, '-y', '-qq', '--no-install-recommends', 'install', ...packages], env, options.fail);
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv, fail: (message: string, cause?: unknown) => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keepTail = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout.on('data', keepTail);
    child.stderr.on('data', keepTail);
    const failed = (why: string, cause?: unknown) => reject(fail(`\`apt-get ${args.join(' ')}\` ${why}${output ? `: ${output.trim()}` : ''}`, cause));
    child.once('error', (err) => failed('could not be run', err));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else failed(signal ? `was killed by ${signal}` : `exited with code ${code}`);
    });
  });
}

export function findOnPath(command: string, env: NodeJS.ProcessEnv): string | undefined {
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
