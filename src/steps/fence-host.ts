import * as t from 'io-ts';
import { defineStep } from '../plugins/api';

export interface FenceHostOutput {
  readonly host: string;
  readonly level: number;
  readonly devices: readonly string[];
  readonly alreadyOff: boolean;
  readonly fencedAt: number;
}

/**
 * Powers the host off through the fencing topology (levels in order). A host already confirmed fenced for
 * this incident is not fenced again: a retried or resumed step must not act twice.
 */
export const fenceHost = defineStep({
  name: 'fenceHost',
  description: 'Power the host off through the fencing levels, in order',
  input: t.type({ host: t.string }),
  timeoutMs: 120_000,
  async run({ host }, { drivers, engine, clock, signal }): Promise<FenceHostOutput> {
    const evidence = await engine.fenceEvidence(host);
    if (evidence?.report) {
      return { host, level: evidence.report.level, devices: evidence.report.devices, alreadyOff: evidence.report.alreadyOff, fencedAt: evidence.at };
    }
    const fencedAt = clock.now();
    const report = await drivers.fencing.fence(host, { signal });
    await engine.audit(`fenced ${host} at level ${report.level} (${report.devices.join(', ')})${report.alreadyOff ? ', already off' : ''}`, {
      attempts: report.attempts,
    });
    return { host, level: report.level, devices: report.devices, alreadyOff: report.alreadyOff, fencedAt };
  },
});
