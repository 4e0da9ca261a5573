/**
 * `npm run lab:up`: configures and starts the whole lab on 127.0.0.1 from an empty directory, in stages,
 * timing each. Every daemon is recorded in pids.json the moment it is spawned. When a stage fails, the
 * output names the service, the command and the end of its log, and what was started is stopped again
 * (RESURRECT_LAB_KEEP_FAILED=1 leaves it running for a look; `npm run lab:down` stops it then).
 */
import { createSocket } from 'node:dgram';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import * as cfg from './configs';
import { stopLab } from './down';
import { ensureLabPackages } from './install';
import type { LabSettings, LabState } from './lab';
import {
  bmcPort, CLOUD_NAME, commandLine, CREDENTIALS, descendants, FLAVOR_NAME, IMAGE_NAME, isRunning, labPaths, labRssMiB,
  LOOPBACK, PORTS, readPids, REGION, SEGMENT_NAME, startTime, vmPort, writeJson,
} from './lab';
import type { Daemon } from './processes';
import { answersHttp, LabFailure, labEnv, recordProcess, refuseNewDaemons, runCommand, runStep, startDaemon, tail, TAIL_LINES, waitUntil } from './processes';
import { call, login, type Session } from './rest';
import { checkResurrectConfig } from './status';

const BIN_SOURCE = join(__dirname, 'bin');
const SHIMS = ['host-power', 'nova-compute', 'masakari-launch', 'taskflow-create-tables', 'neutron-stub.py'];
const PYTHON = '/usr/bin/python3';
const OPENSTACK_SERVICES = ['nova', 'placement', 'glance', 'masakari'] as const;

type Say = (line: string) => void;

/** What the stages learn and pass on. */
interface Run {
  readonly settings: LabSettings;
  readonly dir: string;
  readonly paths: ReturnType<typeof labPaths>;
  readonly say: Say;
  readonly log: (name: string) => string;
  admin?: Session;
  serviceProjectId?: string;
  imageId?: string;
  flavorId?: string;
  segmentId?: string;
}

/** Every port the lab listens on, with what uses it. */
export function labPorts(settings: LabSettings): { tcp: [number, string][]; udp: [number, string][] } {
  const tcp: [number, string][] = [
    [PORTS.mariadb, 'MariaDB'], [PORTS.epmd, 'epmd'], [PORTS.rabbitmq, 'RabbitMQ'], [PORTS.rabbitmqDist, 'RabbitMQ distribution'],
    [PORTS.keystone, 'Keystone'], [PORTS.placement, 'Placement'], [PORTS.nova, 'nova-api'], [PORTS.glance, 'Glance'],
    [PORTS.neutron, 'Neutron stub'],
    ...(settings.masakari ? [[PORTS.masakari, 'masakari-api'] as [number, string]] : []),
    ...settings.hosts.map((h): [number, string] => [vmPort(h), `BMC of ${h} (VM serial port)`]),
  ];
  const udp = settings.hosts.map((h): [number, string] => [bmcPort(h), `BMC of ${h} (IPMI)`]);
  return { tcp, udp };
}

