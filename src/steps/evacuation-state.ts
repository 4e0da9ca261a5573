import type { Instance, Migration } from '../domain';

const IN_FLIGHT: ReadonlySet<Migration['status']> = new Set(['accepted', 'pre-migrating', 'running']);
const SUCCEEDED: ReadonlySet<Migration['status']> = new Set(['done', 'completed']);

/** The newest evacuation of `instance` away from `source`, if any (migrations come newest first). */
export const latestEvacuation = (migrations: readonly Migration[], source: string): Migration | undefined =>
  migrations.find((m) => m.type === 'evacuation' && m.source === source);

/**
 * Whether the migration records can change the verdict on `server`. Nova sets task_state REBUILDING before it
 * creates an evacuation's migration record, and clears it only when the evacuation ends (done, or failed with
 * the instance in ERROR): an instance still on `source` with no task state has no evacuation in flight, and
 * evacuatedElsewhere says false without the records. Saves a Nova read per check of every instance that has
 * not moved yet, which is all of them before a fan-out.
 */
export const migrationsMatter = (server: Instance, source: string): boolean => server.host !== source || server.taskState !== null;

export const inFlight = (migration: Migration | undefined): boolean => migration !== undefined && IN_FLIGHT.has(migration.status);

/**
 * Whether an instance has been resurrected away from `source`. Nova keeps the power state an instance had:
 * one that was stopped comes back stopped (SHUTOFF) on its new host, which is recovered too; its migration
 * record, not its status, says the evacuation finished.
 */
export function evacuatedElsewhere(server: Instance, migration: Migration | undefined, source: string): boolean {
  if (server.host === source || server.taskState !== null) return false;
  if (server.status === 'ACTIVE') return true;
  return server.status === 'SHUTOFF' && migration !== undefined && SUCCEEDED.has(migration.status) && migration.dest === server.host;
}
