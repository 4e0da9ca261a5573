import type { ComputeService, Flavor, Host, HostName, Instance, InstanceId, InstanceStatus, IsoTime, Migration, ServerGroupRef } from '../../../domain';
import { isoNow } from '../../../domain';

/*
 * The world's mutable records and their read-only views. Records carry what Nova cannot see (does the OS
 * really run, is the guest really alive); views are what Nova would answer. Views are built fresh on every
 * call, so nothing handed out aliases world state.
 */

export const HOST_FAILURE_MODES = ['power', 'network', 'service', 'degraded'] as const;
export type HostFailureMode = (typeof HOST_FAILURE_MODES)[number];

export type NovaPowerState = Instance['powerState'];
export type OnOff = 'on' | 'off';

export interface SimHostRecord {
  readonly name: string;
  readonly zone: string;
  readonly aggregates: string[];
  tags: string[];
  readonly vcpus: number;
  readonly ramMb: number;
  /**
   * Nova's `reserved_host_memory_mb`: RAM the hypervisor keeps for itself. Never given to instances, and
   * counted in `memory_mb_used` (Host.usedRamMb) on top of theirs, as Nova reports it.
   */
  readonly reservedRamMb: number;
  /** A spare host (placement's reserved-host pool), not to be confused with reserved RAM. */
  readonly reserved: boolean;
  /** Chassis power, as the BMC switches it. */
  chassis: OnOff;
  /** PDU outlet feeding the host (and its BMC's standby power). */
  outlet: OnOff;
  /** The OS really runs (false while powered off or still booting). */
  running: boolean;
  /** The management network reaches the host (false: it may still run, unseen). */
  network: boolean;
  /** The nova-compute process is alive. */
  serviceAlive: boolean;
  status: 'enabled' | 'disabled';
  disabledReason?: string;
  forcedDown: boolean;
  /**
   * Time of the last heartbeat once heartbeats stopped; null while heartbeating. A nova-compute started by a
   * boot keeps it until its first report (`serviceReport` after its start), as Nova's `updated_at` does.
   */
  heartbeatStoppedAt: number | null;
  /**
   * When an API call last wrote the service record (forced_down, enable/disable). Nova's `updated_at` moves
   * with every write, not only with heartbeats (its liveness is `last_seen_up`, which only heartbeats move):
   * a reader that takes a newer `updated_at` for a heartbeat is fooled by its own PUT, as found on a real Nova.
   */
  serviceWrittenAt: number | null;
  degraded: boolean;
  /** The last failure injected and not yet recovered, for display. */
  failure?: HostFailureMode;
  /** Device claims that disagree with reality: a lying BMC says off while the host still runs. */
  claimedOff: Set<string>;
}

/** An asynchronous action waiting for a compute that may never answer (Nova's cast into the void). */
export interface PendingAction {
  readonly kind: 'start' | 'stop' | 'reboot';
  readonly hard?: boolean;
  /** The instance action it belongs to (os-instance-actions). */
  readonly record?: SimInstanceActionRecord;
}

/** One event of an instance action (Nova `os-instance-actions` events): a step run by conductor or a compute. */
export interface SimActionEventRecord {
  readonly event: string;
  /** The compute that ran it; null for conductor steps. */
  readonly host: string | null;
  readonly startTime: number;
  finishTime: number | null;
  result: 'Success' | 'Error' | null;
}

/** Nova's record of one server action, keyed by the request id of the call that created it. */
export interface SimInstanceActionRecord {
  readonly instance: string;
  /** Nova's action name: evacuate, live-migration, start, stop, reboot. */
  readonly action: string;
  readonly requestId: string;
  readonly startTime: number;
  updatedAt: number;
  /** 'Error' once an event failed, as Nova sets it. */
  message: string | null;
  readonly events: SimActionEventRecord[];
}

export interface SimInstanceRecord {
  readonly id: string;
  name: string;
  host: string;
  project: string;
  status: InstanceStatus;
  taskState: string | null;
  powerState: NovaPowerState;
  readonly flavor: Flavor;
  readonly image: string;
  metadata: Record<string, string>;
  readonly sharedStorage: boolean;
  locked?: boolean;
  readonly serverGroup?: ServerGroupRef;
  updatedAt: number;
  /** The truth: the guest on `host` is running. Nova's view (status/powerState) may say otherwise. */
  guestRunning: boolean;
  /** A destination holding capacity for this instance while it moves there. */
  claimHost?: string;
  /** An action accepted for a compute that is not answering; it runs when that compute comes back. */
  hung?: PendingAction;
  /** Nova's latest instance fault, shown with the server while it is in ERROR. */
  fault?: SimInstanceFault;
}

