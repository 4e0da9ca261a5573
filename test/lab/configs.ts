/**
 * The text of every configuration file the lab writes. Kept apart from the orchestration so the settings that
 * matter (and why) can be read in one place; docs/lab.md explains the traps they avoid.
 */
import { join } from 'node:path';
import YAML from 'yaml';
import type { LabSettings } from './lab';
import { bmcPort, CLOUD_NAME, CREDENTIALS, LOOPBACK, PORTS, REGION, vmPort } from './lab';

/** Nova heartbeat and "down" threshold (defaults 10 and 60 s): a dead compute is seen down within ~20 s. */
export const NOVA_REPORT_INTERVAL = 5;
export const NOVA_SERVICE_DOWN_TIME = 20;

export const keystoneUrl = `http://${LOOPBACK}:${PORTS.keystone}`;
export const authUrl = `${keystoneUrl}/v3`;
export const dbUrl = (database: string) => `mysql+pymysql://${CREDENTIALS.db.user}:${CREDENTIALS.db.password}@${LOOPBACK}:${PORTS.mariadb}/${database}`;
export const transportUrl = `rabbit://${CREDENTIALS.rabbitmq.user}:${CREDENTIALS.rabbitmq.password}@${LOOPBACK}:${PORTS.rabbitmq}/`;

export const DATABASES = ['keystone', 'placement', 'glance', 'nova_api', 'nova', 'nova_cell0', 'masakari', 'masakari_taskflow'] as const;

/** An oslo.config file from sections of key → value (section order kept; `''` sections skipped). */
function ini(sections: Record<string, Record<string, string | number | boolean | undefined>>): string {
  return Object.entries(sections)
    .map(([section, entries]) => {
      const lines = Object.entries(entries).filter(([, v]) => v !== undefined).map(([k, v]) => `${k} = ${String(v)}`);
      return `[${section}]\n${lines.join('\n')}\n`;
    })
    .join('\n');
}

/** keystonemiddleware / keystoneauth password options for a service user. */
function serviceAuth(user: string): Record<string, string> {
  return {
    www_authenticate_uri: `${keystoneUrl}/`,
    auth_url: authUrl,
    auth_type: 'password',
    project_domain_name: 'Default',
    user_domain_name: 'Default',
    project_name: CREDENTIALS.service.projectName,
    username: user,
    password: CREDENTIALS.service.password,
    region_name: REGION,
  };
}

export function mariadbConfig(dir: string): string {
  return `[mysqld]
datadir=${join(dir, 'mariadb')}
socket=${join(dir, 'run', 'mysqld.sock')}
pid-file=${join(dir, 'run', 'mysqld.pid')}
bind-address=${LOOPBACK}
port=${PORTS.mariadb}
user=mysql
max_connections=500
innodb_buffer_pool_size=128M
innodb_log_file_size=32M
skip-name-resolve
log-error=${join(dir, 'logs', 'mariadb.err')}

[client]
socket=${join(dir, 'run', 'mysqld.sock')}
`;
}

export function mariadbSetupSql(): string {
  const { user, password } = CREDENTIALS.db;
  return `${DATABASES.map((d) => `CREATE DATABASE ${d};`).join('\n')}
CREATE USER '${user}'@'${LOOPBACK}' IDENTIFIED BY '${password}';
GRANT ALL PRIVILEGES ON *.* TO '${user}'@'${LOOPBACK}';
FLUSH PRIVILEGES;
`;
}

