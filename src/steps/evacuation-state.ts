import { SeenInstance, type Instance, type Migration } from '../domain';
import type { StepContext } from '../plugins/api';

/** What the verdicts below read of an instance. */
type Placement = Pick<Instance, 'host' | 'taskState' | 'status'>;

const IN_FLIGHT: ReadonlySet<Migration['status']> = new Set(['accepted', 'pre-migrating', 'running']);
const SUCCEEDED: ReadonlySet<Migration['status']> = new Set(['done', 'completed']);

/** The newest evacuation of `instance` away from `source`, if any (migrations come newest first). */
export const latestEvacuation = (migrations: readonly Migration[], source: string): Migration | undefined =>
  migrations.find((m) => m.type === 'evacuation' && m.source === source);

/**
 * Whether evacuatedElsewhere needs the migration records to judge `server`: only for an instance idle on
 * another host and not running there (a stopped one comes back stopped; its record says whether the
 * evacuation finished). Everything else is judged without them, which saves a Nova read per check of every
 * instance that has not moved yet. Deciding whether to *issue* an evacuation is another matter: an instance
 * still on its source with no task state may have one in flight (see evacuateInstance), so that decision
 * always reads the records.
 */
export const recordsJudgeElsewhere = (server: Placement, source: string): boolean =>
  server.host !== source && server.taskState === null && server.status !== 'ACTIVE';

export const inFlight = (migration: Migration | undefined): boolean => migration !== undefined && IN_FLIGHT.has(migration.status);

export const succeeded = (migration: Migration | undefined): boolean => migration !== undefined && SUCCEEDED.has(migration.status);

/**
 * Whether an instance has been resurrected away from `source`. Nova keeps the power state an instance had:
 * one that was stopped comes back stopped (SHUTOFF) on its new host, which is recovered too; its migration
 * record, not its status, says the evacuation finished.
 */
export function evacuatedElsewhere(server: Placement, migration: Migration | undefined, source: string): boolean {
  if (server.host === source || server.taskState !== null) return false;
  if (server.status === 'ACTIVE') return true;
  return server.status === 'SHUTOFF' && migration !== undefined && SUCCEEDED.has(migration.status) && migration.dest === server.host;
}

/** How old the fan-out's reading of an instance may be for its child's first check to stand on it. */
export const SEEN_FRESH_MS = 5_000;

/**
 * The fan-out's reading of the recovery's instance (`params.seen`) when it can stand for a read now: on the
 * first attempt (a retry drops it), at most SEEN_FRESH_MS old and not from the future (another worker's clock
 * may lead ours by a little). Every child of a host is checked at the moment the fan-out listed them all; a
 * second read of each, all at once, only queues in front of their evacuations.
 */
export function freshlySeen(context: Pick<StepContext, 'attempt' | 'clock' | 'recovery'>): SeenInstance | undefined {
  const seen = context.recovery.params.seen;
  if (context.attempt !== 1 || !SeenInstance.is(seen)) return undefined;
  const age = context.clock.now() - Date.parse(seen.at);
  return age >= -1_000 && age <= SEEN_FRESH_MS ? seen : undefined;
}
