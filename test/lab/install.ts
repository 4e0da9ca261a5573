/**
 * The Debian 12 packages the lab runs on, installed when missing the way the rest of the project installs
 * what it needs (src/drivers/debian-packages.ts): only as root on Debian, never with RESURRECT_NO_INSTALL set.
 * No daemon may start during the install (MariaDB and RabbitMQ would take the lab's ports on their default
 * addresses), so a temporary /usr/sbin/policy-rc.d answering 101 ("not allowed") is put in place when the
 * machine has none.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, unlinkSync, writeFileSync } from 'node:fs';
import pino from 'pino';
import { aptInstall, aptInstaller } from '../../src/drivers/debian-packages';

/**
 * Not `nova-compute`: Debian's package depends on a hypervisor package that pulls libvirt and qemu. The fake
 * driver needs only python3-nova (test/lab/bin/nova-compute is the entry point). ipmitool is what
 * fence_ipmilan runs, although fence-agents does not depend on it.
 */
export const LAB_PACKAGES = [
  'mariadb-server', 'rabbitmq-server',
  'keystone', 'placement-api', 'glance-api',
  'nova-api', 'nova-conductor', 'nova-scheduler', 'python3-nova',
  'python3-openstackclient', 'python3-osc-placement',
  'openipmi', 'ipmitool', 'fence-agents',
  'masakari-api', 'masakari-engine', 'python3-masakariclient',
  'uwsgi-plugin-python3',
] as const;

const POLICY_RC_D = '/usr/sbin/policy-rc.d';

/** The packages of LAB_PACKAGES that dpkg does not list as installed. */
export function missingPackages(packages: readonly string[] = LAB_PACKAGES): string[] {
  const result = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\\n', ...packages], { encoding: 'utf8' });
  if (result.error) return [...packages]; // no dpkg at all
  const installed = new Set(
    result.stdout.split('\n').map((line) => line.trim().split(' ')).filter(([, status]) => status === 'installed').map(([name]) => name),
  );
  return packages.filter((p) => !installed.has(p));
}

/**
 * Installs what is missing. Resolves with a line for the caller to print, or rejects with one sentence
 * saying what to install when installing is not allowed or not possible here.
 */
export async function ensureLabPackages(
  env: NodeJS.ProcessEnv = process.env,
  say: (line: string) => void = () => undefined,
  packages: readonly string[] = LAB_PACKAGES,
): Promise<{ installed: string[]; seconds: number }> {
  const missing = missingPackages(packages);
  if (missing.length === 0) return { installed: [], seconds: 0 };
  const aptGet = aptInstaller(env);
  if (aptGet === undefined) {
    throw new Error(
      `the lab needs Debian 12 packages that are not installed (${missing.join(' ')}); as root: apt-get install --no-install-recommends ${packages.join(' ')}` +
        ' (with a /usr/sbin/policy-rc.d that exits 101, so that nothing starts)',
    );
  }
  say(`installing ${missing.length} missing Debian package(s) with their dependencies: ${missing.join(' ')} (a few minutes; ~725 MiB)`);
  const temporaryPolicy = !existsSync(POLICY_RC_D);
  if (temporaryPolicy) {
    writeFileSync(POLICY_RC_D, '#!/bin/sh\n# Resurrect lab install: keep package scripts from starting daemons\nexit 101\n');
    chmodSync(POLICY_RC_D, 0o755);
  }
  const started = Date.now();
  try {
    await aptInstall(aptGet, packages, {
      env,
      log: pino({ level: 'warn' }),
      fail: (message, cause) => new Error(`could not install the lab's packages: ${message}`, { cause }),
    });
  } finally {
    if (temporaryPolicy) unlinkSync(POLICY_RC_D);
  }
  const still = missingPackages(packages);
  if (still.length > 0) throw new Error(`apt-get finished but these packages are still not installed: ${still.join(' ')}`);
  return { installed: missing, seconds: (Date.now() - started) / 1000 };
}
