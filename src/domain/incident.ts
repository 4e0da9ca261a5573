import * as t from 'io-ts';
import { IncidentEvent, IncidentKind } from './event';
import { IncidentStatus, Outcome } from './outcome';
import { HostName, InstanceId, IsoTime, NonNegativeInt } from './primitives';

export const Incident = t.intersection(
  [
    t.type({
      id: t.string,
      kind: IncidentKind,
      subject: t.string,
      /** Events with the same key join this incident while it is open and for the dedupe window after. */
      dedupeKey: t.string,
      host: HostName,
      status: IncidentStatus,
      openedAt: IsoTime,
      /** The first event (a failure, or an operator's return request); later duplicates only bump `duplicates`. */
      event: IncidentEvent,
      duplicates: NonNegativeInt,
      workflow: t.string,
      recoveryId: t.string,
    }),
    t.partial({ instance: InstanceId, closedAt: IsoTime, outcome: Outcome, reason: t.string }),
  ],
  'Incident',
);
export type Incident = t.TypeOf<typeof Incident>;
