/**
 * The codecs of the API's inputs and answers that the domain does not already have: path parameters,
 * query-string numbers, the opaque list cursor, and the views that put several domain objects together.
 * Domain objects themselves (Incident, Recovery, AuditRecord, FailureEvent, the plan, SLAs) are the domain's
 * codecs, unchanged.
 */
import * as t from 'io-ts';
import { AuditRecord, FailureKind, HostName, Incident, IsoTime, NonNegativeInt, Recovery, RecoveryStatus, RecoverySubject, Outcome } from '../domain';
import { withJsonSchema } from './json-schema';

// The domain's brands say more than "a string with a name" in the document.
withJsonSchema(IsoTime, { type: 'string', format: 'date-time', description: 'IsoTime' });
withJsonSchema(NonNegativeInt, { type: 'integer', minimum: 0, description: 'NonNegativeInt' });

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** An incident or recovery id (`inc-…`, `rec-…`, `rec-….<instance>`). */
export const ResourceId = withJsonSchema(
  t.refinement(t.string, (s) => ID.test(s), 'ResourceId'),
  { type: 'string', pattern: ID.source, maxLength: 128, description: 'ResourceId' },
);

const NO_CONTROL = /^[^\u0000-\u001f\u007f]{1,255}$/;
/** A breaker scope: a zone, aggregate or segment name as the cloud spells it (or `unknown`). */
export const ScopeName = withJsonSchema(
  t.refinement(t.string, (s) => NO_CONTROL.test(s), 'ScopeName'),
  { type: 'string', minLength: 1, maxLength: 255, description: 'ScopeName' },
);

/** A free-text comment for the audit trail. */
export const Comment = withJsonSchema(
  t.refinement(t.string, (s) => s.length <= 1000, 'Comment'),
  { type: 'string', maxLength: 1000, description: 'Comment' },
);

export const IdParams = t.type({ id: ResourceId });
export const ScopeParams = t.type({ scope: ScopeName });

/** A whole number in the query string (`?limit=50`), between `min` and `max`. */
export function queryInteger(name: string, min: number, max: number): t.Type<number, string, unknown> {
  const codec = new t.Type<number, string, unknown>(
    name,
    (u): u is number => typeof u === 'number' && Number.isInteger(u) && u >= min && u <= max,
    (u, c) => {
      const n = typeof u === 'string' && /^\d{1,9}$/.test(u) ? Number(u) : Number.NaN;
      return Number.isInteger(n) && n >= min && n <= max ? t.success(n) : t.failure(u, c, `expected a whole number from ${min} to ${max}, got ${show(u)}`);
    },
    String,
  );
  return withJsonSchema(codec, { type: 'integer', minimum: min, maximum: max, description: name });
}

/**
 * The opaque position in a list (`nextCursor` of the previous page). Today it encodes an offset; clients must
 * not build or parse it, so it can become an index position later without changing the API.
 */
export const Cursor = withJsonSchema(
  new t.Type<number, string, unknown>(
    'Cursor',
    (u): u is number => typeof u === 'number' && Number.isInteger(u) && u >= 0,
    (u, c) => {
      const offset = typeof u === 'string' ? offsetOf(u) : undefined;
      return offset === undefined ? t.failure(u, c, 'expected a cursor from a previous page (nextCursor)') : t.success(offset);
    },
    (offset) => Buffer.from(`o:${offset}`, 'utf8').toString('base64url'),
  ),
  { type: 'string', maxLength: 64, description: 'Cursor: nextCursor of the previous page (opaque)' },
);

