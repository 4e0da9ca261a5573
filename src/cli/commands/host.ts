import type { GlobalOptions } from '../connect';
import { apiClient } from '../connect';
import { print, printJson } from '../output';

/**
 * `resurrect host return <host> [--reenable | --no-reenable] [--comment TEXT]`: bring a host Resurrect fenced
 * back into service (POST /api/v1/hosts/:host/return; operator role). Powers it on, lifts its forced_down once
 * Nova allows it, waits for its heartbeat, then enables its compute service — or keeps it disabled with
 * `--no-reenable` (neither flag: the host's policy params decide, else enable). Prints the incident it opened
 * (or joined, when a return of the host is under way); `resurrect audit <incident> --follow` shows the steps.
 * Exit 5 when refused: an incident about the host is still open, or the host is not forced down.
 */
export async function hostReturn(host: string, options: GlobalOptions & { reenable?: boolean; comment?: string }): Promise<number> {
  const answer = await apiClient(options).returnHost(host, {
    ...(options.reenable !== undefined ? { reenable: options.reenable } : {}),
    ...(options.comment !== undefined ? { comment: options.comment } : {}),
  });
  if (options.json) {
    printJson(answer);
    return 0;
  }
  const { incident, created } = answer;
  const reenable = 'reenable' in incident.event && incident.event.reenable === false ? ', keeping its service disabled' : '';
  print(`${created ? 'opened' : 'joined'} incident ${incident.id}: return of ${incident.host} to service${reenable} (${incident.workflow}, recovery ${incident.recoveryId})`);
  print(`follow it: resurrect audit ${incident.id} --follow`);
  return 0;
}
