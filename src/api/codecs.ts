/**
 * The codecs of the API's inputs and answers that the domain does not already have: path parameters,
 * query-string numbers, booleans and times, the opaque list cursor, the filters of the lists and the event
 * stream, and the views that put several domain objects together.
 * Domain objects themselves (Incident, Recovery, AuditRecord, FailureEvent, the plan, SLAs) are the domain's
 * codecs, unchanged.
 */
import * as t from 'io-ts';
import {
  AuditRecord, FailureKind, HostName, Incident, IncidentKind, IncidentStatus, InstanceId, IsoTime, NonNegativeInt, Outcome, Recovery, RecoveryStatus, RecoverySubject,
} from '../domain';
import { AUDIT_TYPES } from '../engine/event-feed';
import type { AuditType } from '../engine/event-feed';
import { decodeCursor, MAX_PAGE } from '../engine/indexes';
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

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/**
 * The opaque position in a list (`nextCursor` of the previous page): a position in the filter indexes
 * (src/engine/indexes.ts). Clients pass it back unchanged; one this server did not hand out is refused here.
 */
export const ListCursor = withJsonSchema(
  t.refinement(t.string, (s) => /^[A-Za-z0-9_-]{1,256}$/.test(s) && isCursor(s), 'Cursor'),
  { type: 'string', maxLength: 256, description: 'Cursor: nextCursor of the previous page (opaque)' },
);

