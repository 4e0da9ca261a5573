import type { ComputeService, Host, Instance, Migration, PowerState } from '../../../domain';
import type { PowerDeviceKind } from './actions';
import type { ActiveFault } from './faults';
import type { HostFailureMode, OnOff, SimInstanceFault } from './state';

/*
 * What `SimWorld` reports about itself: the truth next to Nova's view, for tests, `resurrect sim status`
 * and the demo. Plain data, safe to serialise.
 */

/** The truth about a host, next to what Nova says of it. */
export interface HostSnapshot {
  readonly name: string;
  readonly zone: string;
  readonly reserved: boolean;
  readonly power: OnOff;
  readonly chassis: OnOff;
  readonly outlet: OnOff;
  readonly running: boolean;
  readonly network: boolean;
  readonly serviceAlive: boolean;
  readonly degraded: boolean;
  readonly failure?: HostFailureMode;
  readonly service: ComputeService;
  readonly capacity: Host;
  /** What each power device would say (`unknown` when it could not answer). */
  readonly devices: Readonly<Record<PowerDeviceKind, PowerState>>;
  /** Instances with a guest really running here, evacuated leftovers included. */
  readonly guests: readonly string[];
}

/** Plain-string ids (an observation for tests, the CLI and the demo, not a domain object to pass on). */
export type InstanceSnapshot = Omit<Instance, 'id' | 'host'> & {
  readonly id: string;
  readonly host: string;
  /** The guest on `host` really runs (Nova's status may say otherwise). */
  readonly guestRunning: boolean;
  /** Hosts still running an old copy of this guest (evacuated from a host that never died). */
  readonly ghostsOn: readonly string[];
  /** An action cast to a compute that does not answer. */
  readonly hung?: string;
  /** Nova's latest instance fault (shown with the server while it is in ERROR). */
  readonly fault?: SimInstanceFault;
};

export interface WorldSnapshot {
  readonly at: number;
  readonly hosts: readonly HostSnapshot[];
  readonly instances: readonly InstanceSnapshot[];
  readonly migrations: readonly Migration[];
  readonly faults: readonly ActiveFault[];
  readonly splitBrains: readonly SplitBrain[];
}

export interface SplitBrain {
  readonly instance: string;
  /** Every host where a copy of the guest runs, the current one first. */
  readonly hosts: readonly string[];
}
