/**
 * The project's OpenStack lab (docs/lab.md): a real Keystone, Placement, Glance, Nova and (optionally)
 * Masakari on 127.0.0.1, three fake-driver compute hosts each behind its own IPMI BMC (ipmi_sim).
 *
 * This module is the lab's layout (directories, ports, credentials, hosts) and what a test reads to use a
 * running lab: `readLab()` answers the state `npm run lab:up` recorded in `$RESURRECT_LAB/lab.json`, or
 * undefined when no lab is running. It starts nothing and needs no Debian package.
 */
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// ---- layout -------------------------------------------------------------------------------------------

/** Where the lab keeps everything (configs, databases, logs, pids): `$RESURRECT_LAB` or `<tmpdir>/resurrect-lab`. */
export function labDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.RESURRECT_LAB && env.RESURRECT_LAB !== '' ? env.RESURRECT_LAB : join(tmpdir(), 'resurrect-lab');
}

/** Files and directories inside the lab directory. */
export function labPaths(dir: string) {
  return {
    dir,
    /** Present in every directory `up` created: `up` and `down --wipe` only ever delete a directory carrying it. */
    marker: join(dir, '.resurrect-lab'),
    pids: join(dir, 'pids.json'),
    state: join(dir, 'lab.json'),
    cloudsYaml: join(dir, 'clouds.yaml'),
    resurrectConfig: join(dir, 'resurrect.yaml'),
    adminRc: join(dir, 'admin-openrc.sh'),
    logs: join(dir, 'logs'),
    run: join(dir, 'run'),
    bin: join(dir, 'bin'),
    etc: join(dir, 'etc'),
    /** Written by host-power while the host is powered on: the pid of its nova-compute / of host-power itself. */
    computePidFile: (host: string) => join(dir, 'run', `${host}.pid`),
    powerPidFile: (host: string) => join(dir, 'run', `${host}.power.pid`),
  };
}

export const LOOPBACK = '127.0.0.1';
export const REGION = 'RegionOne';
export const CLOUD_NAME = 'resurrect-lab';
export const IMAGE_NAME = 'tiny';
export const FLAVOR_NAME = 'm1.tiny';
export const SEGMENT_NAME = 'lab-seg';

/** TCP ports of the services (all on 127.0.0.1). */
export const PORTS = {
  mariadb: 3306,
  epmd: 4369,
  rabbitmq: 5672,
  rabbitmqDist: 25672,
  keystone: 5000,
  nova: 8774,
  placement: 8778,
  glance: 9292,
  neutron: 9696,
  masakari: 15868,
} as const;

export const CREDENTIALS = {
  /** MariaDB account every service uses (root stays socket-only). */
  db: { user: 'os', password: 'dbpass' },
  rabbitmq: { user: 'openstack', password: 'rabbitpass' },
  /** Keystone's bootstrap admin, project `admin`, domain `Default`. */
  admin: { username: 'admin', password: 'adminpass', projectName: 'admin', userDomainName: 'Default', projectDomainName: 'Default' },
  /** Service users (nova, placement, glance, masakari) in project `service`, all with this password. */
  service: { password: 'servicepass', projectName: 'service' },
  /** The BMC account of every host. */
  ipmi: { username: 'admin', password: 'ipmipass' },
} as const;

export const DEFAULT_HOSTS = ['compute-1', 'compute-2', 'compute-3'] as const;

const HOST_NAME = /^compute-([1-9])$/;

/** The BMC of compute-N listens on UDP 623N (IPMI over LAN). */
export function bmcPort(host: string): number {
  return 6230 + hostNumber(host);
}

/** ipmi_sim's "VM serial" TCP port of compute-N: 920N. Nothing connects to it, but without it the BMC refuses power control. */
export function vmPort(host: string): number {
  return 9200 + hostNumber(host);
}

