import Table from 'cli-table3';
import { Redis } from 'ioredis';
import { createLogger } from '../../config/logger';
import { Keys } from '../../engine/keys';
import { SlaCompliance } from '../../engine/sla-compliance';
import type { SlaComplianceReport } from '../../engine/sla-compliance';
import type { GlobalOptions } from '../connect';
import { configFrom, locateRunningRedis } from '../connect';

const seconds = (value: number | null) => (value === null ? '-' : value.toFixed(1));
const ratio = (value: number | null) => (value === null ? '-' : `${(value * 100).toFixed(1)} %`);

export function formatSlaTable(reports: readonly SlaComplianceReport[], tty: boolean): string {
  const table = new Table({
    head: ['SLA', 'total', 'recovered', 'within deadline', 'breached', 'failed', 'escalated', 'compliance', 'p50 s', 'p95 s', 'max s'],
    style: { head: tty ? ['cyan'] : [], border: tty ? ['grey'] : [] },
  });
  for (const r of reports) {
    table.push([
      r.sla, String(r.total), String(r.recovered), `${r.withinDeadline} / ${r.withDeadline}`, String(r.breached), String(r.failed),
      String(r.escalated), ratio(r.compliance), seconds(r.p50Seconds), seconds(r.p95Seconds), seconds(r.maxSeconds),
    ]);
  }
  return table.toString();
}

/**
 * `resurrect sla [--json]`: SLA compliance of the running engine, per SLA (docs/writing-slas.md). JSON is the
 * report list itself (`SlaComplianceReportsCodec`), `[]` when nothing was recorded yet.
 */
export async function sla(options: GlobalOptions): Promise<number> {
  const config = configFrom(options);
  const { url, prefix } = await locateRunningRedis(config, createLogger({ level: 'warn' }));
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const reports = await new SlaCompliance(redis, new Keys(prefix)).report();
    if (options.json) process.stdout.write(`${JSON.stringify(reports)}\n`);
    else if (reports.length === 0) process.stdout.write(`no SLA compliance recorded yet (prefix ${prefix})\n`);
    else process.stdout.write(`${formatSlaTable(reports, Boolean(process.stdout.isTTY))}\n`);
    return 0;
  } finally {
    redis.disconnect();
  }
}
