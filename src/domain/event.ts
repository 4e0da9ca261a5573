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

/**
 * What an incident can be about: a failure, or `host-return`, an operator's request to bring a fenced host back
 * into service. A return is no failure (no policy rule, SLA or breaker counts it), but it is tracked like an
 * incident — its own subject lock, root recovery, audit trail, cancel and retry — so it opens one of this kind.
 */
export const IncidentKind = t.keyof({ ...FailureKind.keys, 'host-return': null }, 'IncidentKind');
export type IncidentKind = t.TypeOf<typeof IncidentKind>;

/**
 * An operator's request to return a fenced host to service (`POST /api/v1/hosts/:host/return`, `resurrect host
 * return`), kept as the `event` of its incident. `source`: who asked (`api:<token name>`), as a failure event's
 * source says who reported it. `reenable`: the operator's choice, when given (else the params decide).
 */
export const HostReturnRequest = t.intersection([
  t.type({ kind: t.literal('host-return'), host: HostName, source: t.string, requestedAt: IsoTime }),
  t.partial({ reenable: t.boolean, comment: t.string }),
], 'HostReturnRequest');
export type HostReturnRequest = t.TypeOf<typeof HostReturnRequest>;

/** The first event of an incident: the failure reported, or the operator's return request. */
export const IncidentEvent = t.union([FailureEvent, HostReturnRequest], 'IncidentEvent');
export type IncidentEvent = t.TypeOf<typeof IncidentEvent>;

/** The dedupe key of a host's return: apart from its failures', so a return is not swallowed by a closed host-down. */
export const hostReturnKey = (host: string): string => `host:${host}:return`;
