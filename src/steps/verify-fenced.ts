import * as t from 'io-ts';
import { nonRetryable } from '../domain';
import { defineStep } from '../plugins/api';
import { secondsParam } from './poll';

/**
 * Does not take the fence agent's word for it: reads the power state back, and looks for signs of life the
 * BMC cannot hide. A nova-compute heartbeat that moved after the fence means the host still runs (a BMC that
 * reports off while the host is up): the promise "no zombie pets" forbids evacuating then. The wait gives a
 * live host time to heartbeat (Nova's report_interval is 10 s; the simulator heartbeats continuously).
 * On success the evidence is recorded; evacuations refuse to start without it.
 */
export const verifyFenced = defineStep({
  name: 'verifyFenced',
  description: 'Confirm power-off by a status read and by the absence of service heartbeats',
  input: t.type({ host: t.string, heartbeatBefore: t.string, fencedAt: t.number, level: t.number, devices: t.array(t.string) }),
  timeoutMs: 120_000,
  async run(input, { drivers, engine, clock, signal, recovery }) {
    const power = await drivers.fencing.status(input.host, { signal });
    if (power !== 'off') {
      throw nonRetryable('RSR_FENCE_UNCONFIRMED', `power state of ${input.host} reads "${power}" after fencing`, { details: { host: input.host, power } });
    }
    await clock.sleep(Math.max(5, secondsParam(recovery.params, 'livenessWaitSeconds', 0) * 1000), signal);
    const service = await drivers.cloud.getService(input.host, { signal });
    if (Date.parse(service.updatedAt) > Date.parse(input.heartbeatBefore) && !service.forcedDown) {
      throw nonRetryable(
        'RSR_FENCE_UNCONFIRMED',
        `${input.host} reads off but its nova-compute still heartbeats (last at ${service.updatedAt}): the host is alive`,
        { details: { host: input.host, power, heartbeatBefore: input.heartbeatBefore, heartbeatAfter: service.updatedAt } },
      );
    }
    const at = clock.now();
    await engine.recordFence({ host: input.host, at, by: 'fencing', report: { host: input.host, level: input.level, devices: input.devices, attempts: [], alreadyOff: false } });
    await engine.audit(`power-off of ${input.host} confirmed: status off, no heartbeat since the fence`);
    return { host: input.host, confirmedAt: at };
  },
});
