import * as t from 'io-ts';
import { HostName, InstanceId, IsoTime, Metadata } from './primitives';

export const Flavor = t.type({ name: t.string, vcpus: t.number, ramMb: t.number, extraSpecs: Metadata }, 'Flavor');
export type Flavor = t.TypeOf<typeof Flavor>;

export const ServiceState = t.keyof({ up: null, down: null });
export const ServiceStatus = t.keyof({ enabled: null, disabled: null });

/** The nova-compute service of one host, as Nova reports it. */
export const ComputeService = t.intersection([
  t.type({
    host: HostName,
    state: ServiceState,
    status: ServiceStatus,
    forcedDown: t.boolean,
    /** Last heartbeat Nova recorded. */
    updatedAt: IsoTime,
  }),
  t.partial({
    disabledReason: t.string,
    /**
     * When the cloud answered this reading, on the cloud's own clock (Nova: the `Date` header of the nova-api
     * response, the clock `updatedAt` is judged against). `observedAt − updatedAt` is how long the service had
     * been silent when read, with no clock of ours involved. Absent when the cloud did not say (no or an
     * unreadable `Date` header): readers then assume nothing about the heartbeat's age.
     */
    observedAt: IsoTime,
  }),
], 'ComputeService');
export type ComputeService = t.TypeOf<typeof ComputeService>;

export const Host = t.type({
  name: HostName,
  zone: t.string,
  aggregates: t.array(t.string),
  tags: t.array(t.string),
  vcpus: t.number,
  ramMb: t.number,
  usedVcpus: t.number,
  usedRamMb: t.number,
  /** Reserved spare hosts receive evacuations first when a policy asks for it. */
  reserved: t.boolean,
}, 'Host');
export type Host = t.TypeOf<typeof Host>;

/** Nova's server status subset that matters for recovery. */
export const InstanceStatus = t.keyof({
  ACTIVE: null, SHUTOFF: null, ERROR: null, REBUILD: null, MIGRATING: null, BUILD: null, REBOOT: null, HARD_REBOOT: null, PAUSED: null, UNKNOWN: null,
});
export type InstanceStatus = t.TypeOf<typeof InstanceStatus>;

/** Nova server group policies (microversion 2.64 names). The hard ones are filters, the soft ones weighers. */
export const ServerGroupPolicy = t.keyof({ affinity: null, 'anti-affinity': null, 'soft-affinity': null, 'soft-anti-affinity': null }, 'ServerGroupPolicy');
export type ServerGroupPolicy = t.TypeOf<typeof ServerGroupPolicy>;
export const ServerGroupRef = t.type({ id: t.string, policy: ServerGroupPolicy }, 'ServerGroupRef');
export type ServerGroupRef = t.TypeOf<typeof ServerGroupRef>;

export const Instance = t.intersection([
  t.type({
    id: InstanceId,
    name: t.string,
    host: HostName,
    project: t.string,
    status: InstanceStatus,
    /** Nova task_state; null when idle. */
    taskState: t.union([t.string, t.null]),
    /** Nova power_state: RUNNING, SHUTDOWN, CRASHED, NOSTATE. */
    powerState: t.keyof({ RUNNING: null, SHUTDOWN: null, CRASHED: null, NOSTATE: null, PAUSED: null }),
    flavor: Flavor,
    /** Image id; empty string for boot-from-volume. */
    image: t.string,
    metadata: Metadata,
    /** Whether the instance's disk lives on storage shared with other hosts (kept by evacuate). */
    sharedStorage: t.boolean,
    updatedAt: IsoTime,
  }),
  t.partial({
    locked: t.boolean,
    /** The Nova server group the instance belongs to: placement keeps its (anti-)affinity when it moves. */
    serverGroup: ServerGroupRef,
  }),
], 'Instance');
export type Instance = t.TypeOf<typeof Instance>;

/**
 * An instance as the engine read it at fan-out (`at`, on the engine's clock), handed to its child recovery
 * (`params.seen`): the child's first check, a moment later, reads it instead of asking the cloud again while
 * every other child does the same. Never used for acting: the evacuation reads the instance before its POST.
 */
export const SeenInstance = t.type({
  at: IsoTime,
  name: t.string,
  host: HostName,
  status: InstanceStatus,
  taskState: t.union([t.string, t.null]),
  image: t.string,
  sharedStorage: t.boolean,
}, 'SeenInstance');
export type SeenInstance = t.TypeOf<typeof SeenInstance>;

export const seenInstance = (instance: Instance, at: IsoTime): SeenInstance => ({
  at,
  name: instance.name,
  host: instance.host,
  status: instance.status,
  taskState: instance.taskState,
  image: instance.image,
  sharedStorage: instance.sharedStorage,
});

export const MigrationStatus = t.keyof({ accepted: null, 'pre-migrating': null, running: null, done: null, completed: null, error: null, failed: null });
export const Migration = t.type({
  id: t.string,
  instance: InstanceId,
  type: t.keyof({ evacuation: null, 'live-migration': null }),
  source: HostName,
  dest: t.union([HostName, t.null]),
  status: MigrationStatus,
  createdAt: IsoTime,
}, 'Migration');
export type Migration = t.TypeOf<typeof Migration>;

export const PowerState = t.keyof({ on: null, off: null, unknown: null });
export type PowerState = t.TypeOf<typeof PowerState>;