function tcpFree(port: number, host: string = LOOPBACK): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    // Only "in use" counts as busy: a machine without IPv6 cannot bind [::1] at all, which is no conflict.
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code !== 'EADDRINUSE'));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** True when something accepts a TCP connection on the port. */
function tcpAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: LOOPBACK, port });
    socket.setTimeout(1_000, () => socket.destroy());
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind({ address: LOOPBACK, port, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

/** Ports already taken, as `TCP 8774 (nova-api)`. */
export async function busyPorts(settings: LabSettings): Promise<string[]> {
  const { tcp, udp } = labPorts(settings);
  const busy: string[] = [];
  for (const [port, what] of tcp) if (!(await tcpFree(port))) busy.push(`TCP ${LOOPBACK}:${port} (needed for ${what})`);
  for (const [port, what] of udp) if (!(await udpFree(port))) busy.push(`UDP ${LOOPBACK}:${port} (needed for ${what})`);
  // epmd also listens on [::1] when the machine has IPv6 loopback.
  if (!(await tcpFree(PORTS.epmd, '::1'))) busy.push(`TCP [::1]:${PORTS.epmd} (needed for epmd)`);
  return busy;
}

function idOf(user: string, flag: '-u' | '-g'): number {
  const result = spawnSync('id', [flag, user], { encoding: 'utf8' });
  if (result.status !== 0) throw new LabFailure('mariadb', `there is no "${user}" account (it comes with the mariadb-server package)`);
  return Number(result.stdout.trim());
}

function write(file: string, text: string, mode?: number): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
  if (mode !== undefined) chmodSync(file, mode);
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);

// ---- stages -------------------------------------------------------------------------------------------

async function mariadb(run: Run): Promise<void> {
  const { dir } = run;
  const myCnf = join(dir, 'my.cnf');
  write(myCnf, cfg.mariadbConfig(dir));
  const uid = idOf('mysql', '-u');
  const gid = idOf('mysql', '-g');
  chownSync(run.paths.run, uid, gid); // the socket and pid file
  const errorLog = join(run.paths.logs, 'mariadb.err');
  writeFileSync(errorLog, '');
  chownSync(errorLog, uid, gid);
  await runStep('mariadb', 'mariadb-install-db', [`--defaults-file=${myCnf}`, '--user=mysql', '--auth-root-authentication-method=socket'], { log: run.log('mariadb-install') });
  const daemon = startDaemon(dir, { name: 'mariadbd', command: '/usr/sbin/mariadbd', args: [`--defaults-file=${myCnf}`], log: run.log('mariadbd'), match: `--defaults-file=${myCnf}` });
  await waitUntil('mariadb', 'MariaDB to accept connections', async () => (await runCommand('mariadb', [`--defaults-file=${myCnf}`, '-e', 'SELECT 1'])).code === 0, {
    timeoutMs: 60_000, daemon, log: errorLog,
  });
  await runStep('mariadb', 'mariadb', [`--defaults-file=${myCnf}`], { input: cfg.mariadbSetupSql(), log: run.log('mariadb-setup') });
}

async function rabbitmq(run: Run): Promise<void> {
  const base = join(run.dir, 'rabbitmq');
  mkdirSync(join(base, 'mnesia'), { recursive: true });
  mkdirSync(join(base, 'log'), { recursive: true });
  write(join(base, 'enabled_plugins'), '[].\n');
  write(join(base, 'rabbitmq-env.conf'), '');
  write(join(base, 'rabbitmq.conf'), cfg.rabbitConfig());
  const env = labEnv(cfg.rabbitEnv(run.dir));
  // epmd in the foreground, started by us: left to erl, it would daemonize and its pid would be unknown.
  const epmd = startDaemon(run.dir, { name: 'epmd', command: '/usr/bin/epmd', args: ['-address', LOOPBACK, '-port', String(PORTS.epmd)], env, log: run.log('epmd'), match: `epmd -address ${LOOPBACK}` });
  // Probe by connecting: a probe that binds the port could win the race and make epmd quit (silently, exit 0).
  await waitUntil('rabbitmq', 'epmd to listen', () => tcpAnswers(PORTS.epmd), { timeoutMs: 10_000, daemon: epmd }).catch((error: unknown) => {
    if (error instanceof LabFailure && epmd.exited === 'exited with code 0') {
      throw new LabFailure('epmd', `${error.message}: epmd quits like that, without a word, when port ${PORTS.epmd} is taken (ss -ltnp 'sport = :${PORTS.epmd}')`, error.details);
    }
    throw error;
  });
  // The script in /usr/lib runs the node as whoever starts it; /usr/sbin/rabbitmq-server would su to rabbitmq.
  const server = startDaemon(run.dir, { name: 'rabbitmq-server', command: '/usr/lib/rabbitmq/bin/rabbitmq-server', args: [], env, log: run.log('rabbitmq'), match: 'rabbitmq-server' });
  // await_startup fails at once until the node has registered with epmd: ask again until it waits for real.
  await waitUntil('rabbitmq', 'the RabbitMQ node to start (rabbitmqctl await_startup)', async () =>
    (await runCommand('/usr/lib/rabbitmq/bin/rabbitmqctl', ['-q', '-t', '60', 'await_startup'], { env, timeoutMs: 70_000 })).code === 0, {
    timeoutMs: 90_000, intervalMs: 1_000, daemon: server, log: join(base, 'log', 'rabbit@localhost.log'),
  });
  const beam = descendants(server.pid).find((pid) => commandLine(pid)?.includes('beam.smp'));
  if (beam !== undefined) {
    recordProcess(run.dir, { name: 'rabbitmq-beam', pid: beam, match: base, startTime: startTime(beam), command: commandLine(beam)?.slice(0, 200) ?? 'beam.smp', log: run.log('rabbitmq') });
  }
  const ctl = '/usr/lib/rabbitmq/bin/rabbitmqctl';
  const { user, password } = CREDENTIALS.rabbitmq;
  await runStep('rabbitmq', ctl, ['-q', 'add_user', user, password], { env, log: run.log('rabbitmqctl') });
  await runStep('rabbitmq', ctl, ['-q', 'set_permissions', user, '.*', '.*', '.*'], { env, log: run.log('rabbitmqctl') });
}

/** A WSGI app under uwsgi on loopback. `Connection: close` because --http-socket drops idle connections that clients would reuse. */
function uwsgi(run: Run, name: string, port: number, wsgiFile: string, env: NodeJS.ProcessEnv): Daemon {
  return startDaemon(run.dir, {
    name,
    command: '/usr/bin/uwsgi',
    args: [
      '--plugin', 'python3', '--http-socket', `${LOOPBACK}:${port}`, '--wsgi-file', wsgiFile, '--master',
      '--processes', '2', '--threads', '2', '--die-on-term', '--lazy-apps', '--need-app', '--add-header', 'Connection: close',
    ],
    env: labEnv(env),
    log: run.log(`${name}-uwsgi`),
    match: `--http-socket ${LOOPBACK}:${port}`,
  });
}

async function keystone(run: Run): Promise<void> {
  const conf = join(run.paths.etc, 'keystone', 'keystone.conf');
  write(conf, cfg.keystoneConfig(run.dir));
  mkdirSync(join(run.dir, 'keystone', 'fernet-keys'), { recursive: true });
  mkdirSync(join(run.dir, 'keystone', 'credential-keys'), { recursive: true });
  const manage = (args: string[]) => runStep('keystone', 'keystone-manage', ['--config-file', conf, ...args], { log: run.log('keystone-manage') });
  await manage(['db_sync']);
  await manage(['fernet_setup', '--keystone-user', 'root', '--keystone-group', 'root']);
  await manage(['credential_setup', '--keystone-user', 'root', '--keystone-group', 'root']);
  const v3 = `${cfg.keystoneUrl}/v3/`;
  await manage([
    'bootstrap', '--bootstrap-password', CREDENTIALS.admin.password, '--bootstrap-region-id', REGION,
    '--bootstrap-admin-url', v3, '--bootstrap-internal-url', v3, '--bootstrap-public-url', v3,
  ]);
  const daemon = uwsgi(run, 'keystone', PORTS.keystone, '/usr/bin/keystone-wsgi-public', { OS_KEYSTONE_CONFIG_FILES: conf });
  await waitUntil('keystone', `Keystone on port ${PORTS.keystone}`, () => answersHttp(`${cfg.authUrl}`), { timeoutMs: 60_000, daemon });
  await catalog(run);
}

/** Service project, users and roles, services and endpoints, straight through Keystone's API. */
async function catalog(run: Run): Promise<void> {
  const log = join(run.paths.logs, 'keystone.log');
  const a = CREDENTIALS.admin;
  const admin = await login(cfg.authUrl, a.username, a.password, a.projectName, log);
  run.admin = admin;
  const api = (path: string, body?: unknown, method?: string) => call({ service: 'keystone', url: `${cfg.authUrl}${path}`, token: admin.token, body, method, log });
  const role = (await api('/roles?name=admin')).json.roles[0]?.id as string | undefined;
  if (!role) throw new LabFailure('keystone', 'Keystone has no "admin" role after bootstrap', { log });
  const project = (await api('/projects', { project: { name: CREDENTIALS.service.projectName, domain_id: 'default', description: 'OpenStack service users' } })).json.project.id as string;
  run.serviceProjectId = project;
  const users = OPENSTACK_SERVICES.filter((s) => s !== 'masakari' || run.settings.masakari);
  for (const name of users) {
    const user = (await api('/users', { user: { name, domain_id: 'default', password: CREDENTIALS.service.password } })).json.user.id as string;
    await api(`/projects/${project}/users/${user}/roles/${role}`, undefined, 'PUT');
  }
  const services: [string, string, string][] = [
    ['placement', 'placement', `http://${LOOPBACK}:${PORTS.placement}`],
    ['nova', 'compute', `http://${LOOPBACK}:${PORTS.nova}/v2.1`],
    ['glance', 'image', `http://${LOOPBACK}:${PORTS.glance}`],
    ['neutron', 'network', `http://${LOOPBACK}:${PORTS.neutron}`],
    ...(run.settings.masakari ? [['masakari', 'instance-ha', `http://${LOOPBACK}:${PORTS.masakari}/v1/%(tenant_id)s`] as [string, string, string]] : []),
  ];
  for (const [name, type, url] of services) {
    const service = (await api('/services', { service: { name, type, enabled: true } })).json.service.id as string;
    for (const iface of ['public', 'internal', 'admin']) {
      await api('/endpoints', { endpoint: { service_id: service, interface: iface, url, region_id: REGION, enabled: true } });
    }
  }
}

async function placement(run: Run): Promise<void> {
  const confDir = join(run.paths.etc, 'placement');
  const conf = join(confDir, 'placement.conf');
  write(conf, cfg.placementConfig(run.dir));
  await runStep('placement', 'placement-manage', ['--config-file', conf, 'db', 'sync'], { log: run.log('placement-manage') });
  const daemon = uwsgi(run, 'placement', PORTS.placement, '/usr/bin/placement-api', { OS_PLACEMENT_CONFIG_DIR: confDir });
  await waitUntil('placement', `Placement on port ${PORTS.placement}`, () => answersHttp(`http://${LOOPBACK}:${PORTS.placement}/`), { timeoutMs: 60_000, daemon });
}

async function glanceAndNeutron(run: Run): Promise<void> {
  const conf = join(run.paths.etc, 'glance', 'glance-api.conf');
  write(conf, cfg.glanceConfig(run.dir));
  for (const sub of ['images', 'staging', 'tasks']) mkdirSync(join(run.dir, 'glance', sub), { recursive: true });
  await runStep('glance', 'glance-manage', ['--config-file', conf, 'db_sync'], { log: run.log('glance-manage') });
  const glance = startDaemon(run.dir, { name: 'glance-api', command: '/usr/bin/glance-api', args: ['--config-file', conf], log: run.log('glance-api'), match: `glance-api --config-file ${conf}` });
  const stub = join(run.paths.bin, 'neutron-stub.py');
  const neutron = startDaemon(run.dir, { name: 'neutron-stub', command: PYTHON, args: [stub, String(PORTS.neutron)], log: run.log('neutron-stub'), match: stub });
  await waitUntil('glance', `Glance on port ${PORTS.glance}`, () => answersHttp(`http://${LOOPBACK}:${PORTS.glance}/versions`), { timeoutMs: 60_000, daemon: glance, log: join(run.paths.logs, 'glance-api.log') });
  await waitUntil('neutron-stub', `the Neutron stub on port ${PORTS.neutron}`, () => answersHttp(`http://${LOOPBACK}:${PORTS.neutron}/`), { timeoutMs: 30_000, daemon: neutron });

  // The fake driver never reads the image; Nova only checks it exists in Glance. 1 MiB of zeros.
  const token = (run.admin as Session).token;
  const log = join(run.paths.logs, 'glance-api.log');
  const images = `http://${LOOPBACK}:${PORTS.glance}/v2/images`;
  const image = (await call({ service: 'glance', url: images, token, log, body: { name: IMAGE_NAME, disk_format: 'raw', container_format: 'bare', visibility: 'public' } })).json.id as string;
  await call({ service: 'glance', method: 'PUT', url: `${images}/${image}/file`, token, log, raw: Buffer.alloc(1 << 20) });
  await waitUntil('glance', `image ${IMAGE_NAME} to become active`, async () => (await call({ service: 'glance', url: `${images}/${image}`, token, log })).json.status === 'active', {
    timeoutMs: 30_000, daemon: glance, log,
  });
  run.imageId = image;
}

async function novaControlPlane(run: Run): Promise<void> {
  const etc = join(run.paths.etc, 'nova');
  const novaConf = join(etc, 'nova.conf');
  const dbConf = join(etc, 'db.conf');
  write(novaConf, cfg.novaConfig(run.dir));
  write(dbConf, cfg.novaDbConfig());
  mkdirSync(join(run.dir, 'nova', 'state'), { recursive: true });
  mkdirSync(join(run.dir, 'nova', 'lock'), { recursive: true });
  const configs = ['--config-file', novaConf, '--config-file', dbConf];
  const manage = (args: string[]) => runStep('nova', 'nova-manage', [...configs, ...args], { log: run.log('nova-manage') });
  await manage(['api_db', 'sync']);
  await manage(['cell_v2', 'map_cell0', '--database_connection', cfg.dbUrl('nova_cell0')]);
  await manage(['cell_v2', 'create_cell', '--name=cell1', '--verbose']);
  await manage(['db', 'sync']);
  const daemons = ['api', 'conductor', 'scheduler'].map((part) =>
    startDaemon(run.dir, { name: `nova-${part}`, command: `/usr/bin/nova-${part}`, args: configs, log: run.log(`nova-${part}`), match: `nova-${part} --config-file ${novaConf}` }));
  await waitUntil('nova', `nova-api on port ${PORTS.nova}`, () => answersHttp(`http://${LOOPBACK}:${PORTS.nova}/`), {
    timeoutMs: 90_000, daemon: daemons[0], log: join(run.paths.logs, 'nova-api.log'),
  });
  for (const daemon of daemons.slice(1)) {
    if (daemon.exited) throw new LabFailure('nova', `${daemon.name} ${daemon.exited}`, { command: daemon.command, log: join(run.paths.logs, `${daemon.name}.log`) });
  }
}

async function computeHosts(run: Run): Promise<void> {
  const etc = join(run.paths.etc, 'nova');
  const bmcs: Daemon[] = [];
  for (const host of run.settings.hosts) {
    write(join(etc, `${host}.conf`), cfg.computeConfig(run.dir, host));
    mkdirSync(join(run.dir, 'nova', host, 'lock'), { recursive: true });
    const bmcDir = join(run.dir, 'bmc', host);
    mkdirSync(join(bmcDir, 'state'), { recursive: true });
    write(join(bmcDir, 'lan.conf'), cfg.bmcLanConfig(run.dir, host));
    write(join(bmcDir, 'bmc.emu'), cfg.bmcEmulation());
    // `startnow true`: the BMC powers its host on at once, which starts the host's nova-compute.
    bmcs.push(startDaemon(run.dir, {
      name: `ipmi_sim-${host}`,
      command: '/usr/bin/ipmi_sim',
      args: ['-c', join(bmcDir, 'lan.conf'), '-f', join(bmcDir, 'bmc.emu'), '-s', join(bmcDir, 'state'), '-n'],
      log: run.log(`ipmi_sim-${host}`),
      match: join(bmcDir, 'lan.conf'),
    }));
  }
  const admin = run.admin as Session;
  const nova = `http://${LOOPBACK}:${PORTS.nova}/v2.1`;
  let notUp: string[] = [...run.settings.hosts];
  await waitUntil('nova-compute', `the compute services of ${run.settings.hosts.join(', ')} to report up`, async () => {
    const services = (await call({ service: 'nova', url: `${nova}/os-services?binary=nova-compute`, token: admin.token })).json.services as { host: string; state: string }[];
    notUp = run.settings.hosts.filter((h) => !services.some((s) => s.host === h && s.state === 'up'));
    return notUp.length === 0;
  }, { timeoutMs: 120_000, intervalMs: 1_000, daemon: bmcs }).catch((error: unknown) => {
    if (!(error instanceof LabFailure) || notUp.length === 0 || error.message.includes('ipmi_sim')) throw error;
    const host = notUp[0] as string;
    throw new LabFailure(`nova-compute (${host})`, `${error.message}; not up: ${notUp.join(', ')}`, {
      command: `ipmi_sim startcmd: ${join(run.paths.bin, 'host-power')} ${host}`,
      log: existsSync(join(run.paths.logs, `nova-${host}.log`)) ? join(run.paths.logs, `nova-${host}.log`) : join(run.paths.logs, `nova-compute-${host}.out`),
      hint: `power log: ${tail(join(run.paths.logs, `power-${host}.log`), 5) || '(empty: the BMC never powered the host on)'}`,
    });
  });
  // nova-scheduler maps new hosts too (discover_hosts_in_cells_interval): when both map the same host at once,
  // the loser exits 2 with "Duplicate host mapping". The host is mapped then; a second run confirms the rest.
  const discover = ['--config-file', join(etc, 'nova.conf'), '--config-file', join(etc, 'db.conf'), 'cell_v2', 'discover_hosts', '--verbose'];
  let mapped = false;
  for (let attempt = 1; attempt <= 2 && !mapped; attempt++) {
    const result = await runCommand('nova-manage', discover, { log: run.log('nova-manage') });
    mapped = result.code === 0;
    if (!mapped && !result.output.includes('Duplicate host mapping')) break;
  }
  // One more run, failing the usual way (command, log tail) if it fails again.
  if (!mapped) await runStep('nova', 'nova-manage', discover, { log: run.log('nova-manage') });
  // Each compute registers its resource provider in Placement soon after it starts; boots need them.
  const placementUrl = `http://${LOOPBACK}:${PORTS.placement}/resource_providers`;
  await waitUntil('placement', `a resource provider per compute host in Placement`, async () => {
    const providers = (await call({ service: 'placement', url: placementUrl, token: admin.token })).json.resource_providers as { name: string }[];
    return run.settings.hosts.every((h) => providers.some((p) => p.name === h));
  }, { timeoutMs: 60_000, intervalMs: 1_000, log: join(run.paths.logs, 'placement.log') });
  const flavor = await call({ service: 'nova', url: `${nova}/flavors`, token: admin.token, body: { flavor: { name: FLAVOR_NAME, vcpus: 1, ram: 512, disk: 1 } }, log: join(run.paths.logs, 'nova-api.log') });
  run.flavorId = String(flavor.json.flavor.id);
  // The default quota (10 instances) is too small for the benchmarks.
  await call({ service: 'nova', method: 'PUT', url: `${nova}/os-quota-sets/${admin.projectId}`, token: admin.token, body: { quota_set: { instances: -1, cores: -1, ram: -1 } }, log: join(run.paths.logs, 'nova-api.log') });
}

async function masakari(run: Run): Promise<void> {
  const etc = join(run.paths.etc, 'masakari');
  const conf = join(etc, 'masakari.conf');
  const override = join(etc, 'db-sync-override.conf');
  write(conf, cfg.masakariConfig(run.dir, run.settings));
  write(override, cfg.masakariDbSyncOverride());
  mkdirSync(join(run.dir, 'masakari'), { recursive: true });
  await runStep('masakari', 'masakari-manage', ['--config-file', conf, '--config-file', override, 'db', 'sync'], { log: run.log('masakari-manage') });
  await runStep('masakari', PYTHON, [join(run.paths.bin, 'taskflow-create-tables'), cfg.dbUrl('masakari_taskflow')], { log: run.log('masakari-manage') });
  const launcher = join(run.paths.bin, 'masakari-launch');
  const daemons = (['api', 'engine'] as const).map((part) => startDaemon(run.dir, {
    name: `masakari-${part}`,
    command: PYTHON,
    args: [launcher, part, '--config-file', conf, '--log-file', join(run.paths.logs, `masakari-${part}.log`)],
    log: run.log(`masakari-${part}`),
    match: `masakari-launch ${part} --config-file ${conf}`,
  }));
  const apiLog = join(run.paths.logs, 'masakari-api.log');
  await waitUntil('masakari', `masakari-api on port ${PORTS.masakari}`, () => answersHttp(`http://${LOOPBACK}:${PORTS.masakari}/`), { timeoutMs: 60_000, daemon: daemons[0], log: apiLog });
  const admin = run.admin as Session;
  const base = `http://${LOOPBACK}:${PORTS.masakari}/v1/${admin.projectId}`;
  const segment = await call({
    service: 'masakari', url: `${base}/segments`, token: admin.token, log: apiLog,
    body: { segment: { name: SEGMENT_NAME, description: 'Resurrect lab', recovery_method: 'auto', service_type: 'COMPUTE' } },
  });
  const segmentId = segment.json.segment.uuid as string;
  for (const host of run.settings.hosts) {
    // Masakari host names must be the Nova service host names.
    await call({ service: 'masakari', url: `${base}/segments/${segmentId}/hosts`, token: admin.token, log: apiLog, body: { host: { name: host, type: 'COMPUTE', control_attributes: 'SSH' } } });
  }
  if (daemons[1]?.exited) throw new LabFailure('masakari', `masakari-engine ${daemons[1].exited}`, { command: daemons[1].command, log: join(run.paths.logs, 'masakari-engine.log') });
  run.segmentId = segmentId;
}

function writeClientFiles(run: Run): LabState {
  const { paths, settings } = run;
  write(paths.cloudsYaml, cfg.cloudsYaml());
  write(paths.resurrectConfig, cfg.resurrectConfig(run.dir, settings.hosts));
  const a = CREDENTIALS.admin;
  write(paths.adminRc, `# source me: admin credentials of the Resurrect lab for /usr/bin/openstack
export OS_AUTH_URL=${cfg.authUrl} OS_IDENTITY_API_VERSION=3 OS_REGION_NAME=${REGION}
export OS_USERNAME=${a.username} OS_PASSWORD=${a.password} OS_PROJECT_NAME=${a.projectName}
export OS_USER_DOMAIN_NAME=${a.userDomainName} OS_PROJECT_DOMAIN_NAME=${a.projectDomainName}
unset OS_CLOUD
`);
  const admin = run.admin as Session;
  const state: LabState = {
    version: 1,
    dir: run.dir,
    startedAt: new Date().toISOString(),
    region: REGION,
    authUrl: cfg.authUrl,
    admin: { ...a, projectId: admin.projectId },
    service: {
      projectName: CREDENTIALS.service.projectName,
      projectId: run.serviceProjectId as string,
      password: CREDENTIALS.service.password,
      users: OPENSTACK_SERVICES.filter((s) => s !== 'masakari' || settings.masakari),
    },
    endpoints: {
      keystone: cfg.authUrl,
      nova: `http://${LOOPBACK}:${PORTS.nova}/v2.1`,
      placement: `http://${LOOPBACK}:${PORTS.placement}`,
      glance: `http://${LOOPBACK}:${PORTS.glance}`,
      neutron: `http://${LOOPBACK}:${PORTS.neutron}`,
      ...(settings.masakari ? { masakari: `http://${LOOPBACK}:${PORTS.masakari}/v1` } : {}),
    },
    image: { id: run.imageId as string, name: IMAGE_NAME },
    flavor: { id: run.flavorId as string, name: FLAVOR_NAME },
    ...(run.segmentId ? { masakari: { segmentId: run.segmentId, segmentName: SEGMENT_NAME, waitAfterServiceUpdate: settings.masakariWait } } : {}),
    hosts: settings.hosts.map((name) => ({
      name,
      bmc: { address: LOOPBACK, port: bmcPort(name), username: CREDENTIALS.ipmi.username, password: CREDENTIALS.ipmi.password, fenceIpmilan: cfg.fenceIpmilanOptions(name) },
      computePidFile: paths.computePidFile(name),
      computeLog: join(paths.logs, `nova-${name}.log`),
    })),
    cloudsYaml: paths.cloudsYaml,
    cloudName: CLOUD_NAME,
    resurrectConfig: paths.resurrectConfig,
    adminRc: paths.adminRc,
    logs: paths.logs,
    nova: { reportIntervalSeconds: cfg.NOVA_REPORT_INTERVAL, serviceDownTimeSeconds: cfg.NOVA_SERVICE_DOWN_TIME },
  };
  writeJson(paths.state, state);
  return state;
}

// ---- orchestration -----------------------------------------------------------------------------------

/** Refuses a running lab or a foreign directory. Returns a refusal, or undefined when `up` may go on. */
function checkDirectory(settings: LabSettings): string | undefined {
  const paths = labPaths(settings.dir);
  const pids = existsSync(paths.pids) ? readPids(settings.dir) : undefined;
  const alive = pids?.processes.filter(isRunning) ?? [];
  if (alive.length > 0) {
    return `${settings.dir} already holds a running lab (${alive.length} of its processes run: ${alive.map((p) => p.name).join(', ')}); stop it first: npm run lab:down`;
  }
  if (existsSync(settings.dir) && readdirSync(settings.dir).length > 0) {
    if (!existsSync(paths.marker)) {
      return `${settings.dir} exists and is not a lab directory (no .resurrect-lab in it): choose another RESURRECT_LAB or empty it`;
    }
  }
  return undefined;
}

function printFailure(failure: unknown, stage: string, say: Say): void {
  if (!(failure instanceof LabFailure)) {
    say(`\nFAILED in stage "${stage}": ${failure instanceof Error ? failure.stack ?? failure.message : String(failure)}`);
    return;
  }
  say(`\nFAILED in stage "${stage}": ${failure.service}`);
  say(`  what:    ${failure.message}`);
  if (failure.details.command) say(`  command: ${failure.details.command}`);
  if (failure.details.hint) say(`  ${failure.details.hint.split('\n').join('\n  ')}`);
  if (failure.details.log) {
    const lines = tail(failure.details.log);
    say(`  log:     ${failure.details.log}${lines ? ` (last ${TAIL_LINES} lines)` : ' (empty)'}`);
    if (lines) say(lines.split('\n').map((l) => `    | ${l}`).join('\n'));
  }
}

export async function up(settings: LabSettings, say: Say = (line) => process.stdout.write(`${line}\n`)): Promise<number> {
  const t0 = Date.now();
  const stamp = () => new Date().toISOString().slice(11, 19);
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    say('the lab runs as root on Linux (Debian 12): MariaDB, RabbitMQ and the BMCs are started as root');
    return 1;
  }
  const refusal = checkDirectory(settings);
  if (refusal) {
    say(`lab:up refused: ${refusal}`);
    return 1;
  }
  const busy = await busyPorts(settings);
  if (busy.length > 0) {
    say(`lab:up refused: port${busy.length > 1 ? 's' : ''} already in use: ${busy.join('; ')}. The lab needs them on ${LOOPBACK}; stop what holds them (ss -ltnup shows it).`);
    return 1;
  }
  if (existsSync(settings.dir) && readdirSync(settings.dir).length > 0) {
    say(`removing the stopped lab's old state in ${settings.dir}`);
    rmSync(settings.dir, { recursive: true, force: true });
  }

  const paths = labPaths(settings.dir);
  const run: Run = { settings, dir: settings.dir, paths, say, log: (name) => join(paths.logs, `${name}.out`) };
  const stages: [string, (run: Run) => Promise<void>][] = [
    ['Debian packages', async () => {
      const result = await ensureLabPackages(process.env, say);
      if (result.installed.length > 0) say(`   installed in ${result.seconds.toFixed(0)} s`);
    }],
    ['lab directory', async () => {
      for (const d of [paths.dir, paths.logs, paths.run, paths.bin, paths.etc]) mkdirSync(d, { recursive: true });
      writeFileSync(paths.marker, 'Resurrect OpenStack lab (test/lab); npm run lab:down [-- --wipe]\n');
      for (const shim of SHIMS) {
        copyFileSync(join(BIN_SOURCE, shim), join(paths.bin, shim));
        chmodSync(join(paths.bin, shim), 0o755);
      }
      writeJson(paths.pids, { dir: settings.dir, processes: [] });
    }],
    ['MariaDB', mariadb],
    ['RabbitMQ', rabbitmq],
    ['Keystone', keystone],
    ['Placement', placement],
    ['Glance + Neutron stub', glanceAndNeutron],
    ['Nova control plane', novaControlPlane],
    [`BMCs + compute hosts (${settings.hosts.join(', ')})`, computeHosts],
    ...(settings.masakari ? [['Masakari', masakari] as [string, (run: Run) => Promise<void>]] : []),
    ['client files + Resurrect config check', async () => {
      writeClientFiles(run);
      const lines = await checkResurrectConfig(settings.dir, settings.hosts);
      for (const line of lines) say(`   ${line}`);
    }],
  ];

  let current = 'start';
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    refuseNewDaemons();
    say(`\n${signal} during stage "${current}": stopping what was started`);
    void stopLab(settings.dir, { say }).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const timings: [string, number][] = [];
  try {
    for (const [name, stage] of stages) {
      current = name;
      const started = Date.now();
      say(`${stamp()} == ${name}`);
      await stage(run);
      timings.push([name, Date.now() - started]);
      say(`${stamp()}    ${name}: ${seconds(Date.now() - started)} s`);
    }
  } catch (failure) {
    if (interrupted) return 130;
    printFailure(failure, current, say);
    if (process.env.RESURRECT_LAB_KEEP_FAILED === '1') {
      say(`\nthe processes started so far are left running (RESURRECT_LAB_KEEP_FAILED=1); stop them with: npm run lab:down`);
    } else if (existsSync(paths.pids)) {
      say(`\nstopping what was started (logs stay in ${paths.logs}; npm run lab:down -- --wipe removes everything):`);
      await stopLab(settings.dir, { say });
    }
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  await sleep(500);
  say(`\nlab up in ${seconds(Date.now() - t0)} s (${LOOPBACK} only) — ${timings.map(([n, ms]) => `${n.split(' (')[0]} ${seconds(ms)}`).join(', ')}`);
  for (const host of settings.hosts) {
    const pidFile = paths.computePidFile(host);
    const pid = existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() : '?';
    say(`  ${host}: nova-compute pid ${pid}, BMC udp ${LOOPBACK}:${bmcPort(host)} (fence_ipmilan -a ${LOOPBACK} -u ${bmcPort(host)} -l ${CREDENTIALS.ipmi.username} -p ${CREDENTIALS.ipmi.password} -P -C 3)`);
  }
  say(`  processes: ${readPids(settings.dir)?.processes.length ?? 0} recorded in ${paths.pids}; resident memory ${labRssMiB(settings.dir)} MiB`);
  say(`  state for tests: ${paths.state}`);
  say(`  openstack CLI:   source ${paths.adminRc}; /usr/bin/openstack compute service list`);
  say(`  Resurrect:       ${paths.resurrectConfig} (cloud ${CLOUD_NAME} in ${paths.cloudsYaml})`);
  say(`  stop:            npm run lab:down [-- --wipe]`);
  return 0;
}
