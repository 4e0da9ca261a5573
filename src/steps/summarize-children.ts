import * as t from 'io-ts';
import { summarizeOutcomes } from '../domain';
import { defineStep } from '../plugins/api';

/** Derives the parent's outcome from its children's recorded results (durable: read back from Redis). */
export const summarizeChildren = defineStep({
  name: 'summarizeChildren',
  description: "Summarize the children's outcomes",
  input: t.union([t.undefined, t.partial({ keyPrefix: t.string })]),
  timeoutMs: 30_000,
  async run(input, { engine }) {
    const prefix = input?.keyPrefix ?? '';
    const children = (await engine.childResults()).filter((c) => c.key.startsWith(prefix));
    const outcome = summarizeOutcomes(children.map((c) => c.outcome));
    const failed = children.filter((c) => c.outcome !== 'recovered' && c.outcome !== 'skipped');
    return {
      outcome,
      total: children.length,
      recovered: children.length - failed.length,
      failed: failed.map((c) => ({ instance: c.subject.instance ?? c.key, outcome: c.outcome, reason: c.reason ?? '' })),
      children: children.map((c) => ({
        instance: c.subject.instance ?? c.key, recoveryId: c.recoveryId, outcome: c.outcome, attempts: c.attempts, seconds: c.seconds,
        targetHost: typeof c.result?.targetHost === 'string' ? c.result.targetHost : undefined,
      })),
    };
  },
});
