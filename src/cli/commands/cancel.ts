import type { GlobalOptions } from '../connect';
import { apiClient } from '../connect';
import { print, printJson } from '../output';

/**
 * `resurrect cancel <recovery-id> [--reason TEXT]`: stop a recovery and its descendants (POST
 * /api/v1/recoveries/:id/cancel, 202). A running one stops within a second; a waiting or queued one at once;
 * one that had already finished is left as it was (said so, exit 0).
 */
export async function cancel(recoveryId: string, options: GlobalOptions & { reason?: string }): Promise<number> {
  const answer = await apiClient(options).cancel(recoveryId, options.reason);
  if (options.json) {
    printJson(answer);
    return 0;
  }
  const descendants = answer.descendants.length > 0 ? ` with ${answer.descendants.length} descendant${answer.descendants.length === 1 ? '' : 's'}` : '';
  if (answer.state === 'cancelling') print(`cancel of ${answer.recoveryId}${descendants} requested`);
  else if (answer.state === 'already-requested') print(`cancel of ${answer.recoveryId} was already requested${descendants}`);
  else print(`${answer.recoveryId} had already finished${answer.outcome ? ` (${answer.outcome})` : ''}: nothing to cancel`);
  return 0;
}
