/**
 * `npm run lab:down [-- --wipe]`: stops the lab, and only what it recorded.
 *
 * 1. Every host is powered off through its BMC (a BMC that is just killed leaves its host, host-power and
 *    nova-compute, running as orphans).
 * 2. Any nova-compute / host-power still named in $RESURRECT_LAB/run is stopped.
 * 3. The processes of pids.json, newest first: SIGTERM, SIGKILL after 15 s.
 * Each one only after checking /proc/<pid>/cmdline still matches what was recorded. Never by name.
 * `--wipe` then deletes the lab directory (only one that `up` created).
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bmcPort, commandLine, CREDENTIALS, labPaths, LOOPBACK, readPids } from './lab';
import { labEnv, runCommand, stopProcess } from './processes';

type Say = (line: string) => void;

/** The hosts that have a BMC directory in the lab. */
function labHosts(dir: string): string[] {
  const bmc = join(dir, 'bmc');
  return existsSync(bmc) ? readdirSync(bmc).filter((h) => /^compute-[1-9]$/.test(h)).sort() : [];
}

function pidFromFile(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Chassis power off through the host's BMC (IPMI over LAN, the password through the environment). */
export function powerOff(host: string): Promise<{ code: number | null; output: string }> {
  return runCommand('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', LOOPBACK, '-p', String(bmcPort(host)), '-U', CREDENTIALS.ipmi.username, '-E', 'chassis', 'power', 'off'], {
    env: labEnv({ IPMI_PASSWORD: CREDENTIALS.ipmi.password }),
    timeoutMs: 15_000,
  });
}

/** Processes whose command line mentions the lab directory: anything the lab started that is still there. */
export function leftovers(dir: string): { pid: number; command: string }[] {
  const needle = `${resolve(dir)}/`;
  const out: { pid: number; command: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const command = commandLine(Number(entry));
    if (command?.includes(needle)) out.push({ pid: Number(entry), command });
  }
  return out;
}

export async function stopLab(dir: string, options: { wipe?: boolean; say?: Say } = {}): Promise<number> {
  const say = options.say ?? ((line: string) => process.stdout.write(`${line}\n`));
  const paths = labPaths(dir);
  const pids = readPids(dir);
  if (!pids) {
    say(`no lab recorded in ${dir} (no pids.json): nothing to stop`);
  } else {
    const started = Date.now();
    const hosts = labHosts(dir);
    const bmcRunning = (host: string) => pids.processes.some((p) => p.name === `ipmi_sim-${host}` && commandLine(p.pid)?.includes(p.match));
    const powered = hosts.filter((h) => bmcRunning(h) && existsSync(paths.powerPidFile(h)));
    if (powered.length > 0) {
      say(`powering off ${powered.join(', ')} through their BMCs`);
      const results = await Promise.all(powered.map(powerOff));
      results.forEach((r, i) => {
        if (r.code !== 0) say(`  ${powered[i]}: ipmitool power off failed (${r.output.trim().split('\n').pop()}); stopping its processes directly`);
      });
      for (let i = 0; i < 30 && powered.some((h) => existsSync(paths.powerPidFile(h))); i++) await sleep(100);
    }
    for (const host of hosts) {
      const compute = pidFromFile(paths.computePidFile(host));
      if (compute !== undefined) say(`  nova-compute ${host} (${compute}): ${await stopProcess({ name: host, pid: compute, match: join(dir, 'etc', 'nova', `${host}.conf`) })}`);
      const power = pidFromFile(paths.powerPidFile(host));
      if (power !== undefined) say(`  host-power ${host} (${power}): ${await stopProcess({ name: host, pid: power, match: `${join(dir, 'bin', 'host-power')} ${host}` })}`);
    }
    for (const proc of [...pids.processes].reverse()) say(`  ${proc.name} (${proc.pid}): ${await stopProcess(proc)}`);
    renameSync(paths.pids, join(dir, 'pids.stopped.json'));
    say(`lab stopped in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  const left = existsSync(dir) ? leftovers(dir) : [];
  for (const { pid, command } of left) say(`  WARNING: still running and not recorded by the lab: ${pid} ${command.slice(0, 160)}`);
  if (options.wipe && existsSync(dir)) {
    if (!existsSync(paths.marker)) {
      say(`not wiping ${dir}: it has no .resurrect-lab marker, so the lab did not create it`);
      return 1;
    }
    rmSync(dir, { recursive: true, force: true });
    say(`wiped ${dir}`);
  }
  return left.length > 0 ? 1 : 0;
}