/** One row of Nova's `instance_faults`: what the conductor or a compute recorded when it put the instance in ERROR. */
export interface SimInstanceFault {
  readonly code: number;
  readonly message: string;
  /** The traceback Nova keeps for a 500 (shown to admins). */
  readonly details: string;
  /** Epoch ms. */
  readonly created: number;
}

export interface SimMigrationRecord {
  readonly id: string;
  readonly instance: string;
  readonly type: Migration['type'];
  readonly source: string;
  dest: string | null;
  status: Migration['status'];
  readonly createdAt: number;
}

/** A guest still running on a host that no longer owns its instance (an evacuation from a zombie host). */
export interface Ghost {
  readonly instance: string;
  readonly host: string;
}

export const hostPower = (h: SimHostRecord): OnOff => (h.chassis === 'on' && h.outlet === 'on' ? 'on' : 'off');

/** Heartbeats reach the database only from a running host with network and a live nova-compute. */
export const heartbeating = (h: SimHostRecord): boolean => h.running && h.network && h.serviceAlive;

/**
 * Nova's rule: forced down ⇒ down; otherwise down once the last heartbeat is older than service_down_time
 * (scaled; 0 makes the sim see a failure at once).
 */
export function serviceState(h: SimHostRecord, now: number, serviceDownTimeMs: number): 'up' | 'down' {
  if (h.forcedDown) return 'down';
  if (h.heartbeatStoppedAt === null) return 'up';
  return now - h.heartbeatStoppedAt < serviceDownTimeMs ? 'up' : 'down';
}

export function serviceView(h: SimHostRecord, now: number, serviceDownTimeMs: number): ComputeService {
  return {
    host: h.name as HostName,
    state: serviceState(h, now, serviceDownTimeMs),
    status: h.status,
    forcedDown: h.forcedDown,
    updatedAt: isoNow(Math.max(h.heartbeatStoppedAt ?? now, h.serviceWrittenAt ?? Number.NEGATIVE_INFINITY)),
    ...(h.disabledReason === undefined ? {} : { disabledReason: h.disabledReason }),
  };
}

/**
 * What Nova's hypervisor view says: `memory_mb` is the whole host, `memory_mb_used` the instances' RAM (and
 * claims) plus `reserved_host_memory_mb`.
 */
export function hostView(h: SimHostRecord, used: { vcpus: number; ramMb: number }): Host {
  return {
    name: h.name as HostName,
    zone: h.zone,
    aggregates: [...h.aggregates],
    tags: [...h.tags],
    vcpus: h.vcpus,
    ramMb: h.ramMb,
    usedVcpus: used.vcpus,
    usedRamMb: used.ramMb + h.reservedRamMb,
    reserved: h.reserved,
  };
}

/**
 * Nova's vm_state behind a status. The sim keeps only the status, so a status that is a task of an active
 * instance (REBUILD, MIGRATING, REBOOT…) reads `active`, as it does in Nova for an instance that was active.
 */
export const VM_STATES: Readonly<Record<InstanceStatus, string>> = {
  ACTIVE: 'active',
  SHUTOFF: 'stopped',
  ERROR: 'error',
  REBUILD: 'active',
  MIGRATING: 'active',
  BUILD: 'building',
  REBOOT: 'active',
  HARD_REBOOT: 'active',
  PAUSED: 'paused',
  UNKNOWN: 'active',
};

export function instanceView(i: SimInstanceRecord): Instance {
  return {
    id: i.id as InstanceId,
    name: i.name,
    host: i.host as HostName,
    project: i.project,
    status: i.status,
    taskState: i.taskState,
    powerState: i.powerState,
    flavor: { name: i.flavor.name, vcpus: i.flavor.vcpus, ramMb: i.flavor.ramMb, extraSpecs: { ...i.flavor.extraSpecs } },
    image: i.image,
    metadata: { ...i.metadata },
    sharedStorage: i.sharedStorage,
    updatedAt: isoNow(i.updatedAt) as IsoTime,
    ...(i.locked === undefined ? {} : { locked: i.locked }),
    ...(i.serverGroup === undefined ? {} : { serverGroup: { ...i.serverGroup } }),
  };
}

/** Plain copy of an action record (times in epoch ms). */
export type InstanceActionView = Omit<SimInstanceActionRecord, 'events'> & { readonly events: readonly Readonly<SimActionEventRecord>[] };

export function instanceActionView(a: SimInstanceActionRecord): InstanceActionView {
  return { ...a, events: a.events.map((e) => ({ ...e })) };
}

export function migrationView(m: SimMigrationRecord): Migration {
  return {
    id: m.id,
    instance: m.instance as InstanceId,
    type: m.type,
    source: m.source as HostName,
    dest: m.dest as HostName | null,
    status: m.status,
    createdAt: isoNow(m.createdAt),
  };
}
