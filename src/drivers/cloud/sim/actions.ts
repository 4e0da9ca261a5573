/**
 * The names every sim call is known by: latency tables, concurrency limits, `api-error` faults and the call
 * counters all key on them. Cloud actions are the CloudDriver method names, so a fault or a counter reads
 * the same as the code that triggers it.
 */
export const CLOUD_ACTIONS = [
  'listHosts',
  'getService',
  'setServiceForcedDown',
  'setServiceEnabled',
  'listInstances',
  'getInstance',
  'imageExists',
  'evacuate',
  'liveMigrate',
  'startInstance',
  'stopInstance',
  'rebootInstance',
  'listMigrations',
  'listEvacuations',
  // Nova API calls beyond the CloudDriver port, for the served sim (os-resetState, os-instance-actions).
  'resetState',
  'listInstanceActions',
] as const;
export type CloudAction = (typeof CLOUD_ACTIONS)[number];

/** Out-of-band power devices: each host has a BMC and a PDU outlet. */
export const POWER_DEVICE_KINDS = ['bmc', 'pdu'] as const;
export type PowerDeviceKind = (typeof POWER_DEVICE_KINDS)[number];

export const DEVICE_ACTIONS = ['bmc.off', 'bmc.on', 'bmc.status', 'pdu.off', 'pdu.on', 'pdu.status'] as const;
export type DeviceAction = (typeof DEVICE_ACTIONS)[number];

export type SimAction = CloudAction | DeviceAction;
export const SIM_ACTIONS: readonly SimAction[] = [...CLOUD_ACTIONS, ...DEVICE_ACTIONS];

const READS = new Set<SimAction>([
  'listHosts', 'getService', 'listInstances', 'getInstance', 'imageExists', 'listMigrations', 'listEvacuations', 'listInstanceActions', 'bmc.status', 'pdu.status',
]);

/** Reads are counted too (polling budgets are worth asserting), but only writes go to the event log. */
export const isMutating = (action: SimAction): boolean => !READS.has(action);

/**
 * Work that finishes after the API answered: how long each takes is part of the latency model. `hostBoot`: power
 * on → nova-compute starts; `serviceReport`: its start → its first heartbeat (Nova's INITIAL_REPORTING_DELAY).
 */
export const COMPLETIONS = ['evacuate', 'liveMigrate', 'start', 'stop', 'rebootSoft', 'rebootHard', 'hostBoot', 'serviceReport'] as const;
export type Completion = (typeof COMPLETIONS)[number];
