import * as t from 'io-ts';
import { toResurrectError } from '../domain';
import type { StepContext } from '../plugins/api';
import { defineStep } from '../plugins/api';
import { pollUntil, secondsParam } from './poll';

/** A real host boots in minutes and its nova-compute cleans up after that: 15 minutes before giving up. */
export const DEFAULT_CLEANUP_WAIT_SECONDS = 900;

export interface LiftForcedDownOutput {
  readonly host: string;
  /** False when the service was no longer forced down (a resumed step, or an operator lifted it). */
  readonly lifted: boolean;
  /** Nova's refusals this run waited through. */
  readonly refusals: number;
}

/**
 * Lifts the forced_down that fencing set, as soon as Nova allows it. Nova (≥ Xena) refuses with a 400 ("Unable
 * to force up host … as `done` evacuation migration records remain associated with the host …") while
 * evacuations from the host are still `done`: only the host's restarted nova-compute completes them, after it
 * destroyed the evacuated guests, so lifting before that would put a host back whose old copies may still
 * exist. The refusal is Nova's "not yet" (RSR_CLOUD_CONFLICT): the step asks again every poll interval for
 * `cleanupWaitSeconds`, then fails retryable (the job's retries, then the workflow escalates). The first refusal
 * of a run is audited with the records still `done`. Checks first: a service no longer forced down is left alone.
 */
export const liftForcedDown = defineStep({
  name: 'liftForcedDown',
  description: "Lift the host's forced_down once Nova allows it (its evacuations cleaned up by its restarted nova-compute)",
  input: t.type({ host: t.string }),
  timeoutMs: 60 * 60_000,
  async run({ host }, context): Promise<LiftForcedDownOutput> {
    const { drivers, engine, signal, recovery } = context;
    let refusals = 0;
    return pollUntil(context, async () => {
      const service = await drivers.cloud.getService(host, { signal });
      if (!service.forcedDown) return { host, lifted: false, refusals };
      try {
        await drivers.cloud.setServiceForcedDown(host, false, { signal });
      } catch (err) {
        const error = toResurrectError(err);
        if (error.code !== 'RSR_CLOUD_CONFLICT') throw error;
        if (++refusals === 1) await auditRefusal(context, host, error.message, error.details.httpStatus);
        return undefined;
      }
      await engine.audit(`forced_down of ${host} lifted${refusals > 0 ? ` (Nova refused ${refusals} time${refusals === 1 ? '' : 's'} while its evacuations were not cleaned up)` : ''}`, { host, refusals });
      return { host, lifted: true, refusals };
    }, {
      timeoutMs: secondsParam(recovery.params, 'cleanupWaitSeconds', DEFAULT_CLEANUP_WAIT_SECONDS) * 1000,
      what: `Nova to let ${host}'s forced_down be lifted (its restarted nova-compute must complete the host's evacuations)`,
      code: 'RSR_CLOUD_CONFLICT',
    });
  },
});

/** Nova's answer, and the records it is waiting for (best effort: the refusal is the fact, the list the detail). */
async function auditRefusal(context: StepContext, host: string, message: string, httpStatus: unknown): Promise<void> {
  const { drivers, engine, signal } = context;
  const pending = await drivers.cloud.listEvacuations(host, { signal }).then(
    (records) => records.filter((m) => m.status === 'done').map((m) => m.instance as string).sort(),
    () => undefined,
  );
  const records = pending === undefined ? '' : ` — ${pending.length} evacuation record${pending.length === 1 ? '' : 's'} from ${host} still done${pending.length > 0 ? ` (${pending.join(', ')})` : ''}`;
  await engine.audit(`Nova refused to lift forced_down of ${host}${typeof httpStatus === 'number' ? ` (HTTP ${httpStatus})` : ''}: "${message}"${records}; waiting for its nova-compute to clean up, asking again`, {
    host, ...(typeof httpStatus === 'number' ? { httpStatus } : {}), ...(pending ? { pending } : {}),
  });
}
