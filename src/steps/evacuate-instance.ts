import * as t from 'io-ts';
import { nonRetryable, retryable, type Instance } from '../domain';
import { defineStep } from '../plugins/api';
import { evacuatedElsewhere, inFlight, latestEvacuation, succeeded } from './evacuation-state';
import { pollUntil, secondsParam } from './poll';

/**
 * Evacuates one instance and follows it until it runs on another host (or, if it was stopped, is stopped there
 * with its evacuation done), by its migration record. Checks the world first, so the step can be retried or
 * resumed at any point: resurrected elsewhere is done, an evacuation
 * still in flight is followed rather than issued again, and an evacuation that failed (instance ERROR,
 * migration error: no valid host in Nova's conductor, a failed rebuild) is issued again: Nova never
 * reschedules an evacuation by itself. A task left pending on the fenced host does not hold it back.
 */
export const evacuateInstance = defineStep({
  name: 'evacuateInstance',
  description: 'Evacuate an instance from a fenced host and wait until it is ACTIVE elsewhere',
  input: t.intersection([t.type({ host: t.string, instance: t.string }), t.partial({ startIfStopped: t.boolean })]),
  timeoutMs: 15 * 60_000,
  async run({ host, instance, startIfStopped }, context) {
    const { drivers, engine, signal, recovery } = context;
    const timeoutMs = secondsParam(recovery.params, 'activeTimeoutSeconds', 600) * 1000;
    if (!(await engine.fenceEvidence(host))) {
      throw nonRetryable('RSR_NOT_FENCED', `refusing to evacuate ${instance}: ${host} is not confirmed fenced`, { details: { host, instance } });
    }
    // Both, at once, before deciding to act: Nova clears an evacuation's task state when the rebuild ends, and
    // moves the instance to its new host only afterwards (when the destination's resource tracker gets its
    // lock: up to 1.5 s on the lab). In between, only the record in flight tells it from one never evacuated.
    const [read, migrations] = await Promise.all([drivers.cloud.getInstance(instance, { signal }), drivers.cloud.listMigrations(instance, { signal })]);
    const latest = latestEvacuation(migrations, host);
    // Idle on its source with its evacuation done: either it finished between the two reads (Nova moves the
    // instance before it marks the record done, so a read now finds it on its new host), or the record is from
    // an earlier failure of this host (a read now finds it here still).
    const server = read.host === host && read.taskState === null && succeeded(latest) ? await drivers.cloud.getInstance(instance, { signal }) : read;
    if (evacuatedElsewhere(server, latest, host)) return startIfNeeded(server, false);
    // Placement found no host with room at fan-out: say so now rather than let Nova fail it VM by VM.
    const noTarget = recovery.params.noTarget;
    if (typeof noTarget === 'string' && server.host === host && !inFlight(latest)) {
      throw nonRetryable('RSR_NO_CAPACITY', `not evacuating ${instance}: ${noTarget}`, { details: { host, instance } });
    }
    // The target placement chose, on the first attempt; a retry lets Nova's scheduler choose (the room may
    // have gone to someone else meanwhile).
    const target = typeof recovery.params.target === 'string' && context.attempt === 1 ? recovery.params.target : undefined;
    let issued = false;
    // Only an evacuation in flight (its migration record says so) is followed instead of issued. Any other task
    // state is no reason to wait: an action cast to the fenced host (a stop, a reboot) never completes, and Nova
    // (26) evacuates whatever the task state, the rebuild replacing it.
    if (server.host === host && !inFlight(latest)) {
      const stuck = server.taskState === null ? '' : ` (task state ${server.taskState} left on the fenced host)`;
      const accepted = await drivers.cloud.evacuate(instance, target, { signal });
      issued = true;
      await engine.audit(`evacuate ${instance} from ${host}${target ? ` to ${target}` : ''} accepted${stuck}`, {
        requestId: accepted.requestId,
        ...(target ? { target } : {}),
        ...(server.taskState === null ? {} : { taskState: server.taskState }),
      });
    }
    const landed = await pollUntil(context, async () => {
      const now = await drivers.cloud.getInstance(instance, { signal });
      // Running elsewhere with no task left is done whatever the records say; a rebuild still going on (a task
      // state) has nothing to decide yet. Only then are the records read (an instance back on its source with
      // no task is either at the very end of its rebuild or failed: its record says which).
      if (now.host !== host && now.status === 'ACTIVE' && now.taskState === null) return now;
      if (now.taskState !== null) return undefined;
      const migration = latestEvacuation(await drivers.cloud.listMigrations(instance, { signal }), host);
      if (evacuatedElsewhere(now, migration, host)) return now;
      if (migration && (migration.status === 'error' || migration.status === 'failed')) {
        throw retryable('RSR_CLOUD_CONFLICT', `evacuation of ${instance} failed (migration ${migration.id} ${migration.status}); will retry`);
      }
      if (now.status === 'ERROR' && now.taskState === null && !inFlight(migration)) {
        throw retryable('RSR_CLOUD_CONFLICT', `evacuation of ${instance} left it in ERROR; will retry`);
      }
      return undefined;
    }, { timeoutMs, what: `${instance} to be rebuilt on another host` });
    return startIfNeeded(landed, issued);

    /**
     * From microversion 2.95 Nova brings an evacuated instance back stopped whatever it was; one that ran
     * before the failure is started again. `now` is the read that found it elsewhere, a moment ago: reading
     * again would only delay the end of every recovery by one Nova round trip.
     */
    async function startIfNeeded(now: Instance, evacuated: boolean) {
      const targetHost = now.host;
      if (!startIfStopped || now.status !== 'SHUTOFF') return { targetHost, issued: evacuated, status: now.status };
      if (now.taskState === null) {
        const started = await drivers.cloud.startInstance(instance, { signal });
        await engine.audit(`start of ${instance} on ${targetHost} accepted (it ran before the failure)`, { requestId: started.requestId });
      }
      await pollUntil(context, async () => {
        const running = await drivers.cloud.getInstance(instance, { signal });
        return running.status === 'ACTIVE' && running.taskState === null ? true : undefined;
      }, { timeoutMs, what: `${instance} to run again on ${targetHost}` });
      return { targetHost, issued: evacuated, status: 'ACTIVE' };
    }
  },
});
