import type { Incident } from '../../domain';
import type { ApiClient, Page, Query } from '../api-client';
import type { GlobalOptions } from '../connect';
import { apiClient } from '../connect';
import { integerOption, print, printJson, table, timeOption, took, when } from '../output';

/** The filters `incidents` and `recoveries` share (their flags). */
export interface ListOptions {
  readonly status?: string;
  readonly host?: string;
  readonly instance?: string;
  readonly workflow?: string;
  readonly sla?: string;
  readonly since?: string;
  readonly until?: string;
  readonly limit?: string;
  readonly all?: boolean;
}

/** The API's query for the shared filters; `--since`/`--until` become `from`/`to` (ISO 8601). */
export function listQuery(options: ListOptions): Record<string, string | undefined> {
  return {
    status: options.status, host: options.host, instance: options.instance, workflow: options.workflow, sla: options.sla,
    from: timeOption(options.since, '--since'), to: timeOption(options.until, '--until'),
  };
}

/** Page size when following every page (`--all` without `--limit`). */
const ALL_PAGE = 200;

/**
 * One page (`--limit N`, the API's default 50 without it), or with `--all` every page, following `nextCursor`
 * (`--limit` is then the page size). The answer is the API's page; with `--all`, one `{items}` of them all.
 */
export async function collect<T>(options: ListOptions, fetchPage: (query: Query) => Promise<Page<T>>, query: Query): Promise<Page<T>> {
  const limit = integerOption(options.limit, '--limit', 1, 500);
  if (!options.all) return fetchPage({ ...query, limit });
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await fetchPage({ ...query, limit: limit ?? ALL_PAGE, cursor });
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return { items };
}

export function moreHint(page: Page<unknown>): string {
  return page.nextCursor ? `more: --all (or a larger --limit)\n` : '';
}

/** `resurrect incidents [filters] [--limit N] [--all] [--json]`: incidents, newest first (GET /api/v1/incidents). */
export async function incidents(options: GlobalOptions & ListOptions & { kind?: string }): Promise<number> {
  const api: ApiClient = apiClient(options);
  const page = await collect(options, (query) => api.listIncidents(query), { ...listQuery(options), kind: options.kind });
  if (options.json) {
    printJson(page);
    return 0;
  }
  if (page.items.length === 0) {
    print('no incidents');
    return 0;
  }
  print(formatIncidents(page.items));
  process.stdout.write(moreHint(page));
  return 0;
}

export function formatIncidents(items: readonly Incident[]): string {
  return table(
    ['incident', 'kind', 'subject', 'status', 'workflow', 'opened (UTC)', 'seconds', 'events', 'recovery'],
    items.map((i) => [
      i.id, i.kind, i.subject.replace(/^host:/, ''), i.outcome && i.status !== 'open' ? `${i.status} (${i.outcome})` : i.status,
      i.workflow, when(i.openedAt), took(i.openedAt, i.closedAt), String(1 + i.duplicates), i.recoveryId,
    ]),
  );
}
