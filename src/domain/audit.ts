import * as t from 'io-ts';
import { IsoTime } from './primitives';

/**
 * One line of the audit trail. Written on every transition of a recovery's machine and on every engine
 * decision about it (incident opened, duplicate joined, attempt failed, fan-out). Never holds secrets:
 * the writer passes `details` through `redact` first.
 */
export const AuditRecord = t.intersection(
  [
    t.type({
      at: IsoTime,
      /** `breaker`: the mass-failure breaker opened, held, was approved or closed (src/engine/breaker.ts). */
      type: t.keyof({ transition: null, incident: null, attempt: null, decision: null, notify: null, breaker: null }),
      incidentId: t.string,
      message: t.string,
    }),
    t.partial({
      recoveryId: t.string,
      workflow: t.string,
      from: t.string,
      to: t.string,
      event: t.string,
      attempt: t.number,
      worker: t.string,
      outcome: t.string,
      /** The SLA a finished recovery ran under (its `recovery <outcome>` record), for the metrics. */
      sla: t.string,
      /** Milliseconds spent in `from` before this transition. */
      durationMs: t.number,
      details: t.record(t.string, t.unknown),
    }),
  ],
  'AuditRecord',
);
export type AuditRecord = t.TypeOf<typeof AuditRecord>;

const SECRET_KEY = /pass(word|wd)?|secret|token|credential|private[-_]?key|api[-_]?key/i;

/** Replaces any value whose key looks like a secret, at any depth. */
export function redact<T>(value: T, depth = 0): T {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1)) as unknown as T;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    out[key] = SECRET_KEY.test(key) ? '[redacted]' : redact(v, depth + 1);
  }
  return out as T;
}
