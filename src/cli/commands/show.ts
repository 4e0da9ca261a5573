import type { Recovery } from '../../domain';
import type { ApiClient, AuditEntry, ChildSummary, IncidentView, RecoveryView } from '../api-client';
import { ApiClientError } from '../api-client';
import type { GlobalOptions } from '../connect';
import { apiClient } from '../connect';
import { integerOption, print, printJson, summary, table, took, when } from '../output';
import { formatAuditLine } from './audit';
import { outcomeText, statusOf, subjectOf } from './recoveries';

/** Audit lines shown at the end (`--lines`). */
const DEFAULT_LINES = 10;

/**
 * The view of an id over the API: `rec-…` a recovery (GET /api/v1/recoveries/:id), `inc-…` an incident (GET
 * /api/v1/incidents/:id), anything else an incident first, then a recovery.
 */
export async function viewOf(api: ApiClient, id: string): Promise<{ kind: 'incident'; view: IncidentView } | { kind: 'recovery'; view: RecoveryView }> {
  if (id.startsWith('rec-')) return { kind: 'recovery', view: await api.recovery(id) };
  try {
    return { kind: 'incident', view: await api.incident(id) };
  } catch (err) {
    if (id.startsWith('inc-') || !(err instanceof ApiClientError) || err.status !== 404) throw err;
    return { kind: 'recovery', view: await api.recovery(id) };
  }
}

/**
 * `resurrect show <incident-or-recovery-id> [--lines N] [--json]`: state, context, children and the last audit
 * lines. `--json` is the API's view as it answered (incident or recovery, with the whole audit trail).
 */
export async function show(id: string, options: GlobalOptions & { lines?: string }): Promise<number> {
  const lines = integerOption(options.lines, '--lines', 0, 100_000) ?? DEFAULT_LINES;
  const api = apiClient(options);
  const found = await viewOf(api, id);
  if (options.json) {
    printJson(found.view);
    return 0;
  }
  const out = found.kind === 'incident' ? incidentText(found.view) : recoveryText(found.view);
  out.push(...auditTail(found.kind === 'incident' ? found.view.audit : found.view.audit, lines, id));
  print(out.join('\n'));
  return 0;
}

function incidentText(view: IncidentView): string[] {
  const i = view.incident;
  const out = [
    `Incident ${i.id}: ${i.kind} of ${i.subject} — ${i.status}${i.outcome ? ` (${i.outcome})` : ''}${i.reason ? `: ${i.reason}` : ''}`,
    `  opened ${when(i.openedAt)}${i.closedAt ? `, closed ${when(i.closedAt)} (${took(i.openedAt, i.closedAt)} s)` : ''} UTC; workflow ${i.workflow}; `
      + `${1 + i.duplicates} event${i.duplicates === 0 ? '' : 's'}${i.event.source ? `, first from ${i.event.source}` : ''}`,
  ];
  if (view.recovery) out.push(...recoveryLines(view.recovery, 'Root recovery'));
  else out.push(`Root recovery ${i.recoveryId}: missing`);
  const c = view.children;
  if (c.total > 0) {
    const counts = (r: Record<string, number>) => Object.entries(r).map(([k, n]) => `${n} ${k}`).join(', ');
    out.push(`Children: ${c.total} — ${counts(c.byStatus)}${Object.keys(c.byOutcome).length > 0 ? `; ${counts(c.byOutcome)}` : ''}`);
    out.push(childTable(c.items));
  } else {
    out.push('Children: none');
  }
  return out;
}

function recoveryText(view: RecoveryView): string[] {
  const out = recoveryLines(view.recovery, 'Recovery');
  if (view.children.length > 0) {
    out.push(`Children: ${view.children.length}`);
    out.push(childTable(view.children.map((r) => ({ id: r.id, status: r.status, subject: r.subject, state: r.state, outcome: r.outcome, reason: outcomeText(r) }))));
  } else {
    out.push('Children: none');
  }
  return out;
}

function recoveryLines(r: Recovery, label: string): string[] {
  const out = [
    `${label} ${r.id} (${r.workflow}) for ${subjectOf(r)} — ${statusOf(r)}${r.state ? ` at ${r.state}` : ''}${r.reason ? `: ${r.reason}` : ''}`,
    `  incident ${r.incidentId}${r.parentId ? `; parent ${r.parentId}` : ''}; attempts ${r.attempts}; created ${when(r.createdAt)}`
      + `${r.finishedAt ? `, finished ${when(r.finishedAt)} (${took(r.createdAt, r.finishedAt)} s)` : `, updated ${when(r.updatedAt)}`} UTC`,
  ];
  const sla = r.ladder?.sla ?? (typeof r.params.sla === 'string' ? r.params.sla : undefined);
  if (sla || r.deadlineAt) out.push(`  SLA ${sla ?? '-'}${r.deadlineAt ? `, deadline ${when(r.deadlineAt)} UTC` : ''}${r.ladder ? `, escalation rung ${r.ladder.rung}` : ''}`);
  const params = summary(r.params, 100);
  if (params) out.push(`  params: ${params}`);
  const result = summary(r.result, 100);
  if (result) out.push(`  result: ${result}`);
  return out;
}

function childTable(items: readonly ChildSummary[]): string {
  return table(
    ['recovery', 'host', 'status', 'state', 'reason / result'],
    items.map((c) => [c.id, c.subject.host, statusOf({ status: c.status, outcome: c.outcome as Recovery['outcome'] }), c.state ?? '-', c.reason ?? '']),
  );
}

function auditTail(audit: readonly AuditEntry[], lines: number, id: string): string[] {
  if (lines === 0) return [];
  const shown = audit.slice(-lines);
  return [
    `Audit trail: ${shown.length === audit.length ? `${audit.length} record${audit.length === 1 ? '' : 's'}` : `the last ${shown.length} of ${audit.length}`} (all: resurrect audit ${id}; live: --follow)`,
    ...shown.map((e) => `  ${formatAuditLine(e.record)}`),
  ];
}
