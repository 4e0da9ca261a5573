import test from 'ava';
import { createWorld } from '../../../src/drivers/cloud/sim/inventory';
import { SimCloudDriver } from '../../../src/drivers/cloud/sim/sim-cloud-driver';
import type { SimAction } from '../../../src/drivers/cloud/sim/actions';
import { CLOUD_CONTRACT_INVENTORY, cloudDriverContract } from '../../contracts/cloud-driver';

cloudDriverContract(test, 'in-process sim', async () => {
  const world = createWorld(CLOUD_CONTRACT_INVENTORY, { seed: 'contract', timeScale: 0 });
  return {
    driver: new SimCloudDriver(world),
    world: {
      failHost: (host, mode) => world.failHost(host, mode),
      recoverHost: (host) => world.recoverHost(host),
      hostPower: (host) => world.hostState(host).power,
      injectFault: (spec) => world.injectFault(spec),
      count: (action, subject, outcome) => world.count(action as SimAction, subject, outcome),
    },
    teardown: async () => world.dispose(),
  };
});
