import * as t from 'io-ts';
import { nonRetryable } from '../domain';
import { defineStep } from '../plugins/api';
import { secondsParam } from './poll';

/**
 * Does not take the fence agent's word for it: reads the power state back, and looks for signs of life the
 * BMC cannot hide. A nova-compute heartbeat that moves after the host reads off means the host still runs (a
 * BMC that reports off while the host is up): the promise "no zombie pets" forbids evacuating then. Both
 * readings are taken after the power-off, so a last heartbeat sent just before it is not mistaken for life.
 * The wait between them (`livenessWaitSeconds`) must exceed Nova's report_interval (10 s) on a real cloud;
 * the simulator heartbeats continuously.
 * On success the evidence is recorded; evacuations refuse to start without it.
 */
/** Nova's report_interval is 10 s: a live nova-compute heartbeats at least once in 12 s. */
export const DEFAULT_LIVENESS_WAIT_SECONDS = 12;

export const verifyFenced = defineStep({
  name: 'verifyFenced',
  description: 'Confirm power-off by a status read and by the absence of service heartbeats',
  input: t.type({ host: t.string, level: t.number, devices: t.array(t.string), alreadyOff: t.boolean }),
  timeoutMs: 120_000,
  async run(input, { drivers, engine, clock, signal, recovery }) {
    // Read back through the level that fenced: a stuck BMC at level 1 says nothing about a PDU that cut power.
    const power = await drivers.fencing.status(input.host, { signal, level: input.level });
    if (power !== 'off') {
      throw nonRetryable('RSR_FENCE_UNCONFIRMED', `power state of ${input.host} reads "${power}" after fencing`, { details: { host: input.host, power } });
    }
    const before = await drivers.cloud.getService(input.host, { signal });
    await clock.sleep(Math.max(5, secondsParam(recovery.params, 'livenessWaitSeconds', DEFAULT_LIVENESS_WAIT_SECONDS) * 1000), signal);
    const service = await drivers.cloud.getService(input.host, { signal });
    if (Date.parse(service.updatedAt) > Date.parse(before.updatedAt)) {
      throw nonRetryable(
        'RSR_FENCE_UNCONFIRMED',
        `${input.host} reads off but its nova-compute still heartbeats (last at ${service.updatedAt}): the host is alive`,
        { details: { host: input.host, power, heartbeatBefore: before.updatedAt, heartbeatAfter: service.updatedAt } },
      );
    }
    const at = clock.now();
    await engine.recordFence({ host: input.host, at, by: 'fencing', report: { host: input.host, level: input.level, devices: input.devices, attempts: [], alreadyOff: input.alreadyOff } });
    await engine.audit(`power-off of ${input.host} confirmed: status off, no heartbeat since the fence`);
    return { host: input.host, confirmedAt: at };
  },
});
