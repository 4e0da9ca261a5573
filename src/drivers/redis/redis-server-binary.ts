/**
 * Where the redis-server binary comes from: the PATH, or (step (d) of ./locate-redis) Debian's package
 * installed with apt-get when we are root on Debian and RESURRECT_NO_INSTALL is unset.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { ResurrectError } from '../../domain/errors';

/** How much of a child process's output an error message quotes. */
export const OUTPUT_TAIL_CHARS = 2_000;

/**
 * The redis-server binary: from the PATH, or installed from Debian's packages when allowed (root, Debian-like,
 * RESURRECT_NO_INSTALL unset); otherwise RSR_REDIS_UNAVAILABLE with `missingMessage`.
 */
export async function redisServerBinary(env: NodeJS.ProcessEnv, allowInstall: boolean, log: Logger, missingMessage: string): Promise<{ binary: string; installed: boolean }> {
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