/** RabbitMQ run as root from its own directory: the node, epmd and the distribution port on loopback only. */
export function rabbitEnv(dir: string): NodeJS.ProcessEnv {
  const base = join(dir, 'rabbitmq');
  const loopbackDist = '-kernel inet_dist_use_interface {127,0,0,1}';
  return {
    HOME: base, // the Erlang cookie lives here
    RABBITMQ_NODENAME: 'rabbit@localhost',
    RABBITMQ_NODE_IP_ADDRESS: LOOPBACK,
    RABBITMQ_NODE_PORT: String(PORTS.rabbitmq),
    RABBITMQ_DIST_PORT: String(PORTS.rabbitmqDist),
    ERL_EPMD_ADDRESS: LOOPBACK,
    ERL_EPMD_PORT: String(PORTS.epmd),
    RABBITMQ_MNESIA_BASE: join(base, 'mnesia'),
    RABBITMQ_LOG_BASE: join(base, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(base, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: join(base, 'rabbitmq'),
    RABBITMQ_CONF_ENV_FILE: join(base, 'rabbitmq-env.conf'),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: loopbackDist,
    RABBITMQ_CTL_ERL_ARGS: loopbackDist,
  };
}

export const rabbitConfig = (): string => `listeners.tcp.default = ${LOOPBACK}:${PORTS.rabbitmq}\nloopback_users = none\n`;

export function keystoneConfig(dir: string): string {
  return ini({
    DEFAULT: { log_dir: join(dir, 'logs'), log_file: 'keystone.log' },
    database: { connection: dbUrl('keystone') },
    token: { provider: 'fernet', expiration: 86_400 },
    fernet_tokens: { key_repository: join(dir, 'keystone', 'fernet-keys') },
    credential: { key_repository: join(dir, 'keystone', 'credential-keys') },
  });
}

export function placementConfig(dir: string): string {
  return ini({
    DEFAULT: { log_dir: join(dir, 'logs'), log_file: 'placement.log' },
    placement_database: { connection: dbUrl('placement') },
    api: { auth_strategy: 'keystone' },
    keystone_authtoken: serviceAuth('placement'),
  });
}

export function glanceConfig(dir: string): string {
  const store = join(dir, 'glance');
  return ini({
    DEFAULT: { bind_host: LOOPBACK, bind_port: PORTS.glance, workers: 1, log_dir: join(dir, 'logs'), log_file: 'glance-api.log', enabled_backends: 'fs:file' },
    database: { connection: dbUrl('glance') },
    glance_store: { default_backend: 'fs' },
    fs: { filesystem_store_datadir: join(store, 'images') },
    os_glance_staging_store: { filesystem_store_datadir: join(store, 'staging') },
    os_glance_tasks_store: { filesystem_store_datadir: join(store, 'tasks') },
    keystone_authtoken: serviceAuth('glance'),
    paste_deploy: { flavor: 'keystone', config_file: '/etc/glance/glance-api-paste.ini' },
    oslo_concurrency: { lock_path: store },
  });
}

/** Shared by every Nova process. No database here: nova-compute must not see one (see novaDbConfig). */
export function novaConfig(dir: string): string {
  return ini({
    DEFAULT: {
      log_dir: join(dir, 'logs'),
      state_path: join(dir, 'nova', 'state'),
      transport_url: transportUrl,
      my_ip: LOOPBACK,
      host: 'controller',
      enabled_apis: 'osapi_compute',
      osapi_compute_listen: LOOPBACK,
      osapi_compute_listen_port: PORTS.nova,
      osapi_compute_workers: 1,
      report_interval: NOVA_REPORT_INTERVAL,
      service_down_time: NOVA_SERVICE_DOWN_TIME,
    },
    api: { auth_strategy: 'keystone' },
    keystone_authtoken: serviceAuth('nova'),
    placement: serviceAuth('placement'),
    neutron: serviceAuth('nova'),
    glance: { region_name: REGION },
    conductor: { workers: 1 },
    scheduler: { workers: 1, discover_hosts_in_cells_interval: 10 },
    wsgi: { api_paste_config: '/etc/nova/api-paste.ini' },
    oslo_concurrency: { lock_path: join(dir, 'nova', 'lock') },
    vnc: { enabled: false },
    oslo_messaging_notifications: { driver: 'noop' },
  });
}

/** Only the control plane reads this: nova-compute with a [database] logs "No DB access allowed in nova-compute". */
export function novaDbConfig(): string {
  return ini({ api_database: { connection: dbUrl('nova_api') }, database: { connection: dbUrl('nova') } });
}

/** A compute host's overlay on nova.conf: its name (FakeDriver names its node after it), own state and log. */
export function computeConfig(dir: string, host: string): string {
  return ini({
    DEFAULT: { host, compute_driver: 'fake.FakeDriver', state_path: join(dir, 'nova', host), log_file: `nova-${host}.log` },
    oslo_concurrency: { lock_path: join(dir, 'nova', host, 'lock') },
  });
}

/**
 * ipmi_sim's LAN configuration for one host. The channel-15 "VM" serial line is what lets the BMC switch power
 * at all (without it every power command is refused as "Invalid data field"); `startcmd` is the machine.
 * `kill_wait 0`: ipmi_sim never SIGKILLs the machine; its own SIGTERM handler cuts the power at once, or, with a
 * stuck-BMC fault injected, ignores one power-off so that the BMC keeps reading "on" (bin/host-power).
 */
export function bmcLanConfig(dir: string, host: string): string {
  const { username, password } = CREDENTIALS.ipmi;
  const auths = 'none md2 md5 straight';
  const n = host.slice(host.lastIndexOf('-') + 1);
  return `name "bmc-${host}"
set_working_mc 0x20
  startlan 1
    addr ${LOOPBACK} ${bmcPort(host)}
    priv_limit admin
    allowed_auths_callback ${auths}
    allowed_auths_user ${auths}
    allowed_auths_operator ${auths}
    allowed_auths_admin ${auths}
    guid 5245535552524543544c4142484f535${n}
  endlan
  serial 15 ${LOOPBACK} ${vmPort(host)} codec VM
  startcmd "env RESURRECT_LAB=${dir} /bin/bash ${join(dir, 'bin', 'host-power')} ${host}"
  startnow true
  poweroff_wait 1
  kill_wait 0
  user 1 true "" "unused" user 10 ${auths}
  user 2 true "${username}" "${password}" admin 10 ${auths}
`;
}

/** The BMC's management controller: one BMC at 0x20 with a system event log. */
export const bmcEmulation = (): string => `mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02
sel_enable 0x20 1000 0x0a
mc_enable 0x20
`;

export function masakariConfig(dir: string, settings: LabSettings): string {
  return ini({
    DEFAULT: {
      log_dir: join(dir, 'logs'),
      transport_url: transportUrl,
      auth_strategy: 'keystone',
      masakari_api_listen: LOOPBACK,
      masakari_api_listen_port: PORTS.masakari,
      masakari_api_workers: 1,
      host: 'controller',
      os_privileged_user_name: 'nova',
      os_privileged_user_password: CREDENTIALS.service.password,
      os_privileged_user_tenant: CREDENTIALS.service.projectName,
      os_privileged_user_auth_url: authUrl,
      os_user_domain_name: 'Default',
      os_project_domain_name: 'Default',
      os_region_name: REGION,
      nova_catalog_admin_info: 'compute:nova:publicURL',
      wait_period_after_service_update: settings.masakariWait,
      duplicate_notification_detection_interval: 30,
    },
    wsgi: { api_paste_config: '/etc/masakari/api-paste.ini' },
    database: { connection: dbUrl('masakari') },
    taskflow: { connection: dbUrl('masakari_taskflow') },
    keystone_authtoken: serviceAuth('masakari'),
    host_failure: { evacuate_all_instances: 'True' },
    oslo_concurrency: { lock_path: join(dir, 'masakari') },
  });
}

/** Laid over masakari.conf for `db sync` only: its taskflow migration needs alembic files Debian does not ship. */
export const masakariDbSyncOverride = (): string => ini({ taskflow: { connection: 'memory://' } });

/** clouds.yaml for our OpenStack driver (and the openstack CLI): the admin account. */
export function cloudsYaml(): string {
  const a = CREDENTIALS.admin;
  return `# The Resurrect lab's cloud, for the OpenStack driver (cloud.options.cloudsYaml) and for
#   OS_CLIENT_CONFIG_FILE=<this file> OS_CLOUD=${CLOUD_NAME} /usr/bin/openstack …
${YAML.stringify({
  clouds: {
    [CLOUD_NAME]: {
      region_name: REGION,
      interface: 'public',
      identity_api_version: '3',
      auth: {
        auth_url: authUrl,
        username: a.username,
        password: a.password,
        project_name: a.projectName,
        user_domain_name: a.userDomainName,
        project_domain_name: a.projectDomainName,
      },
    },
  },
})}`;
}

/** fence_ipmilan's options for a lab BMC: lanplus with cipher suite 3 (any other costs ~10 s per call or fails). */
export function fenceIpmilanOptions(host: string): Record<string, string> {
  return {
    ip: LOOPBACK,
    ipport: String(bmcPort(host)),
    username: CREDENTIALS.ipmi.username,
    password: CREDENTIALS.ipmi.password,
    lanplus: '1',
    cipher: '3',
    power_wait: '0',
  };
}

/** A Resurrect configuration for the lab: the OpenStack driver on clouds.yaml, fence_ipmilan per host. */
export function resurrectConfig(dir: string, hosts: readonly string[]): string {
  const config = {
    cloud: { driver: 'openstack', options: { cloud: CLOUD_NAME, cloudsYaml: join(dir, 'clouds.yaml') } },
    fencing: {
      driver: 'agents',
      options: {
        defaults: { timeoutMs: 20_000 },
        hosts: Object.fromEntries(hosts.map((host) => [host, [[{ agent: 'fence_ipmilan', hostArgument: 'none', options: fenceIpmilanOptions(host) }]]])),
      },
    },
    // The default window leads report_interval by 2 s (12 over 10): the same lead here.
    params: { livenessWaitSeconds: NOVA_REPORT_INTERVAL + 2 },
  };
  // One line per fencing level, as docs/deployment.md writes them.
  const doc = new YAML.Document(config);
  for (const host of hosts) {
    const levels = doc.getIn(['fencing', 'options', 'hosts', host]) as YAML.YAMLSeq;
    for (const level of levels.items) (level as YAML.YAMLSeq).flow = true;
  }
  return `# Resurrect configuration for the lab in ${dir} (written by npm run lab:up).
# cloud: the lab's Keystone/Nova through clouds.yaml; fencing: each host's ipmi_sim BMC through fence_ipmilan
# (powering a host off SIGKILLs its nova-compute). The lab's computes heartbeat every ${NOVA_REPORT_INTERVAL} s, hence
# the shorter liveness wait after a fence. Run: resurrect start -c ${join(dir, 'resurrect.yaml')}
${doc.toString({ lineWidth: 0 })}`;
}
