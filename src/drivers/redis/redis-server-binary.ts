/**
 * Where the redis-server binary comes from: the PATH, or (step (d) of ./locate-redis) Debian's package
 * installed with apt-get when we are root on Debian and RESURRECT_NO_INSTALL is unset.
 */
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import { ResurrectError } from '../../domain/errors';
import { aptInstall, aptInstaller, findOnPath } from '../debian-packages';

export { OUTPUT_TAIL_CHARS } from '../debian-packages';

/**
 * The redis-server binary: from the PATH, or installed from Debian's packages when allowed (root, Debian-like,
 * RESURRECT_NO_INSTALL unset); otherwise RSR_REDIS_UNAVAILABLE with `missingMessage`.
 */
export async function redisServerBinary(env: NodeJS.ProcessEnv, allowInstall: boolean, log: Logger, missingMessage: string): Promise<{ binary: string; installed: boolean }> {
  const onPath = findOnPath('redis-server', env);
  if (onPath !== undefined) return { binary: onPath, installed: false };
  const aptGet = aptInstaller(env, allowInstall);
  if (aptGet === undefined) throw new ResurrectError('RSR_REDIS_UNAVAILABLE', missingMessage);
  await aptInstall(aptGet, ['redis-server'], {
    env, log, fail: (message, cause) => new ResurrectError('RSR_REDIS_UNAVAILABLE', `Could not install redis-server: ${message}`, { cause }),
  });
  // Debian puts it in /usr/bin, which a trimmed PATH may lack.
  const binary = findOnPath('redis-server', env) ?? (existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : undefined);
  if (binary === undefined) {
    throw new ResurrectError('RSR_REDIS_UNAVAILABLE', 'apt-get installed redis-server but no redis-server binary can be found.');
  }
  return { binary, installed: true };
}
