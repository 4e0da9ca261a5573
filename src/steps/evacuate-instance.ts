import * as t from 'io-ts';
import type { Migration } from '../domain';
import { nonRetryable, retryable } from '../domain';
import { defineStep } from '../plugins/api';
import { pollUntil, secondsParam } from './poll';

const IN_FLIGHT: ReadonlySet<Migration['status']> = new Set(['accepted', 'pre-migrating', 'running']);

/**
 * Evacuates one instance and follows it until it is ACTIVE on another host, by its migration record. Checks
 * the world first, so the step can be retried or resumed at any point: ACTIVE elsewhere is done, an evacuation
 * still in flight is followed rather than issued again, and an evacuation that failed (instance ERROR,
 * migration error) is issued again: Nova never reschedules an evacuation by itself.
 */
export const evacuateInstance = defineStep({
  name: 'evacuateInstance',
  description: 'Evacuate an instance from a fenced host and wait until it is ACTIVE elsewhere',
  input: t.type({ host: t.string, instance: t.string }),
  timeoutMs: 15 * 60_000,
  async run({ host, instance }, context) {
    const { drivers, engine, signal, recovery } = context;
    if (!(await engine.fenceEvidence(host))) {
      throw nonRetryable('RSR_NOT_FENCED', `refusing to evacuate ${instance}: ${host} is not confirmed fenced`, { details: { host, instance } });
    }
    const server = await drivers.cloud.getInstance(instance, { signal });
    if (server.host !== host && server.status === 'ACTIVE') return { targetHost: server.host, issued: false };

    const latest = (await drivers.cloud.listMigrations(instance, { signal })).find((m) => m.type === 'evacuation' && m.source === host);
    let issued = false;
    if (!latest || !IN_FLIGHT.has(latest.status)) {
      if (server.taskState !== null && server.status !== 'ERROR') {
        throw retryable('RSR_CLOUD_CONFLICT', `${instance} is busy (task state ${server.taskState}); will retry`);
      }
      const accepted = await drivers.cloud.evacuate(instance, undefined, { signal });
      issued = true;
      await engine.audit(`evacuate ${instance} from ${host} accepted`, { requestId: accepted.requestId });
    }
    const timeoutMs = secondsParam(recovery.params, 'activeTimeoutSeconds', 600) * 1000;
    const targetHost = await pollUntil(context, async () => {
      const now = await drivers.cloud.getInstance(instance, { signal });
      if (now.host !== host && now.status === 'ACTIVE') return now.host;
      const migration = (await drivers.cloud.listMigrations(instance, { signal })).find((m) => m.type === 'evacuation' && m.source === host);
      if (migration && (migration.status === 'error' || migration.status === 'failed')) {
        throw retryable('RSR_CLOUD_CONFLICT', `evacuation of ${instance} failed (migration ${migration.id} ${migration.status}); will retry`);
      }
      if (now.status === 'ERROR' && now.taskState === null && (!migration || !IN_FLIGHT.has(migration.status))) {
        throw retryable('RSR_CLOUD_CONFLICT', `evacuation of ${instance} left it in ERROR; will retry`);
      }
      return undefined;
    }, { timeoutMs, what: `${instance} to become ACTIVE on another host` });
    return { targetHost, issued };
  },
});
