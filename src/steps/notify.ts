import * as t from 'io-ts';
import { defineStep } from '../plugins/api';

export const notify = defineStep({
  name: 'notify',
  description: 'Send a notification through the configured notifiers',
  input: t.intersection([
    t.type({ severity: t.keyof({ info: null, warning: null, critical: null }), topic: t.string, summary: t.string }),
    t.partial({ details: t.record(t.string, t.unknown) }),
  ]),
  timeoutMs: 30_000,
  async run(input, { engine }) {
    await engine.notify(input);
    return { sent: true };
  },
});
