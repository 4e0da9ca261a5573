/**
 * `npm run lab:status`: is the lab running, what does each recorded process use, and does the Resurrect
 * configuration the lab wrote work? The configuration is checked the way the engine would use it: loaded
 * with the project's config loader, the OpenStack driver built from its clouds.yaml and asked for the hosts
 * and their compute services, the agents fencing driver built (fence_ipmilan's metadata checks every option
 * name) and asked for each host's power state through its BMC.
 */
import { existsSync, readFileSync } from 'node:fs';
import pino from 'pino';
import { loadConfig } from '../../src/config/config';
import { systemClock } from '../../src/domain';
import type { HostName } from '../../src/domain';
import { createOpenStackCloudDriver } from '../../src/drivers/cloud/openstack';
import { createAgentsFencing } from '../../src/drivers/fencing/fence-agent/factory';
import { descendants, isRunning, labPaths, labRssMiB, processTree, readLab, readPids, rssKiB } from './lab';

type Say = (line: string) => void;

/**
 * Loads $RESURRECT_LAB/resurrect.yaml and exercises its cloud and fencing sections against the lab. Resolves
 * with one line per finding; rejects with the first problem.
 */
export async function checkResurrectConfig(dir: string, hosts: readonly string[]): Promise<string[]> {
  const file = labPaths(dir).resurrectConfig;
  const config = loadConfig({ file, env: {} });
  if (config.cloud.driver !== 'openstack' || config.fencing.driver !== 'agents') {
    throw new Error(`${file}: expected cloud.driver openstack and fencing.driver agents`);
  }
  const log = pino({ level: 'silent' });
  const cloud = createOpenStackCloudDriver(config.cloud.options, { log });
  const known: string[] = (await cloud.listHosts()).map((h) => h.name).sort();
  const missing = hosts.filter((h) => !known.includes(h));
  if (missing.length > 0) throw new Error(`the OpenStack driver does not see ${missing.join(', ')} (it sees ${known.join(', ') || 'no host'})`);
  const services = await Promise.all(hosts.map((h) => cloud.getService(h as HostName)));
  const fencing = await createAgentsFencing(config.fencing.options, { log, clock: systemClock });
  const power = await Promise.all(hosts.map((h) => fencing.status(h)));
  return [
    `${file}: loads with the project's config loader`,
    `OpenStack driver (clouds.yaml cloud "${String(config.cloud.options.cloud)}"): hosts ${known.join(', ')}; ` +
      services.map((s) => `${s.host} ${s.state}/${s.status}${s.forcedDown ? '/forced-down' : ''}`).join(', '),
    `fencing (fence_ipmilan per host): ${hosts.map((h, i) => `${h} ${power[i]}`).join(', ')}`,
  ];
}

export async function labStatus(dir: string, say: Say = (line) => process.stdout.write(`${line}\n`)): Promise<number> {
  const paths = labPaths(dir);
  const pids = readPids(dir);
  if (!pids) {
    say(`no lab in ${dir} (no pids.json${existsSync(dir) ? '; a stopped lab leaves pids.stopped.json' : ''}); start one with npm run lab:up`);
    return 3;
  }
  const tree = processTree();
  const recorded = new Set(pids.processes.map((p) => p.pid));
  say(`lab in ${dir} (memory: the process and what it started, e.g. a BMC's host and its nova-compute):`);
  for (const proc of pids.processes) {
    const alive = isRunning(proc);
    const own = [proc.pid, ...descendants(proc.pid, tree).filter((pid) => !recorded.has(pid))];
    const mib = alive ? own.reduce((sum, pid) => sum + rssKiB(pid), 0) / 1024 : 0;
    say(`  ${alive ? 'running' : 'GONE   '} ${proc.name.padEnd(22)} pid ${String(proc.pid).padEnd(8)} ${alive ? `${mib.toFixed(0)} MiB` : proc.log}`);
  }
  const state = readLab(dir);
  if (!state) {
    say(existsSync(paths.state) ? 'some recorded processes are gone: the lab is broken; npm run lab:down, then npm run lab:up' : 'lab.json is missing: lab:up did not finish; npm run lab:down');
    return 1;
  }
  for (const host of state.hosts) {
    const pid = existsSync(host.computePidFile) ? readFileSync(host.computePidFile, 'utf8').trim() : undefined;
    say(`  ${host.name}: ${pid ? `powered on, nova-compute pid ${pid}` : 'powered off'}; BMC udp ${host.bmc.address}:${host.bmc.port}`);
  }
  say(`  resident memory ${labRssMiB(dir)} MiB; state ${paths.state}`);
  try {
    for (const line of await checkResurrectConfig(dir, state.hosts.map((h) => h.name))) say(`  ${line}`);
  } catch (error) {
    say(`  Resurrect configuration check FAILED: ${(error as Error).message}`);
    return 1;
  }
  return 0;
}
