/**
 * Incidents and recoveries: report a failure, read an incident or a recovery with its children and audit
 * trail, list incidents and recoveries by filter, give a waiting recovery an operator's decision, cancel a
 * recovery, and retry a finished one from the state where it failed.
 */
import * as t from 'io-ts';
import type { Incident, Recovery } from '../../domain';
import { FailureEvent } from '../../domain';
import type { Page } from '../../engine/indexes';
import {
  CancelBody, CancelResult, DecisionBody, DecisionResult, IdParams, IncidentList, IncidentListQuery, IncidentView,
  RecoveryList, RecoveryListQuery, RecoveryView, ReportResult, RetryResult,
} from '../codecs';
import { relocate } from '../http-errors';
import { defineRoute } from '../route';

const DEFAULT_PAGE = 50;

/** A filter the engine refused names its field as the client sent it (`query.cursor`). */
/** A failure event, and optionally the workflow an operator chooses for it instead of the policy's. */
const ReportBody = t.intersection([FailureEvent, t.partial({ workflow: t.string })], 'ReportBody');

const inQuery = (path: string) => (path === '' || path === '(root)' ? 'query' : `query.${path}`);

/** The engine's page as the answer: `nextCursor` only when there is a next page. */
function pageOf<T>(page: Page<T>): { items: T[]; nextCursor?: string } {
  return { items: page.items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
}

export const reportIncident = defineRoute({
  method: 'POST',
  url: '/api/v1/incidents',
  summary: 'Report a failure event',
  description: 'Opens an incident and starts its recovery (201), or joins the incident already open for the same subject (200). '
    + 'An optional `workflow` overrides the policy\'s choice (e.g. one VM live-migrated with `live-migrate-instance`); it must be '
    + 'registered and allowed by the SLA the policy gives the subject, and the audit says who chose it. '
    + 'The event is recorded with `source` = `api:<token name>` (or `<source> via api:<token name>` when the body names one).',
  tags: ['incidents'],
  access: 'operator',
  mutates: true,
  input: { body: ReportBody },
  response: { codec: ReportResult, statuses: { 201: 'incident opened', 200: 'the event joined an open incident' } },
  errors: { 409: 'the workflow chosen for the event is not registered' },
  async handler({ body, principal, deps }) {
    const by = `api:${principal!.name}`;
    const { workflow, ...event } = body;
    let result;
    try {
      result = await deps.app.engine.report({ ...event, source: event.source ? `${event.source} via ${by}` : by }, workflow ? { workflow, by } : {});
    } catch (err) {
      throw relocate(err, (path) => `body.${path}`);
    }
    return { status: result.created ? 201 : 200, body: { incident: result.incident, created: result.created } };
  },
});

export const listIncidents = defineRoute({
  method: 'GET',
  url: '/api/v1/incidents',
  summary: 'List incidents, newest first, filtered',
  description: `Every given filter must match (status, kind, host, instance, workflow, SLA, opened between \`from\` and \`to\`). `
    + `Pages of \`limit\` incidents (default ${DEFAULT_PAGE}); pass \`nextCursor\` back as \`cursor\` (with the same filters) for the next page; `
    + 'it is absent on the last page. Served from the filter indexes, never a scan.',
  tags: ['incidents'],
  access: 'viewer',
  mutates: false,
  input: { query: IncidentListQuery },
  response: { codec: IncidentList, statuses: { 200: 'a page of incidents' } },
  async handler({ query, deps }) {
    try {
      return { status: 200, body: pageOf(await deps.app.engine.listIncidents({ ...query, limit: query.limit ?? DEFAULT_PAGE })) };
    } catch (err) {
      throw relocate(err, inQuery);
    }
  },
});

export const listRecoveries = defineRoute({
  method: 'GET',
  url: '/api/v1/recoveries',
  summary: 'List recoveries, newest first, filtered',
  description: `Every given filter must match (status, outcome, host, instance, workflow, SLA, parent, incident, root or child, `
    + `created between \`from\` and \`to\`). Paged like \`GET /api/v1/incidents\` (default ${DEFAULT_PAGE}).`,
  tags: ['recoveries'],
  access: 'viewer',
  mutates: false,
  input: { query: RecoveryListQuery },
  response: { codec: RecoveryList, statuses: { 200: 'a page of recoveries' } },
  async handler({ query, deps }) {
    try {
      return { status: 200, body: pageOf(await deps.app.engine.listRecoveries({ ...query, limit: query.limit ?? DEFAULT_PAGE })) };
    } catch (err) {
      throw relocate(err, inQuery);
    }
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

export const cancelRecovery = defineRoute({
  method: 'POST',
  url: '/api/v1/recoveries/:id/cancel',
  summary: 'Cancel a recovery and its descendants',
  description: 'A running recovery stops within about a second (the step in flight is cancelled), a parked or queued one at once; '
    + "a root recovery's incident closes `cancelled`. Repeating the call changes nothing (`already-requested`, or `finished` once it ended). "
    + 'Recorded in the audit trail with the token name as `by` and the reason.',
  tags: ['recoveries'],
  access: 'operator',
  mutates: true,
  input: { params: IdParams, body: CancelBody },
  response: { codec: CancelResult, statuses: { 202: 'the cancel was requested (or had been, or the recovery had ended: see `state`)' } },
  async handler({ params, body, principal, deps }) {
    const result = await deps.app.engine.cancel(params.id, principal!.name, body.reason);
    return {
      status: 202,
      body: { recoveryId: result.recoveryId, state: result.state, descendants: [...result.descendants], ...(result.outcome ? { outcome: result.outcome } : {}) },
    };
  },
});

export const retryRecovery = defineRoute({
  method: 'POST',
  url: '/api/v1/recoveries/:id/retry',
  summary: 'Run a failed, escalated, cancelled or partial recovery again, from the state where it failed',
  description: 'Not from the start: the machine re-enters the state whose step failed (or where it waited) and runs that step again; '
    + 'a parent waiting for its children runs its failed children again; a finished parent and the incident are reopened to take it back. '
    + 'Takes no body (or `{}`). Recorded in the audit trail with the token name as `by` and the state it resumes at.',
  tags: ['recoveries'],
  access: 'operator',
  mutates: true,
  input: { params: IdParams },
  response: { codec: RetryResult, statuses: { 202: 'the recovery was reopened and runs (or waits) again from `from`' } },
  errors: {
    409: 'RSR_RECOVERY_NOT_RETRYABLE: not finished, recovered or skipped, or its parent is running; '
      + 'RSR_SUBJECT_BUSY: another open incident now holds its subject',
  },
  async handler({ params, principal, deps }) {
    const result = await deps.app.engine.retry(params.id, principal!.name);
    return {
      status: 202,
      body: {
        recoveryId: result.recoveryId, from: result.from, status: result.status,
        children: [...result.children], reopened: [...result.reopened], incidentReopened: result.incidentReopened,
      },
    };
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
