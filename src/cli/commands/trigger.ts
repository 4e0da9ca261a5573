import type { FailureKind, Incident } from '../../domain';
import type { GlobalOptions } from '../connect';
import { send } from './sim';

/**
 * `resurrect trigger <kind> <host> [--instance ID]`: report a failure event only, as a monitor would. The
 * running engine receives it and decides, with its own configuration, what it starts.
 */
export async function trigger(kind: FailureKind, host: string, options: GlobalOptions & { instance?: string; source?: string }): Promise<number> {
  const event = { kind, host, source: options.source ?? 'cli', ...(options.instance ? { instance: options.instance } : {}) };
  const { incident, created } = (await send(options, { op: 'report', event })) as { incident: Incident; created: boolean };
  if (options.json) process.stdout.write(`${JSON.stringify({ created, incident })}\n`);
  else process.stdout.write(`${created ? 'opened' : 'joined'} incident ${incident.id} (${incident.workflow}, recovery ${incident.recoveryId})\n`);
  return 0;
}