function hostNumber(host: string): number {
  const match = HOST_NAME.exec(host);
  if (!match) throw new Error(`lab host names are compute-1 … compute-9, not "${host}"`);
  return Number(match[1]);
}

/** What `up` is asked to start, from the environment. */
export interface LabSettings {
  readonly dir: string;
  readonly hosts: readonly string[];
  /** RESURRECT_LAB_MASAKARI=0 leaves Masakari out (saves ~340 MB and ~10 s). */
  readonly masakari: boolean;
  /** Masakari's sleep after disabling a failed host's nova-compute (`wait_period_after_service_update`), seconds. */
  readonly masakariWait: number;
}

export function labSettings(env: NodeJS.ProcessEnv = process.env): LabSettings {
  const hosts = (env.RESURRECT_LAB_HOSTS ?? '').split(/[\s,]+/).filter((h) => h !== '');
  const chosen = hosts.length > 0 ? hosts : [...DEFAULT_HOSTS];
  for (const host of chosen) hostNumber(host);
  if (new Set(chosen).size !== chosen.length) throw new Error(`RESURRECT_LAB_HOSTS names a host twice: ${chosen.join(',')}`);
  const wait = env.RESURRECT_LAB_MASAKARI_WAIT ?? '30';
  if (!/^\d+$/.test(wait)) throw new Error(`RESURRECT_LAB_MASAKARI_WAIT must be a whole number of seconds, not "${wait}"`);
  return {
    dir: labDir(env),
    hosts: chosen,
    masakari: !['0', 'false', 'no', 'off'].includes((env.RESURRECT_LAB_MASAKARI ?? '1').toLowerCase()),
    masakariWait: Number(wait),
  };
}

// ---- the state a test reads ----------------------------------------------------------------------------

export interface LabBmc {
  readonly address: string;
  /** UDP port of the BMC. */
  readonly port: number;
  readonly username: string;
  readonly password: string;
  /** Options for `fence_ipmilan` that work against this BMC (stdin names, as the agents driver sends them). */
  readonly fenceIpmilan: Readonly<Record<string, string>>;
}

export interface LabHost {
  readonly name: string;
  readonly bmc: LabBmc;
  /** Holds the pid of the host's nova-compute while it is powered on. */
  readonly computePidFile: string;
  /** The host's nova-compute log. */
  readonly computeLog: string;
}

export interface LabCredentials {
  readonly username: string;
  readonly password: string;
  readonly projectName: string;
  readonly userDomainName: string;
  readonly projectDomainName: string;
}

/** `$RESURRECT_LAB/lab.json`, written by `up` once everything answers. */
export interface LabState {
  readonly version: 1;
  readonly dir: string;
  readonly startedAt: string;
  readonly region: string;
  /** Keystone v3, e.g. http://127.0.0.1:5000/v3 */
  readonly authUrl: string;
  readonly admin: LabCredentials & { readonly projectId: string };
  /** The service users' password and project (users nova, placement, glance, masakari). */
  readonly service: { readonly projectName: string; readonly projectId: string; readonly password: string; readonly users: readonly string[] };
  readonly endpoints: {
    readonly keystone: string;
    readonly nova: string;
    readonly placement: string;
    readonly glance: string;
    readonly neutron: string;
    /** Without the project: append `/<project id>` (the catalog holds `/v1/%(tenant_id)s`). Absent without Masakari. */
    readonly masakari?: string;
  };
  readonly image: { readonly id: string; readonly name: string };
  readonly flavor: { readonly id: string; readonly name: string };
  /** Absent when the lab runs without Masakari. */
  readonly masakari?: { readonly segmentId: string; readonly segmentName: string; readonly waitAfterServiceUpdate: number };
  readonly hosts: readonly LabHost[];
  /** clouds.yaml for our OpenStack driver and the openstack CLI (cloud `cloudName`, admin credentials). */
  readonly cloudsYaml: string;
  readonly cloudName: string;
  /** A Resurrect configuration using the lab: `cloud.driver: openstack`, `fencing.driver: agents` with fence_ipmilan. */
  readonly resurrectConfig: string;
  /** `source` it for /usr/bin/openstack as admin. */
  readonly adminRc: string;
  readonly logs: string;
  /** Nova's settings a test may time against. */
  readonly nova: { readonly reportIntervalSeconds: number; readonly serviceDownTimeSeconds: number };
}

