import * as t from 'io-ts';
import { InputError } from '../domain';
import { defineStep } from '../plugins/api';

/**
 * An operator's word that a host whose fencing failed is powered off (Pacemaker's `stonith_admin --confirm`):
 * recorded as this incident's fence evidence, which the evacuations then require like any other. The machine
 * reaches this step only through an operator's `approve` (workflows/shared/approval-states.ts), and the
 * evidence says who gave it and when, so the trail shows a person, not a device, vouched for the power-off.
 */
export const attestFenced = defineStep({
  name: 'attestFenced',
  description: "Record an operator's confirmation that a host is powered off as its fence evidence",
  input: t.intersection([t.type({ host: t.string, by: t.string }), t.partial({ comment: t.string })]),
  timeoutMs: 30_000,
  async run({ host, by, comment }, { engine, clock }) {
    if (by.trim().length === 0) throw new InputError('a power-off attestation must name who gives it', [{ path: 'by', message: 'empty' }]);
    const existing = await engine.fenceEvidence(host);
    const at = existing?.at ?? clock.now();
    if (!existing) await engine.recordFence({ host, at, by: `operator:${by}` });
    await engine.audit(`power-off of ${host} attested by operator ${by}${comment ? ` (${comment})` : ''}: recorded as fence evidence; no device confirmed it`, {
      host, by, at: new Date(at).toISOString(), ...(comment ? { comment } : {}),
    });
    return { host, confirmedAt: at, by };
  },
});
