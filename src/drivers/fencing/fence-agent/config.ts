/**
 * Configuration of the `agents` fencing driver (`fencing: {driver: agents, options: …}`): per host, levels
 * in order (Pacemaker's fencing-topology), each level a list of devices that must all power off; a device is
 * a fence agent with its parameters, or manual (an operator confirms). Example:
 *
 *   fencing:
 *     driver: agents
 *     options:
 *       defaults: { timeoutMs: 20000, manualTimeoutMs: 90000 }
 *       hosts:
 *         compute-1:
 *           - [ { agent: fence_redfish, options: { ip: 10.0.0.11, ipport: 443, username: admin, password: secret,
 *                 ssl_insecure: "1", systems_uri: /redfish/v1/Systems/1 } } ]     # level 1
 *           - [ { manual: true } ]                                                # level 2
 *       # every other host: the same levels with "{host}" replaced by its name
 *       template:
 *         - [ { agent: fence_ipmilan, options: { ip: "{host}-ipmi.example.net", username: admin, password: secret, lanplus: "1" } } ]
 *
 * Strings may carry `{host}`, replaced by the host's name (ids, parameter values, host aliases).
 */
import * as t from 'io-ts';
import { decodeOrThrow, InputError, unknownKeys } from '../../../domain';

const Scalar = t.union([t.string, t.number, t.boolean], 'string | number | boolean');

export const AgentDeviceConfig = t.intersection([
  t.type({ agent: t.string }),
  t.partial({
    id: t.string,
    /** Device parameters sent on stdin (`ip`, `username`, `password`, `systems_uri`, `lanplus`, …). */
    options: t.record(t.string, Scalar),
    /** pcmk_host_argument: `plug`, `port`, another parameter, or `none`. Default: from the agent's metadata. */
    hostArgument: t.string,
    /** pcmk_host_map for this host: the name the device knows it by. */
    alias: t.string,
    timeoutMs: t.number,
  }),
], 'AgentDevice');
export type AgentDeviceConfig = t.TypeOf<typeof AgentDeviceConfig>;

export const ManualDeviceConfig = t.intersection([
  t.type({ manual: t.literal(true) }),
  t.partial({ id: t.string, timeoutMs: t.number }),
], 'ManualDevice');
export type ManualDeviceConfig = t.TypeOf<typeof ManualDeviceConfig>;

export const DeviceConfig = t.union([AgentDeviceConfig, ManualDeviceConfig], 'Device');
export type DeviceConfig = t.TypeOf<typeof DeviceConfig>;

/** Levels in order; each level the devices that must all power off. */
export const LevelsConfig = t.array(t.array(DeviceConfig, 'Level'), 'Levels');
export type LevelsConfig = t.TypeOf<typeof LevelsConfig>;

export const FenceAgentsDefaults = t.partial({
  /** Bound on each agent call (its process group is killed after it). Default 20 s. */
  timeoutMs: t.number,
  /** How long a manual device waits for the operator per attempt. Default 90 s. */
  manualTimeoutMs: t.number,
  /** How often a manual device looks for the confirmation. Default 1 s. */
  manualPollIntervalMs: t.number,
  /** A manual request older than this no longer counts. Default 30 min. */
  manualRequestTtlMs: t.number,
  /** Directories searched for agents before /usr/sbin (default: $PATH). */
  searchPath: t.string,
}, 'FenceAgentsDefaults');

export const FenceAgentsConfig = t.partial({
  defaults: FenceAgentsDefaults,
  hosts: t.record(t.string, LevelsConfig),
  template: LevelsConfig,
}, 'FenceAgentsConfig');
export type FenceAgentsConfig = t.TypeOf<typeof FenceAgentsConfig>;

export const isManual = (device: DeviceConfig): device is ManualDeviceConfig => 'manual' in device && device.manual === true;

/**
 * Decodes `fencing.options` for the agents driver; RSR_CONFIG_INVALID naming every bad path, unknown keys
 * included (a typo such as `agnet:` is refused, not ignored). Option values are never part of a message.
 */
export function decodeFenceAgentsConfig(value: unknown): FenceAgentsConfig {
  let config: FenceAgentsConfig;
  try {
    config = decodeOrThrow(FenceAgentsConfig, value, 'fencing.options');
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    // io-ts messages quote the offending value (", got {...}"): a device object would put its password in it.
    const paths = error.paths.map((p) => ({ path: `fencing.options.${p.path}`, message: p.message.replace(/, got [\s\S]*$/, '') }));
    throw new InputError(`invalid fencing configuration: ${paths.map((p) => `${p.path}: ${p.message}`).join('; ')}`, paths, 'RSR_CONFIG_INVALID');
  }
  const stray: string[] = [];
  const addStray = (codec: t.Mixed, object: unknown, path: string) => stray.push(...unknownKeys(codec, object).map((k) => `${path}.${k}`));
  addStray(FenceAgentsConfig, config, 'fencing.options');
  if (config.defaults) addStray(FenceAgentsDefaults, config.defaults, 'fencing.options.defaults');
  const levels: [string, LevelsConfig][] = [
    ...Object.entries(config.hosts ?? {}).map(([host, l]) => [`fencing.options.hosts.${host}`, l] as [string, LevelsConfig]),
    ...(config.template ? [['fencing.options.template', config.template] as [string, LevelsConfig]] : []),
  ];
  const empty: string[] = [];
  for (const [path, list] of levels) {
    list.forEach((level, i) => {
      if (level.length === 0) empty.push(`${path}[${i}]`);
      level.forEach((device, j) => addStray(isManual(device) ? ManualDeviceConfig : AgentDeviceConfig, device, `${path}[${i}][${j}]`));
    });
  }
  const problems = [
    ...stray.map((path) => ({ path, message: 'unknown key' })),
    ...empty.map((path) => ({ path, message: 'a level needs at least one device' })),
  ];
  if (problems.length > 0) {
    throw new InputError(`invalid fencing configuration: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems, 'RSR_CONFIG_INVALID');
  }
  return config;
}
