import type { GlobalOptions } from '../connect';
import { apiClient } from '../connect';
import { print, printJson } from '../output';

export type Decision = 'approve' | 'deny' | 'resolve';

/**
 * `resurrect approve|deny|resolve <recovery-id> [--comment TEXT]`: an operator's decision for a recovery waiting
 * for one (notify-only, approval gates), over the API (POST /api/v1/recoveries/:id/decision, 202). The audit
 * trail records the token's name as who decided.
 */
export async function decideOverApi(recoveryId: string, decision: Decision, options: GlobalOptions & { comment?: string }): Promise<number> {
  const answer = await apiClient(options).decide(recoveryId, decision, options.comment);
  if (options.json) printJson(answer);
  else print(`${answer.decision} sent to ${answer.recoveryId} (by ${answer.by})`);
  return 0;
}

export const approve = (id: string, options: GlobalOptions & { comment?: string }) => decideOverApi(id, 'approve', options);
export const deny = (id: string, options: GlobalOptions & { comment?: string }) => decideOverApi(id, 'deny', options);
export const resolve = (id: string, options: GlobalOptions & { comment?: string }) => decideOverApi(id, 'resolve', options);
