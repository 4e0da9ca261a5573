import * as t from 'io-ts';
import { nonRetryable, retryable } from '../domain';
import { defineStep } from '../plugins/api';
import { pollUntil, secondsParam } from './poll';

/**
 * Restarts a crashed instance on its own host. Refuses when the host's compute service is down: Nova accepts
 * stop/start there and the request then hangs with a task state set, which would also block a later evacuate.
 * An instance already ACTIVE and running is done.
 */
export const restartInstance = defineStep({
  name: 'restartInstance',
  description: 'Restart an instance in place (stop/start or hard reboot) and wait until ACTIVE',
  input: t.type({ instance: t.string, mode: t.keyof({ 'stop-start': null, 'hard-reboot': null }) }),
  timeoutMs: 10 * 60_000,
  async run({ instance, mode }, context) {
    const { drivers, engine, signal, recovery } = context;
    const server = await drivers.cloud.getInstance(instance, { signal });
    if (server.status === 'ACTIVE' && server.powerState === 'RUNNING' && server.taskState === null) {
      return { host: server.host, issued: false };
    }
    const service = await drivers.cloud.getService(server.host, { signal });
    if (service.state !== 'up') {
      throw nonRetryable('RSR_CLOUD_REJECTED', `cannot restart ${instance} in place: the compute service of ${server.host} is down`, {
        details: { instance, host: server.host },
      });
    }
    const timeoutMs = secondsParam(recovery.params, 'activeTimeoutSeconds', 300) * 1000;
    if (server.taskState !== null) {
      throw retryable('RSR_CLOUD_CONFLICT', `${instance} is busy (task state ${server.taskState}); will retry`);
    }
    if (mode === 'hard-reboot') {
      const accepted = await drivers.cloud.rebootInstance(instance, 'HARD', { signal });
      await engine.audit(`hard reboot of ${instance} accepted`, { requestId: accepted.requestId });
    } else {
      if (server.status !== 'SHUTOFF') {
        const stopped = await drivers.cloud.stopInstance(instance, { signal });
        await engine.audit(`stop of ${instance} accepted`, { requestId: stopped.requestId });
        await pollUntil(context, async () => {
          const now = await drivers.cloud.getInstance(instance, { signal });
          return now.status === 'SHUTOFF' && now.taskState === null ? true : undefined;
        }, { timeoutMs, what: `${instance} to stop` });
      }
      const started = await drivers.cloud.startInstance(instance, { signal });
      await engine.audit(`start of ${instance} accepted`, { requestId: started.requestId });
    }
    await pollUntil(context, async () => {
      const now = await drivers.cloud.getInstance(instance, { signal });
      return now.status === 'ACTIVE' && now.powerState === 'RUNNING' && now.taskState === null ? true : undefined;
    }, { timeoutMs, what: `${instance} to be ACTIVE again` });
    return { host: server.host, issued: true };
  },
});
