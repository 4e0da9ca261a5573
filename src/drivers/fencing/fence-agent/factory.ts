/**
 * The `agents` fencing driver: a FencingTopology whose devices are installed fence agents (FenceAgentDevice)
 * and operators (ManualFenceDevice), configured per host (see config.ts). Everything is checked at creation,
 * before anything is fenced: each agent must be installed and describe itself (`action=metadata`), offer
 * `off` and `status`, and know every configured parameter; manual devices need the engine's Redis. One
 * RSR_CONFIG_INVALID lists every problem by host, level and device, never with a parameter's value.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock } from '../../../domain';
import { nonRetryable, ResurrectError } from '../../../domain';
import type { Keys } from '../../../engine/keys';
import type { DriverFactory } from '../../../plugins/api';
import { definePlugin } from '../../../plugins/api';
import { ManualFenceDevice } from '../manual/manual-fence-device';
import type { FenceDevice } from '../port';
import type { FenceLevels } from '../topology';
import { FencingTopology } from '../topology';
import type { AgentDeviceConfig, FenceAgentsConfig, LevelsConfig } from './config';
import { decodeFenceAgentsConfig, isManual } from './config';
import { FenceAgentDevice } from './fence-agent-device';
import type { AgentMetadata } from './metadata';
import { agentMetadata, defaultHostArgument, unknownParameters } from './metadata';

export interface AgentsFencingContext {
  readonly log: Logger;
  readonly clock: Clock;
  /** The engine's Redis and keys, for manual devices (the CLI confirms through them). */
  readonly redis?: Redis;
  readonly keys?: Keys;
}

export const DEFAULT_AGENT_TIMEOUT_MS = 20_000;
export const DEFAULT_MANUAL_TIMEOUT_MS = 90_000;
/** The topology's own bound sits above every device's, so a device's own (more telling) error wins. */
const TOPOLOGY_MARGIN_MS = 1_000;

const HOST_PLACEHOLDER = /\{host\}/g;
const fill = (text: string, host: string) => text.replace(HOST_PLACEHOLDER, host);

/** Builds the topology from `fencing.options`; throws RSR_CONFIG_INVALID on any problem. */
export async function createAgentsFencing(options: unknown, context: AgentsFencingContext): Promise<FencingTopology> {
  const config = decodeFenceAgentsConfig(options);
  const defaults = config.defaults ?? {};
  const metadata = await checkConfig(config, context);

  const timeouts: number[] = [];
  const eachDevice = (fn: (device: LevelsConfig[number][number]) => void) =>
    [...Object.values(config.hosts ?? {}), config.template ?? []].forEach((levels) => levels.forEach((level) => level.forEach(fn)));
  eachDevice((device) => timeouts.push(device.timeoutMs ?? (isManual(device) ? defaults.manualTimeoutMs ?? DEFAULT_MANUAL_TIMEOUT_MS : defaults.timeoutMs ?? DEFAULT_AGENT_TIMEOUT_MS)));

  const build = (host: string, levels: LevelsConfig): FenceLevels => {
    const ids = new Set<string>();
    return levels.map((level, i) => level.map((device, j): FenceDevice => {
      let id = device.id !== undefined ? fill(device.id, host) : isManual(device) ? `manual:${host}` : `${device.agent}:${host}`;
      if (ids.has(id)) id = `${id}:${i + 1}.${j + 1}`;
      ids.add(id);
      if (isManual(device)) {
        return new ManualFenceDevice({
          redis: context.redis as Redis,
          keys: context.keys as Keys,
          id,
          hosts: [host],
          timeoutMs: device.timeoutMs ?? defaults.manualTimeoutMs ?? DEFAULT_MANUAL_TIMEOUT_MS,
          pollIntervalMs: defaults.manualPollIntervalMs,
          requestTtlMs: defaults.manualRequestTtlMs,
          clock: context.clock,
          log: context.log,
        });
      }
      const meta = metadata.get(device.agent) as AgentMetadata;
      return new FenceAgentDevice({
        agent: device.agent,
        id,
        hosts: [host],
        parameters: Object.fromEntries(Object.entries(device.options ?? {}).map(([k, v]) => [k, typeof v === 'string' ? fill(v, host) : v])),
        hostArgument: device.hostArgument ?? defaultHostArgument(meta),
        ...(device.alias !== undefined ? { hostMap: { [host]: fill(device.alias, host) } } : {}),
        timeoutMs: device.timeoutMs ?? defaults.timeoutMs ?? DEFAULT_AGENT_TIMEOUT_MS,
        searchPath: defaults.searchPath,
        log: context.log,
      });
    }));
  };

  const perHost = new Map<string, FenceLevels>(Object.entries(config.hosts ?? {}).map(([host, levels]) => [host, build(host, levels)]));
  const template = config.template;
  return new FencingTopology({
    clock: context.clock,
    timeoutMs: Math.max(0, ...timeouts) + TOPOLOGY_MARGIN_MS,
    levels: (host) => {
      const known = perHost.get(host);
      if (known) return known;
      if (!template) return [];
      const levels = build(host, template);
      perHost.set(host, levels);
      return levels;
    },
  });
}

