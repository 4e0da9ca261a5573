import * as t from 'io-ts';
import { Outcome, RecoveryStatus } from './outcome';
import { HostName, InstanceId, IsoTime, NonNegativeInt } from './primitives';

export const RecoverySubject = t.intersection([t.type({ host: HostName }), t.partial({ instance: InstanceId })], 'RecoverySubject');
export type RecoverySubject = t.TypeOf<typeof RecoverySubject>;

export const Recovery = t.intersection(
  [
    t.type({
      id: t.string,
      incidentId: t.string,
      workflow: t.string,
      subject: RecoverySubject,
      status: RecoveryStatus,
      createdAt: IsoTime,
      updatedAt: IsoTime,
      attempts: NonNegativeInt,
      /** Workflow parameters, as decided when the recovery was created. */
      params: t.record(t.string, t.unknown),
    }),
    t.partial({
      parentId: t.string,
      state: t.string,
      outcome: Outcome,
      reason: t.string,
      finishedAt: IsoTime,
      /** Free-form result the workflow reports at its final state (target host, summary …). */
      result: t.record(t.string, t.unknown),
      /** When the SLA's RTO runs out (the incident's opening + the deadline); set when the recovery first runs. */
      deadlineAt: IsoTime,
      /** The escalation-ladder rung this recovery is on (an index into its SLA's `escalation`) and since when. */
      ladder: t.type({ sla: t.string, rung: t.number, startedAt: IsoTime, entry: t.number }),
    }),
  ],
  'Recovery',
);
export type Recovery = t.TypeOf<typeof Recovery>;
