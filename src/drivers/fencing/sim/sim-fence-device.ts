import type { PowerState } from '../../../domain';
import { nonRetryable } from '../../../domain';
import type { CallOptions } from '../../cloud/port';
import type { PowerDeviceKind } from '../../cloud/sim/actions';
import type { SimWorld } from '../../cloud/sim/world';
import type { FenceDevice } from '../port';
import { FencingTopology, type FencingTopologyOptions } from '../topology';

/**
 * A FenceDevice over one simulated power device: the host's BMC (id `bmc-<host>`) by default, or its PDU
 * outlet (`pdu-<host>`). Like a fence agent configured with `pcmk_host_list=<host>`, it fences only its host.
 */
export class SimBmcDevice implements FenceDevice {
  readonly id: string;

  constructor(
    private readonly world: SimWorld,
    readonly host: string,
    readonly kind: PowerDeviceKind = 'bmc',
  ) {
    this.id = `${kind}-${host}`;
  }

  async off(target: string, options?: CallOptions): Promise<void> {
    return this.device(target).off(options?.signal);
  }

  async on(target: string, options?: CallOptions): Promise<void> {
    return this.device(target).on(options?.signal);
  }

  async status(target: string, options?: CallOptions): Promise<PowerState> {
    return this.device(target).status(options?.signal);
  }

  private device(target: string) {
    if (target !== this.host) {
      throw nonRetryable('RSR_FENCE_FAILED', `${this.id} cannot fence ${target}: it controls ${this.host} only`, { details: { device: this.id, target } });
    }
    return this.world.powerDevice(this.host, this.kind);
  }
}

export interface SimFencingOptions extends Omit<FencingTopologyOptions, 'levels'> {
  /** Device kinds per level, the same for every host. Default: level 1 the BMC, level 2 the PDU outlet. */
  readonly levels?: readonly (readonly PowerDeviceKind[])[];
}

/** Fencing for every host of a sim world. */
export function simFencing(world: SimWorld, options: SimFencingOptions = {}): FencingTopology {
  const kinds = options.levels ?? [['bmc'], ['pdu']];
  return new FencingTopology({
    // A simulated BMC's power state changes before its answer: one read back is the truth.
    confirmTimeoutMs: 0,
    ...options,
    clock: options.clock ?? world.clock,
    levels: (host) => (world.hostNames().includes(host) ? kinds.map((level) => level.map((kind) => new SimBmcDevice(world, host, kind))) : []),
  });
}
