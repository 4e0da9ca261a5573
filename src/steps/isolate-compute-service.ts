import * as t from 'io-ts';
import { defineStep } from '../plugins/api';

/**
 * After a confirmed fence: force the service down (Nova then accepts evacuations at once instead of after
 * service_down_time) and disable it with a reason, so the scheduler sends nothing there. Checks first.
 */
export const isolateComputeService = defineStep({
  name: 'isolateComputeService',
  description: 'Force the compute service down and disable it with a reason',
  input: t.type({ host: t.string, reason: t.string, forceDown: t.boolean }),
  timeoutMs: 60_000,
  async run({ host, reason, forceDown }, { drivers, signal }) {
    let service = await drivers.cloud.getService(host, { signal });
    if (forceDown && !service.forcedDown) service = await drivers.cloud.setServiceForcedDown(host, true, { signal });
    if (service.status === 'enabled') service = await drivers.cloud.setServiceEnabled(host, false, reason, { signal });
    return { host, state: service.state, status: service.status, forcedDown: service.forcedDown };
  },
});