function isCursor(raw: string): boolean {
  try {
    decodeCursor(raw);
    return true;
  } catch {
    return false;
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** A workflow, SLA or other registered name in a filter. */
export const FilterName = withJsonSchema(
  t.refinement(t.string, (s) => NAME.test(s), 'Name'),
  { type: 'string', pattern: NAME.source, maxLength: 128, description: 'Name' },
);

const EPOCH_MS = /^\d{1,15}$/;
/** A time bound in the query string: ISO 8601 (`2026-05-01T12:00:00Z`) or epoch milliseconds. */
export const TimeBound = withJsonSchema(
  t.refinement(t.string, (s) => s.length <= 64 && (EPOCH_MS.test(s) || (/^\d{4}-\d{2}-\d{2}/.test(s) && Number.isFinite(Date.parse(s)))), 'TimeBound'),
  { type: 'string', maxLength: 64, description: 'TimeBound: ISO 8601 time or epoch milliseconds' },
);

/** `true` or `false` in the query string. */
export const QueryBoolean = withJsonSchema(
  new t.Type<boolean, string, unknown>(
    'QueryBoolean',
    (u): u is boolean => typeof u === 'boolean',
    (u, c) => (u === 'true' ? t.success(true) : u === 'false' ? t.success(false) : t.failure(u, c, `expected true or false, got ${show(u)}`)),
    String,
  ),
  { type: 'boolean', description: 'true or false' },
);

const Limit = queryInteger('Limit', 1, MAX_PAGE);

export const IncidentListQuery = t.partial({
  status: IncidentStatus,
  kind: IncidentKind,
  host: HostName,
  instance: InstanceId,
  workflow: FilterName,
  sla: FilterName,
  /** Opened at or after. */
  from: TimeBound,
  /** Opened at or before. */
  to: TimeBound,
  limit: Limit,
  cursor: ListCursor,
}, 'IncidentListQuery');

export const RecoveryListQuery = t.partial({
  status: RecoveryStatus,
  outcome: Outcome,
  host: HostName,
  instance: InstanceId,
  workflow: FilterName,
  sla: FilterName,
  /** Children of this recovery. */
  parent: ResourceId,
  /** Every recovery of this incident (its root and all descendants). */
  incident: ResourceId,
  /** true: root recoveries only (one per incident); false: children only. */
  root: QueryBoolean,
  /** Created at or after. */
  from: TimeBound,
  /** Created at or before. */
  to: TimeBound,
  limit: Limit,
  cursor: ListCursor,
}, 'RecoveryListQuery');

export const IncidentList = t.intersection([
  t.type({ items: t.array(Incident) }),
  /** Pass as `cursor` for the next page; absent on the last page. */
  t.partial({ nextCursor: t.string }),
], 'IncidentList');

export const RecoveryList = t.intersection([
  t.type({ items: t.array(Recovery) }),
  /** Pass as `cursor` for the next page; absent on the last page. */
  t.partial({ nextCursor: t.string }),
], 'RecoveryList');

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

export const CancelBody = t.partial({ reason: Comment }, 'CancelBody');

export const CancelResult = t.intersection([
  t.type({
    recoveryId: t.string,
    /** `cancelling`: requested now; `already-requested`: under way from an earlier call; `finished`: it had ended (nothing done). */
    state: t.keyof({ cancelling: null, 'already-requested': null, finished: null }),
    /** Descendants cancelled with it by this call. */
    descendants: t.array(t.string),
  }),
  /** How it had ended (`finished` only). */
  t.partial({ outcome: Outcome }),
], 'CancelResult');

export const RetryResult = t.type({
  recoveryId: t.string,
  /** The state it resumes at; null: from the start (no state was recorded). */
  from: t.union([t.string, t.null]),
  /** `queued`: a job runs it from `from`; `waiting`: it waits again (for an operator, or for its children). */
  status: t.keyof({ queued: null, waiting: null }),
  /** Its failed children, run again too. */
  children: t.array(t.string),
  /** Ancestors reopened to take it back. */
  reopened: t.array(t.string),
  incidentReopened: t.boolean,
}, 'RetryResult');

/** An audit-stream id (`1715000000000-0`): the SSE event id. */
export const StreamId = withJsonSchema(
  t.refinement(t.string, isStreamId, 'StreamId'),
  { type: 'string', pattern: '^\\d{1,20}(-\\d{1,20})?$', maxLength: 41, description: 'StreamId: the id of an event of the stream (1715000000000-0)' },
);

const U64_MAX = 18446744073709551615n;
/** `<ms>` or `<ms>-<seq>`, each part a 64-bit unsigned integer (Redis refuses larger ones). */
function isStreamId(s: string): boolean {
  const match = /^(\d{1,20})(?:-(\d{1,20}))?$/.exec(s);
  return match !== null && BigInt(match[1]!) <= U64_MAX && (match[2] === undefined || BigInt(match[2]) <= U64_MAX);
}

/** A comma-separated list of audit record types (`transition,incident`). */
export const AuditTypeList = withJsonSchema(
  new t.Type<AuditType[], string, unknown>(
    'AuditTypeList',
    (u): u is AuditType[] => Array.isArray(u) && u.every((v) => AUDIT_TYPES.includes(v as AuditType)),
    (u, c) => {
      if (typeof u !== 'string' || u.length > 200) return t.failure(u, c, `expected a comma-separated list of ${AUDIT_TYPES.join(', ')}`);
      const items = u.split(',').map((s) => s.trim()).filter((s) => s !== '');
      const unknown = items.filter((s) => !AUDIT_TYPES.includes(s as AuditType));
      if (items.length === 0 || unknown.length > 0) {
        return t.failure(u, c, `expected a comma-separated list of ${AUDIT_TYPES.join(', ')}${unknown.length > 0 ? `; unknown: ${show(unknown.join(','))}` : ''}`);
      }
      return t.success([...new Set(items)] as AuditType[]);
    },
    (types) => types.join(','),
  ),
  { type: 'string', maxLength: 200, description: `AuditTypeList: comma-separated, of ${AUDIT_TYPES.join(', ')}` },
);

export const EventsQuery = t.partial({
  /** Only this incident's records (its recoveries' too). */
  incident: ResourceId,
  /** Only this recovery's records. */
  recovery: ResourceId,
  types: AuditTypeList,
  /** true: from the start of that trail (the incident's or recovery's; the global stream's oldest kept record), then live. */
  replay: QueryBoolean,
}, 'EventsQuery');

export const EventsHeaders = t.partial({
  /** Resume after this event (what a reconnecting EventSource sends); wins over `replay`. */
  'last-event-id': StreamId,
}, 'EventsHeaders');

/** What the stream's text looks like (documentation only: each event's data is an AuditRecord). */
export const EventStreamText = withJsonSchema(t.refinement(t.string, () => true, 'EventStream'), {
  type: 'string',
  description: 'text/event-stream. Per audit record: `id: <stream id>`, `event: <record type>`, `data: <AuditRecord JSON>`, a blank line; '
    + 'a comment line (`: heartbeat`) every 15 s. Reconnect with `Last-Event-ID: <last id seen>` and the same query to miss nothing.',
});

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