function offsetOf(cursor: string): number | undefined {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(cursor)) return undefined;
  const match = /^o:(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return match ? Number(match[1]) : undefined;
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

export const ListQuery = t.partial({ limit: queryInteger('Limit', 1, 500), cursor: Cursor });

export const IncidentList = t.type({
  items: t.array(Incident),
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: t.union([t.string, t.null]),
}, 'IncidentList');

export const AuditEntry = t.type({ id: t.string, record: AuditRecord }, 'AuditEntry');

export const ChildSummary = t.intersection([
  t.type({ id: t.string, status: RecoveryStatus, subject: RecoverySubject }),
  t.partial({ state: t.string, outcome: Outcome, reason: t.string }),
], 'ChildSummary');

export const ChildrenSummary = t.type({
  total: t.number,
  byStatus: t.record(t.string, t.number),
  byOutcome: t.record(t.string, t.number),
  items: t.array(ChildSummary),
}, 'ChildrenSummary');

export const IncidentView = t.type({
  incident: Incident,
  /** The root recovery with its state; null only if it is missing (a crash between writes). */
  recovery: t.union([Recovery, t.null]),
  children: ChildrenSummary,
  audit: t.array(AuditEntry),
}, 'IncidentView');

export const RecoveryView = t.type({ recovery: Recovery, children: t.array(Recovery), audit: t.array(AuditEntry) }, 'RecoveryView');

export const ReportResult = t.type({
  incident: Incident,
  /** false: the event joined an incident already open for its subject (HTTP 200 instead of 201). */
  created: t.boolean,
}, 'ReportResult');

export const DecisionBody = t.intersection([
  t.type({ decision: t.keyof({ approve: null, deny: null, resolve: null }, 'Decision') }),
  t.partial({ comment: Comment }),
], 'DecisionBody');

export const DecisionResult = t.type({ recoveryId: t.string, decision: t.string, by: t.string }, 'DecisionResult');

const ScopeStatus = t.intersection([
  t.type({
    scope: t.string,
    open: t.boolean,
    failedHosts: t.array(t.type({ host: t.string, at: t.string })),
    heldHosts: t.array(t.string),
    approvedHosts: t.array(t.string),
    heldRecoveries: t.array(t.type({ recoveryId: t.string, host: t.string, heldAt: t.string })),
  }),
  t.partial({ openedAt: t.string, reason: t.string, closedAt: t.string, closedBy: t.string }),
], 'ScopeStatus');

export const BreakerStatusView = t.type({
  enabled: t.boolean,
  scopeKind: t.keyof({ zone: null, aggregate: null, segment: null }),
  windowSeconds: t.number,
  maxHosts: t.number,
  maxShare: t.number,
  minScopeHosts: t.number,
  scopes: t.array(ScopeStatus),
}, 'BreakerStatus');

export const ApproveBody = t.partial({
  /** The held hosts to approve; default (or `"all"`): every held host. */
  hosts: t.union([t.array(HostName), t.literal('all')]),
  comment: Comment,
}, 'ApproveBody');

export const CloseBody = t.partial({ comment: Comment }, 'CloseBody');

export const ReleaseResult = t.intersection([
  t.type({ scope: t.string, approved: t.array(t.string), released: t.array(t.string) }),
  t.partial({ wasOpen: t.boolean }),
], 'ReleaseResult');

export const WorkflowList = t.type({
  items: t.array(t.type({
    name: t.string,
    description: t.string,
    handles: t.array(FailureKind),
    /** The file it was loaded from (`builtin:<plugin>` for built-ins); null when unknown. */
    source: t.union([t.string, t.null]),
    /** The xstate v5 statechart (`machine.toJSON()`; inline functions appear as null). */
    machine: t.UnknownRecord,
  })),
}, 'WorkflowList');

export const PolicyView = t.intersection([
  t.type({
    /** false: no `policy.file`; `workflows` (per failure kind) decides for everyone. */
    configured: t.boolean,
    workflows: t.record(t.string, t.string),
  }),
  t.partial({ file: t.string, version: t.string, document: t.UnknownRecord }),
], 'PolicyView');

export const PolicyReloadResult = t.type({ version: t.string, previous: t.string, changed: t.boolean }, 'PolicyReloadResult');

export const PluginErrorList = t.type({
  items: t.array(t.type({ file: t.string, reason: t.string, code: t.string })),
}, 'PluginErrorList');

export const PlanBody = t.intersection([
  t.type({ failedHosts: t.array(HostName) }),
  t.partial({ kind: t.keyof({ 'host-down': null, 'service-down': null, 'host-degraded': null }, 'PlanKind') }),
], 'PlanBody');

export const Health = t.type({ status: t.literal('ok'), uptimeSeconds: t.number }, 'Health');

export const Readiness = t.type({
  ready: t.boolean,
  checks: t.array(t.intersection([t.type({ name: t.string, ok: t.boolean }), t.partial({ detail: t.string })])),
}, 'Readiness');
