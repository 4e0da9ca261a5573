import type { Logger } from 'pino';
import type { Clock } from '../../../domain';
import { simFencing, type SimFencingOptions } from '../../fencing/sim/sim-fence-device';
import type { FencingTopology } from '../../fencing/topology';
import { createDemoWorld } from './demo-inventory';
import { createWorld, type WorldSpecInput } from './inventory';
import { SimCloudDriver } from './sim-cloud-driver';
import type { SimWorld, SimWorldOptions } from './world';

export interface SimCloudOptions extends Omit<SimWorldOptions, 'clock'> {
  readonly clock?: Clock;
  /** `demo` (default) or a plain world spec. Ignored when `world` is given. */
  readonly inventory?: 'demo' | WorldSpecInput;
  /** Use this world instead of building one (tests, what-if runs sharing a world). */
  readonly world?: SimWorld;
  /** World events go to this logger: split brains at error level, the rest at debug. */
  readonly log?: Logger;
  readonly fencing?: SimFencingOptions;
}

export interface SimCloud {
  readonly world: SimWorld;
  readonly cloud: SimCloudDriver;
  readonly fencing: FencingTopology;
}

/** The simulated cloud with both ports over it: what the composition root binds when `cloud.driver` is `sim`. */
export function createSimCloud(options: SimCloudOptions = {}): SimCloud {
  const { inventory = 'demo', log, fencing, world: given, ...worldOptions } = options;
  const world = given ?? (inventory === 'demo' ? createDemoWorld(worldOptions) : createWorld(inventory, worldOptions));
  if (log) {
    const simLog = log.child({ component: 'sim' });
    world.on('change', (event) => {
      const fields = { seq: event.seq, type: event.type, host: event.host, instance: event.instance };
      if (event.type === 'split-brain' || event.type === 'error') simLog.error(fields, event.message);
      else simLog.debug(fields, event.message);
    });
  }
  return { world, cloud: new SimCloudDriver(world), fencing: simFencing(world, fencing) };
}
