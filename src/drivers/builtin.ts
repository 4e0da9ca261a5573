import { definePlugin } from '../plugins/api';
import { openstackCloudDriverFactory } from './cloud/openstack';
import { fenceAgentsDriver } from './fencing/fence-agent/factory';

/**
 * The drivers shipped with Resurrect, chosen by name in the configuration (`cloud.driver: openstack`,
 * `fencing.driver: agents`); `sim` is the composition root's own.
 */
export const builtinDriversPlugin = definePlugin({
  name: 'builtin-drivers',
  description: 'OpenStack cloud driver, fence-agent fencing',
  drivers: [openstackCloudDriverFactory, fenceAgentsDriver],
});
