import * as t from 'io-ts';
import { defineStep } from '../plugins/api';

/** Fans out one child recovery per instance, each its own job with its own retries. Idempotent by key. */
export const spawnRecoveries = defineStep({
  name: 'spawnRecoveries',
  description: 'Start one child recovery per instance',
  input: t.intersection([
    t.type({ host: t.string, workflow: t.string, instances: t.array(t.type({ id: t.string })) }),
    // Distinguishes fan-outs of one parent (live migrations, then evacuations of the rest).
    t.partial({ keyPrefix: t.string }),
  ]),
  timeoutMs: 60_000,
  async run({ host, workflow, instances, keyPrefix }, { engine }) {
    const ids = await engine.spawnChildren(
      instances.map((i) => ({ key: `${keyPrefix ?? ''}${i.id}`, workflow, subject: { host, instance: i.id } as never })),
    );
    return { children: ids, count: ids.length };
  },
});
