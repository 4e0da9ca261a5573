import * as t from 'io-ts';
import { retryable } from '../domain';
import { defineStep } from '../plugins/api';
import { pollUntil, secondsParam } from './poll';

/**
 * Live-migrates one instance off a host that still runs it, then waits until it is ACTIVE elsewhere. An
 * instance already elsewhere is done; a migration in flight is followed, not issued again. A stopped
 * instance cannot be live-migrated (Nova refuses with 409) and has nothing running to protect: it is left
 * where it is and reported as skipped, with the reason.
 */
export const liveMigrateInstance = defineStep({
  name: 'liveMigrateInstance',
  description: 'Live-migrate an instance away and wait until it is ACTIVE on another host',
  input: t.type({ host: t.string, instance: t.string }),
  timeoutMs: 30 * 60_000,
  async run({ host, instance }, context) {
    const { drivers, engine, signal, recovery } = context;
    const server = await drivers.cloud.getInstance(instance, { signal });
    if (server.host !== host && server.status === 'ACTIVE') return { targetHost: server.host, issued: false };
    if (server.host === host && server.status === 'SHUTOFF' && server.taskState === null) {
      return { skipped: true, reason: `${instance} is stopped: not live-migrated, left on ${host}` };
    }
    const latest = (await drivers.cloud.listMigrations(instance, { signal })).find((m) => m.type === 'live-migration' && m.source === host);
    const inFlight = latest && (latest.status === 'accepted' || latest.status === 'pre-migrating' || latest.status === 'running');
    if (!inFlight) {
      if (server.taskState !== null) throw retryable('RSR_CLOUD_CONFLICT', `${instance} is busy (task state ${server.taskState}); will retry`);
      const accepted = await drivers.cloud.liveMigrate(instance, undefined, { signal });
      await engine.audit(`live migration of ${instance} from ${host} accepted`, { requestId: accepted.requestId });
    }
    const timeoutMs = secondsParam(recovery.params, 'activeTimeoutSeconds', 600) * 1000;
    const targetHost = await pollUntil(context, async () => {
      const now = await drivers.cloud.getInstance(instance, { signal });
      if (now.host !== host && now.status === 'ACTIVE') return now.host;
      const migration = (await drivers.cloud.listMigrations(instance, { signal })).find((m) => m.type === 'live-migration' && m.source === host);
      if (migration && (migration.status === 'error' || migration.status === 'failed')) {
        throw retryable('RSR_MIGRATION_FAILED', `live migration of ${instance} failed (migration ${migration.id} ${migration.status})`);
      }
      return undefined;
    }, { timeoutMs, what: `${instance} to be ACTIVE on another host`, code: 'RSR_MIGRATION_FAILED' });
    return { targetHost, issued: true };
  },
});