/** One process `up` started, as `$RESURRECT_LAB/pids.json` records it. */
export interface LabProcess {
  readonly name: string;
  readonly pid: number;
  /** A text its /proc/<pid>/cmdline (arguments joined by spaces) contains: nothing else is ever signalled. */
  readonly match: string;
  /** Field 22 of /proc/<pid>/stat when it was recorded: a recycled pid does not match. */
  readonly startTime?: string;
  readonly command: string;
  readonly log: string;
}

export interface PidsFile {
  readonly dir: string;
  readonly processes: LabProcess[];
}

/** The running lab's state, or undefined when none is running there (no lab.json, or a recorded process gone). */
export function readLab(dir: string = labDir()): LabState | undefined {
  const paths = labPaths(dir);
  if (!existsSync(paths.state)) return undefined;
  const pids = readPids(dir);
  if (pids === undefined || pids.processes.length === 0 || !pids.processes.every(isRunning)) return undefined;
  return JSON.parse(readFileSync(paths.state, 'utf8')) as LabState;
}

export function readPids(dir: string): PidsFile | undefined {
  const file = labPaths(dir).pids;
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as PidsFile;
}

export function writeJson(file: string, value: unknown): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(temporary, file);
}

// ---- processes -------------------------------------------------------------------------------------------

/** The command line of a live process (arguments joined by spaces); undefined for a gone process or a zombie. */
export function commandLine(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (text === '') return undefined; // zombie (or kernel thread)
    return text.replace(/\0+$/, '').split('\0').join(' ');
  } catch {
    return undefined;
  }
}

/** Fields of /proc/<pid>/stat after the command name: [0] is the state (field 3), [19] the start time (field 22). */
function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

export function startTime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

export function parentPid(pid: number): number | undefined {
  const ppid = statFields(pid)?.[1];
  return ppid === undefined ? undefined : Number(ppid);
}

/** True when that very process still runs: same start time (if recorded), cmdline containing `match`, not a zombie. */
export function isRunning(proc: Pick<LabProcess, 'pid' | 'match' | 'startTime'>): boolean {
  const fields = statFields(proc.pid);
  if (fields === undefined || fields[0] === 'Z' || fields[0] === 'X') return false;
  if (proc.startTime !== undefined && fields[19] !== proc.startTime) return false;
  return commandLine(proc.pid)?.includes(proc.match) ?? false;
}

/** Parent pid → child pids of every process now. */
export function processTree(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = parentPid(Number(entry));
    if (ppid === undefined) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  return children;
}

/** Every live descendant of `pid` (children, grandchildren, …). */
export function descendants(pid: number, tree: Map<number, number[]> = processTree()): number[] {
  const out: number[] = [];
  const queue = [...(tree.get(pid) ?? [])];
  while (queue.length > 0) {
    const next = queue.shift() as number;
    out.push(next);
    queue.push(...(tree.get(next) ?? []));
  }
  return out;
}

/** Resident memory of one process in KiB (0 when gone). */
export function rssKiB(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** Resident memory of the recorded processes and everything they started (the BMCs' nova-computes included), MiB. */
export function labRssMiB(dir: string): number {
  const pids = readPids(dir);
  if (!pids) return 0;
  const all = new Set<number>();
  const tree = processTree();
  for (const proc of pids.processes) {
    if (!isRunning(proc)) continue;
    all.add(proc.pid);
    for (const child of descendants(proc.pid, tree)) all.add(child);
  }
  let kib = 0;
  for (const pid of all) kib += rssKiB(pid);
  return Math.round(kib / 1024);
}