/** Every problem of the configuration, by host/level/device; resolves with the metadata of each agent. */
async function checkConfig(config: FenceAgentsConfig, context: AgentsFencingContext): Promise<Map<string, AgentMetadata>> {
  const entries: { where: string; levels: LevelsConfig }[] = [
    ...Object.entries(config.hosts ?? {}).map(([host, levels]) => ({ where: `host ${host}`, levels })),
    ...(config.template ? [{ where: 'template', levels: config.template }] : []),
  ];
  const searchPath = config.defaults?.searchPath;
  const metadata = new Map<string, AgentMetadata>();
  const agentProblems = new Map<string, string>();
  const agents = new Set<string>();
  for (const { levels } of entries) for (const level of levels) for (const device of level) if (!isManual(device)) agents.add(device.agent);
  for (const agent of agents) {
    try {
      metadata.set(agent, await agentMetadata(agent, { searchPath }));
    } catch (error) {
      agentProblems.set(agent, error instanceof ResurrectError ? error.message : String(error));
    }
  }

  const problems: string[] = [];
  for (const { where, levels } of entries) {
    levels.forEach((level, i) => level.forEach((device, j) => {
      const at = `${where} level ${i + 1} device ${j + 1}`;
      if (isManual(device)) {
        if (!context.redis || !context.keys) problems.push(`${at}: manual fencing needs the engine's Redis, which was not given to the fencing driver`);
        return;
      }
      const problem = agentProblems.get(device.agent);
      if (problem) return problems.push(`${at}: ${problem}`);
      problems.push(...deviceProblems(device, metadata.get(device.agent) as AgentMetadata).map((p) => `${at} (${device.agent}): ${p}`));
    }));
  }
  if (Object.keys(config.hosts ?? {}).length === 0 && !config.template) problems.push('no host and no template configured');
  if (problems.length > 0) {
    throw nonRetryable('RSR_CONFIG_INVALID', `invalid fencing configuration: ${problems.join('; ')}`, { details: { problems } });
  }
  return metadata;
}

function deviceProblems(device: AgentDeviceConfig, meta: AgentMetadata): string[] {
  const problems: string[] = [];
  const keys = Object.keys(device.options ?? {});
  for (const fixed of ['action', 'nodename']) if (keys.includes(fixed)) problems.push(`"${fixed}" is set by the fencer, not configured`);
  const unknown = unknownParameters(meta, keys.filter((k) => k !== 'action' && k !== 'nodename'));
  if (unknown.length > 0) problems.push(`unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}`);
  const missing = ['off', 'status'].filter((a) => !meta.actions.includes(a));
  if (missing.length > 0) problems.push(`the agent has no ${missing.join('/')} action (a level must power off and read the power back)`);
  if (device.hostArgument !== undefined && device.hostArgument !== 'none' && !meta.acceptedKeys.has(device.hostArgument)) {
    problems.push(`hostArgument "${device.hostArgument}" is not a parameter of the agent`);
  }
  return problems;
}

/** `fencing: {driver: agents}`. Manual devices use `context.redis`/`context.keys` when the engine passes them. */
export const fenceAgentsDriver: DriverFactory<FencingTopology> = {
  kind: 'fencing',
  name: 'agents',
  create: (config, context) => createAgentsFencing(config, context),
};

/** The driver as a plugin, for `buildApp({plugins})` or a plugin directory. */
export const fenceAgentsPlugin = definePlugin({
  name: 'fence-agents',
  description: 'Fencing through installed fence agents (fence_redfish, fence_ipmilan, …) and manual confirmation',
  drivers: [fenceAgentsDriver],
});
