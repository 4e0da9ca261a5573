import * as t from 'io-ts';
import { defineStep } from '../plugins/api';
import { pollUntil, secondsParam } from './poll';

/**
 * Live migration needs the source nova-compute: it drives the copy. When the service is down (process died,
 * host still running) wait a bounded time for it to come back (systemd restarts it, or an operator does);
 * if it does not, the workflow takes its fallback.
 */
export const awaitComputeService = defineStep({
  name: 'awaitComputeService',
  description: 'Wait (bounded) until the compute service of a host is up',
  input: t.type({ host: t.string }),
  timeoutMs: 30 * 60_000,
  async run({ host }, context) {
    const { drivers, signal, recovery } = context;
    const timeoutMs = secondsParam(recovery.params, 'serviceWaitSeconds', 120) * 1000;
    return pollUntil(context, async () => {
      const service = await drivers.cloud.getService(host, { signal });
      return service.state === 'up' ? { host, state: service.state } : undefined;
    }, { timeoutMs, what: `the compute service of ${host} to come back`, code: 'RSR_CLOUD_CONFLICT' });
  },
});
