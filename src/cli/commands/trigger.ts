import type { FailureKind, Incident } from '../../domain';
import type { GlobalOptions } from '../connect';
import { apiIfAvailable } from '../connect';
import { send } from './sim';

/**
 * `resurrect trigger <kind> <host> [--instance ID] [--source NAME]`: report a failure event only, as a monitor
 * would. The running engine receives it and decides, with its own configuration, what it starts.
 *
 * Over the API (POST /api/v1/incidents) when one is known (see `apiIfAvailable`): the event's source is then
 * recorded as `<source> via api:<token name>`. Otherwise through the engine's control channel on Redis (the
 * way before the API; `start --no-api`, `--prefix`). Either way `--json` prints `{incident, created}`.
 */
export async function trigger(kind: FailureKind, host: string, options: GlobalOptions & { instance?: string; source?: string }): Promise<number> {
  const event = { kind, host, source: options.source ?? 'cli', ...(options.instance ? { instance: options.instance } : {}) };
  const api = await apiIfAvailable(options);
  const answer: { incident: Incident; created: boolean } = api
    ? await api.report(event)
    : ((await send(options, { op: 'report', event })) as { incident: Incident; created: boolean });
  const { incident, created } = answer;
  if (options.json) process.stdout.write(`${JSON.stringify(api ? answer : { created, incident })}\n`);
  else process.stdout.write(`${created ? 'opened' : 'joined'} incident ${incident.id} (${incident.workflow}, recovery ${incident.recoveryId})\n`);
  return 0;
}
