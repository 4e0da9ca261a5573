import test from 'ava';
import { createWorld } from '../../../src/drivers/cloud/sim/inventory';
import { simFencing } from '../../../src/drivers/fencing/sim/sim-fence-device';
import { FENCING_CONTRACT_HOSTS, fencingDriverContract } from '../../contracts/fencing-driver';

fencingDriverContract(test, 'sim BMC + PDU topology', async () => {
  const hosts = FENCING_CONTRACT_HOSTS.map((name) => ({ name, vcpus: 8, ramMb: 16384 }));
  const world = createWorld({ hosts }, { seed: 'fencing-contract', timeScale: 0 });
  return {
    driver: simFencing(world, { timeoutMs: 100 }),
    world: {
      hostPower: (host) => world.hostState(host).power,
      powerOff: (host) => world.failHost(host, 'power'),
      injectFault: (spec) => world.injectFault(spec),
    },
    teardown: async () => world.dispose(),
  };
});
