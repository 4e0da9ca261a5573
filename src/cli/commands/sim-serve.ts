import { readFileSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { createLogger } from '../../config/logger';
import { InputError } from '../../domain';
import { createDemoWorld } from '../../drivers/cloud/sim/demo-inventory';
import { DEFAULT_CREDENTIALS, startSimServer, type SimServer } from '../../drivers/cloud/sim/http/server';
import { DEFAULT_BMC_CREDENTIALS } from '../../drivers/cloud/sim/http/redfish';
import { createWorld } from '../../drivers/cloud/sim/inventory';
import type { SimWorld } from '../../drivers/cloud/sim/world';
import type { GlobalOptions } from '../connect';

export interface SimServeOptions extends GlobalOptions {
  readonly port?: string;
  readonly redfishPort?: string;
  readonly bind?: string;
  readonly seed?: string;
  readonly timeScale?: string;
  readonly serviceDownTime?: string;
  readonly inventory?: string;
  readonly cloudsYaml?: string;
  readonly logLevel?: string;
}

/**
 * `resurrect sim serve`: a simulated cloud (the demo world, or one from an inventory file) behind Keystone,
 * Nova, Glance and one Redfish BMC per host, on loopback, until SIGINT/SIGTERM. Prints the endpoints and a
 * clouds.yaml entry on stdout; logs go to stderr.
 */
export async function simServe(options: SimServeOptions, signals: NodeJS.EventEmitter = process): Promise<number> {
  const bind = options.bind ?? '127.0.0.1';
  if (bind !== '127.0.0.1' && bind !== 'localhost') {
    throw new InputError(`sim serve listens on loopback only (127.0.0.1), not ${bind}`, [{ path: 'bind', message: 'must be 127.0.0.1 or localhost' }]);
  }
  const port = integer('port', options.port ?? '0');
  const redfishPort = integer('redfish-port', options.redfishPort ?? '0');
  const seed = options.seed ?? '1';
  const timeScale = number('time-scale', options.timeScale ?? '1');
  const serviceDownTimeMs = number('service-down-time', options.serviceDownTime ?? '0') * 1000;
  const log = createLogger({ level: options.logLevel ?? 'info', destination: process.stderr });

  const worldOptions = { seed: /^\d+$/.test(seed) ? Number(seed) : seed, timeScale, serviceDownTimeMs };
  const inventory = options.inventory ?? 'demo';
  const world: SimWorld = inventory === 'demo' ? createDemoWorld(worldOptions) : createWorld(readInventory(inventory), worldOptions);

  let server: SimServer;
  try {
    server = await startSimServer({ world, port, redfishPort, log });
  } catch (error) {
    world.dispose();
    throw error;
  }
  const stopped = new Promise<string>((resolve) => {
    signals.once('SIGINT', () => resolve('SIGINT'));
    signals.once('SIGTERM', () => resolve('SIGTERM'));
  });

  const clouds = cloudsYaml(server);
  const out: string[] = [
    `Simulated cloud: ${world.hostNames().length} hosts, ${world.instanceIds().length} instances (inventory ${inventory}, seed ${seed}, time scale ${timeScale}), loopback only`,
    `auth URL     ${server.authUrl}   (user ${DEFAULT_CREDENTIALS.username} / ${DEFAULT_CREDENTIALS.password}, project ${DEFAULT_CREDENTIALS.project}, domain Default)`,
    `compute URL  ${server.computeUrl}   (microversions 2.1 to 2.95)`,
    `image URL    ${server.imageUrl}`,
    `Redfish URL  ${server.redfish.url}   (BMC of host H at ${server.redfish.systemsUri('H')}, user ${DEFAULT_BMC_CREDENTIALS.username} / ${DEFAULT_BMC_CREDENTIALS.password}, self-signed certificate)`,
    `control URL  ${server.controlUrl}   (no auth: POST /control, GET /counters, GET /state)`,
    '',
  ];
  if (options.cloudsYaml) {
    writeFileSync(options.cloudsYaml, clouds, { mode: 0o600 });
    out.push(`clouds.yaml entry "resurrect-sim" written to ${options.cloudsYaml}`);
  } else {
    out.push('# clouds.yaml', clouds.trimEnd());
  }
  out.push('', 'Serving; Ctrl-C (SIGINT) or SIGTERM stops.');
  process.stdout.write(`${out.join('\n')}\n`);

  const signal = await stopped;
  log.info({ signal }, 'stopping the simulated cloud');
  await server.close();
  world.dispose();
  return 0;
}

function cloudsYaml(server: SimServer): string {
  const c = DEFAULT_CREDENTIALS;
  return [
    'clouds:',
    '  resurrect-sim:',
    '    auth:',
    `      auth_url: ${server.authUrl}`,
    `      username: ${c.username}`,
    `      password: ${c.password}`,
    `      project_name: ${c.project}`,
    `      user_domain_name: ${c.userDomain ?? 'Default'}`,
    `      project_domain_name: ${c.projectDomain ?? 'Default'}`,
    '    auth_type: password',
    '    identity_api_version: 3',
    '    region_name: RegionOne',
    '    interface: public',
    '',
  ].join('\n');
}

function readInventory(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  const ext = extname(file).toLowerCase();
  try {
    return ext === '.json' ? (JSON.parse(text) as unknown) : (parseYaml(text) as unknown);
  } catch (error) {
    throw new InputError(`${file}: ${error instanceof Error ? error.message : String(error)}`, [{ path: 'inventory', message: 'not valid JSON/YAML' }]);
  }
}

function integer(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InputError(`--${name} must be a port number (0 = any free port), got ${text}`, [{ path: name, message: 'not a port' }]);
  return n;
}

function number(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) throw new InputError(`--${name} must be a number >= 0, got ${text}`, [{ path: name, message: 'not a non-negative number' }]);
  return n;
}
