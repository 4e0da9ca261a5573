/**
 * Incidents and recoveries: report a failure, read an incident or a recovery with its children and audit
 * trail, list incidents, and give a waiting recovery an operator's decision.
 */
import type { Incident, Recovery } from '../../domain';
import { FailureEvent } from '../../domain';
import {
  Cursor, DecisionBody, DecisionResult, IdParams, IncidentList, IncidentView, ListQuery, RecoveryView, ReportResult,
} from '../codecs';
import { defineRoute } from '../route';

const DEFAULT_PAGE = 50;

export const reportIncident = defineRoute({
  method: 'POST',
  url: '/api/v1/incidents',
  summary: 'Report a failure event',
  description: 'Opens an incident and starts its recovery (201), or joins the incident already open for the same subject (200). '
    + 'The event is recorded with `source` = `api:<token name>` (or `<source> via api:<token name>` when the body names one).',
  tags: ['incidents'],
  access: 'operator',
  mutates: true,
  input: { body: FailureEvent },
  response: { codec: ReportResult, statuses: { 201: 'incident opened', 200: 'the event joined an open incident' } },
  errors: { 409: 'the workflow chosen for the event is not registered' },
  async handler({ body, principal, deps }) {
    const by = `api:${principal!.name}`;
    const result = await deps.app.engine.report({ ...body, source: body.source ? `${body.source} via ${by}` : by });
    return { status: result.created ? 201 : 200, body: { incident: result.incident, created: result.created } };
  },
});

export const listIncidents = defineRoute({
  method: 'GET',
  url: '/api/v1/incidents',
  summary: 'List incidents, newest first',
  description: `Pages of \`limit\` incidents (default ${DEFAULT_PAGE}); pass \`nextCursor\` back as \`cursor\` for the next page.`,
  tags: ['incidents'],
  access: 'viewer',
  mutates: false,
  input: { query: ListQuery },
  response: { codec: IncidentList, statuses: { 200: 'a page of incidents' } },
  async handler({ query, deps }) {
    const limit = query.limit ?? DEFAULT_PAGE;
    const offset = query.cursor ?? 0;
    // One more than asked tells whether a next page exists.
    const rows = await deps.app.engine.listIncidents({ offset, limit: limit + 1 });
    const items = rows.slice(0, limit);
    return { status: 200, body: { items, nextCursor: rows.length > limit ? Cursor.encode(offset + limit) : null } };
  },
});

export const getIncident = defineRoute({
  method: 'GET',
  url: '/api/v1/incidents/:id',
  summary: 'An incident, its root recovery, a summary of its children and its audit trail',
  tags: ['incidents'],
  access: 'viewer',
  mutates: false,
  input: { params: IdParams },
  response: { codec: IncidentView, statuses: { 200: 'the incident' } },
  async handler({ params, deps }) {
    const incident: Incident = await deps.app.engine.incident(params.id);
    const recovery = await deps.app.engine.recovery(incident.recoveryId).catch(() => null);
    const [children, audit] = await Promise.all([deps.app.engine.children(incident.recoveryId), deps.app.engine.audit(incident.id)]);
    return { status: 200, body: { incident, recovery, children: summarize(children), audit } };
  },
});

export const getRecovery = defineRoute({
  method: 'GET',
  url: '/api/v1/recoveries/:id',
  summary: 'A recovery, its children and its audit trail',
  tags: ['recoveries'],
  access: 'viewer',
  mutates: false,
  input: { params: IdParams },
  response: { codec: RecoveryView, statuses: { 200: 'the recovery' } },
  async handler({ params, deps }) {
    const recovery = await deps.app.engine.recovery(params.id);
    const [children, audit] = await Promise.all([deps.app.engine.children(recovery.id), deps.app.engine.audit(recovery.id)]);
    return { status: 200, body: { recovery, children, audit } };
  },
});

export const decideRecovery = defineRoute({
  method: 'POST',
  url: '/api/v1/recoveries/:id/decision',
  summary: "Give an operator's decision to a recovery waiting for one",
  description: 'approve, deny or resolve (the `notify-only` workflow waits for one). Recorded in the audit trail with the token name as `by`.',
  tags: ['recoveries'],
  access: 'operator',
  mutates: true,
  input: { params: IdParams, body: DecisionBody },
  response: { codec: DecisionResult, statuses: { 202: 'the decision was recorded and the recovery woken' } },
  async handler({ params, body, principal, deps }) {
    await deps.app.engine.decide(params.id, body.decision, principal!.name, body.comment);
    return { status: 202, body: { recoveryId: params.id, decision: body.decision, by: principal!.name } };
  },
});

function summarize(children: readonly Recovery[]) {
  const byStatus: Record<string, number> = {};
  const byOutcome: Record<string, number> = {};
  for (const child of children) {
    byStatus[child.status] = (byStatus[child.status] ?? 0) + 1;
    if (child.outcome) byOutcome[child.outcome] = (byOutcome[child.outcome] ?? 0) + 1;
  }
  const items = children.map((c) => ({
    id: c.id, status: c.status, subject: c.subject,
    ...(c.state !== undefined ? { state: c.state } : {}), ...(c.outcome ? { outcome: c.outcome } : {}), ...(c.reason !== undefined ? { reason: c.reason } : {}),
  }));
  return { total: children.length, byStatus, byOutcome, items };
}
