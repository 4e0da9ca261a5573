import * as t from 'io-ts';
import { defineStep } from '../plugins/api';

/**
 * The question of an approval gate (workflows/shared/approval-states.ts): one audit line and one notification
 * saying what needs approving and how to answer. Repeating it after a crash asks twice, which is harmless.
 */
export const requestApproval = defineStep({
  name: 'requestApproval',
  description: "Ask an operator for an approval: audit it and notify 'approval needed' with the recovery id",
  input: t.type({ key: t.string, why: t.string }),
  timeoutMs: 30_000,
  async run({ key, why }, { engine, recovery }) {
    const answer = `resurrect decide ${recovery.recoveryId} approve|deny --by NAME`;
    await engine.audit(`approval needed (${key}): ${why}; waiting for an operator (${answer})`, { approval: key });
    await engine.notify({
      severity: 'warning',
      topic: 'approval.requested',
      summary: `approval needed: ${why} (recovery ${recovery.recoveryId}; answer with ${answer})`,
      details: { approval: key, host: recovery.subject.host },
    });
    return { asked: true };
  },
});
