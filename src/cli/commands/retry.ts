import type { GlobalOptions } from '../connect';
import { apiClient } from '../connect';
import { print, printJson } from '../output';

/**
 * `resurrect retry <recovery-id>`: run a recovery that ended failed, escalated, cancelled or partial again, from
 * the state where it failed (POST /api/v1/recoveries/:id/retry, 202). Exit 5 when it cannot be retried (still
 * running, recovered, skipped, or its parent is busy); 3 when there is no such recovery.
 */
export async function retry(recoveryId: string, options: GlobalOptions): Promise<number> {
  const answer = await apiClient(options).retry(recoveryId);
  if (options.json) {
    printJson(answer);
    return 0;
  }
  const from = answer.from === null ? 'from the start' : `from ${answer.from}`;
  const parts = [`${answer.recoveryId} retried ${from}: ${answer.status === 'queued' ? 'queued' : 'waiting again'}`];
  if (answer.children.length > 0) parts.push(`children run again: ${answer.children.join(', ')}`);
  if (answer.reopened.length > 0) parts.push(`reopened: ${answer.reopened.join(', ')}`);
  if (answer.incidentReopened) parts.push('its incident is open again');
  print(parts.join('; '));
  return 0;
}
