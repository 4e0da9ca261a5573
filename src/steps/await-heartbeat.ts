import * as t from 'io-ts';
import { defineStep } from '../plugins/api';
import { pollUntil, secondsParam } from './poll';

/** Boot, nova-compute start-up and its first report, on a slow host. */
export const DEFAULT_HEARTBEAT_WAIT_SECONDS = 900;

/**
 * Waits (bounded: `heartbeatWaitSeconds`) until the host's nova-compute heartbeats again: a service `updated_at`
 * newer than both the one read before the power-on and the one on record when this step starts (after our own
 * last write) — Nova's clock on both sides, so a skew between Resurrect's clock
 * and Nova's cannot fake it — and the service up. Only then is it worth enabling: enabling a service Nova still
 * sees down leaves the COMPUTE_STATUS_DISABLED trait on its resource provider until the compute's next periodic
 * update, and boots sent there fail with "No valid host was found" meanwhile (found on a real Nova). Read-only.
 */
export const awaitHeartbeat = defineStep({
  name: 'awaitHeartbeat',
  description: "Wait (bounded) for a heartbeat of the host's nova-compute newer than a given one",
  input: t.type({ host: t.string, since: t.string }),
  timeoutMs: 60 * 60_000,
  async run({ host, since }, context) {
    const { drivers, engine, signal, recovery } = context;
    // Our own writes move `updated_at` too (lifting forced_down just before this step does): only a change after
    // the one on record now is a heartbeat. Found on a real Nova: taking the lift's stamp for a heartbeat enabled
    // a host whose restarted compute had not reported yet, and the scheduler refused to build there ("has not
    // been heard from in a while").
    const current = await drivers.cloud.getService(host, { signal });
    const mark = Math.max(Date.parse(since), Date.parse(current.updatedAt));
    const seen = await pollUntil(context, async () => {
      const service = await drivers.cloud.getService(host, { signal });
      return service.state === 'up' && Date.parse(service.updatedAt) > mark ? service : undefined;
    }, {
      timeoutMs: secondsParam(recovery.params, 'heartbeatWaitSeconds', DEFAULT_HEARTBEAT_WAIT_SECONDS) * 1000,
      what: `a heartbeat of ${host}'s nova-compute newer than ${since}`,
      code: 'RSR_CLOUD_CONFLICT',
    });
    await engine.audit(`${host}'s nova-compute heartbeats again (updated_at ${seen.updatedAt}; the last before the power-on: ${since})`, { host, updatedAt: seen.updatedAt, since });
    return { host, updatedAt: seen.updatedAt };
  },
});
