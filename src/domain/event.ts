import * as t from 'io-ts';
import { HostName, InstanceId, IsoTime, Metadata } from './primitives';

export const FailureKind = t.keyof(
  { 'host-down': null, 'service-down': null, 'instance-down': null, 'host-degraded': null },
  'FailureKind',
);
export type FailureKind = t.TypeOf<typeof FailureKind>;

const EventBase = t.type({ kind: FailureKind, host: HostName });
const EventOptional = t.partial({
  instance: InstanceId,
  /** Who reported it: `sim`, `cli`, `api`, `masakari`, `pacemaker`, a monitor's name. */
  source: t.string,
  observedAt: IsoTime,
  details: Metadata,
});

/** A failure as reported, before normalisation: `instance` is required for `instance-down`. */
export const FailureEvent = t.refinement(
  t.intersection([EventBase, EventOptional]),
  (e) => (e.kind === 'instance-down') === (e.instance !== undefined),
  'FailureEvent (instance is required for instance-down and only allowed there)',
);
export type FailureEvent = t.TypeOf<typeof FailureEvent>;

/** The subject an incident is about: `host:compute-3` or `instance:<id>`. */
export function subjectOf(event: Pick<FailureEvent, 'kind' | 'host' | 'instance'>): string {
  return event.kind === 'instance-down' && event.instance ? `instance:${event.instance}` : `host:${event.host}`;
}

/**
 * Events with the same dedupe key join one incident. A host that is only being drained (service down,
 * degraded) and then dies is a new, graver failure: its host-down must open its own incident and fence,
 * not be swallowed as a duplicate of the drain. Per-instance locks keep the two from acting on one VM at once.
 */
export function dedupeKeyOf(event: Pick<FailureEvent, 'kind' | 'host' | 'instance'>): string {
  const subject = subjectOf(event);
  return event.kind === 'service-down' || event.kind === 'host-degraded' ? `${subject}:drain` : subject;
}
