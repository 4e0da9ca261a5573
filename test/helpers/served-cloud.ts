import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The BMC credentials the served simulator is started with in tests (and must never appear in a trace). */
export const BMC = { username: 'admin', password: 'bmc-Pa55' } as const;

export interface ServedCloudFiles {
  readonly dir: string;
  readonly configFile: string;
  /** What a `resurrect worker` process needs to join: Redis, the configuration, a runtime dir of its own. */
  readonly env: NodeJS.ProcessEnv;
}

/**
 * A `clouds.yaml` for the served simulator and a configuration that drives it as a real cloud: the OpenStack
 * driver through Keystone, and Debian's fence_redfish against its BMCs. `extra` is appended to the
 * configuration (policy, limits, params, worker settings…).
 */
export function servedCloudConfig(options: {
  readonly sim: { readonly authUrl: string; readonly redfish: { readonly port: number } };
  readonly prefix: string;
  readonly redisUrl: string;
  readonly extra?: string;
}): ServedCloudFiles {
  const dir = mkdtempSync(join(tmpdir(), 'rsr-served-'));
  const cloudsYaml = join(dir, 'clouds.yaml');
  writeFileSync(cloudsYaml, [
    'clouds:', '  sim:', '    region_name: RegionOne', '    auth:', `      auth_url: ${options.sim.authUrl}`,
    '      username: admin', '      password: secret', '      project_name: admin', '      user_domain_name: Default', '      project_domain_name: Default', '',
  ].join('\n'));
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, `
redis: { prefix: ${options.prefix} }
cloud: { driver: openstack, options: { cloudsYaml: ${cloudsYaml}, cloud: sim } }
fencing:
  driver: agents
  options:
    defaults: { timeoutMs: 15000 }
    template:
      - [ { agent: fence_redfish, options: { ip: 127.0.0.1, ipport: "${options.sim.redfish.port}", username: ${BMC.username}, password: ${BMC.password}, ssl_insecure: "1", systems_uri: "/redfish/v1/Systems/{host}" } } ]
${options.extra ?? ''}
`);
  return { dir, configFile, env: { ...process.env, REDIS_URL: options.redisUrl, RESURRECT_CONFIG: configFile, RESURRECT_RUNTIME_DIR: dir } };
}
