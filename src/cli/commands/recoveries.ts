import type { Recovery } from '../../domain';
import type { GlobalOptions } from '../connect';
import { apiClient } from '../connect';
import { print, printJson, summary, table, took, when } from '../output';
import { collect, listQuery, moreHint, type ListOptions } from './incidents';

/**
 * `resurrect recoveries [filters] [--outcome O] [--incident ID] [--parent ID] [--roots|--children] [--all]
 * [--json]`: recoveries, newest first (GET /api/v1/recoveries).
 */
export async function recoveries(options: GlobalOptions & ListOptions & { outcome?: string; incident?: string; parent?: string; roots?: boolean; children?: boolean }): Promise<number> {
  const api = apiClient(options);
  const root = options.roots ? 'true' : options.children ? 'false' : undefined;
  const query = { ...listQuery(options), outcome: options.outcome, incident: options.incident, parent: options.parent, root };
  const page = await collect(options, (q) => api.listRecoveries(q), query);
  if (options.json) {
    printJson(page);
    return 0;
  }
  if (page.items.length === 0) {
    print('no recoveries');
    return 0;
  }
  print(formatRecoveries(page.items));
  process.stdout.write(moreHint(page));
  return 0;
}

export function subjectOf(r: Pick<Recovery, 'subject'>): string {
  return r.subject.instance ? `${r.subject.instance} (${r.subject.host})` : r.subject.host;
}

export function statusOf(r: Pick<Recovery, 'status' | 'outcome'>): string {
  return r.status === 'done' && r.outcome ? `done (${r.outcome})` : r.status;
}

/** The reason, or the result without what the row already says (the instance is in a child's id). */
export function outcomeText(r: Pick<Recovery, 'reason' | 'result'>, max = 50): string {
  if (r.reason) return r.reason.length > max ? `${r.reason.slice(0, max - 1)}…` : r.reason;
  const { instance: _instance, host: _host, ...rest } = r.result ?? {};
  return summary(rest, max);
}

export function formatRecoveries(items: readonly Recovery[]): string {
  return table(
    ['recovery', 'host', 'workflow', 'status', 'state', 'attempts', 'created (UTC)', 'seconds', 'result / reason'],
    items.map((r) => [
      r.id, r.subject.host, r.workflow, statusOf(r), r.state ?? '-', String(r.attempts), when(r.createdAt), took(r.createdAt, r.finishedAt), outcomeText(r),
    ]),
  );
}
