/**
 * An operator returns a fenced host to service (`Engine.returnHost`; `POST /api/v1/hosts/:host/return`;
 * `resurrect host return`). Not a failure, so not a failure event and no policy rule picks its workflow; but it
 * is tracked like an incident: it opens an incident of kind `host-return` whose root recovery runs the
 * `return-to-service` workflow, so it has a subject lock, an audit trail, a job, cancel and retry like the rest.
 *
 * Refused, before anything is written:
 * - while an incident about the host is still open (a host-down being fenced and evacuated, or a drain):
 *   `RSR_SUBJECT_BUSY` — powering it on under a running evacuation would undo the fence it relies on;
 * - when Nova does not have the host's service forced down: `RSR_NOTHING_TO_RETURN` — Resurrect returns the
 *   hosts it fenced (power off confirmed, then forced down); a host never fenced, or already returned, has
 *   nothing to undo (a return that failed half-way is resumed with `retry`, not asked again).
 * A second request while a return of the host is open joins it (`created: false`), as a duplicate event does;
 * so does a host-level failure event reported meanwhile (`joinReturn`: the host is down because it boots).
 * Opening a return releases the dedupe keys the host's closed incidents still hold, so that a failure after
 * the host runs again opens a new incident instead of joining the one it was returned from.
 *
 * Params: the global `params` (poll interval, waits), then the params of the policy's decision for a failure of
 * this host (its host-down rule: where host-specific settings live, e.g. `reenable: false` for an aggregate whose
 * hosts must be checked before taking VMs again), then the request: `reenable` when the operator gives it,
 * `requestedBy`, `comment`. No SLA: a return has no deadline, ladder or compliance count.
 */
import type { Incident, Recovery } from '../domain';
import { decodeOrThrow, dedupeKeyOf, hostReturnKey, HostName, isoNow, nonRetryable } from '../domain';
import type { CloudDriver } from '../drivers/cloud/port';
import type { EngineDeps, ReportResult } from './engine';
import { newIncidentId, rootRecoveryId } from './ids';
import { jobOptionsFor } from './sla-job-options';

export const RETURN_WORKFLOW = 'return-to-service';

export interface HostReturnOptions {
  /** Who asks (the API's token name): recorded in the audit trail, the params and Nova's disabled reason. */
  readonly by: string;
  /** Where the request came from, as an event's source (`api:<name>`); default `by`. */
  readonly source?: string;
  /** Re-enable the compute service at the end (default: the host's policy params, else true). */
  readonly reenable?: boolean;
  readonly comment?: string;
}

/** How long the checks against the cloud may take before the request is refused as unavailable. */
const CHECK_TIMEOUT_MS = 10_000;

/** The dedupe keys under which an incident about the host may be open: its failures and its drains. */
const failureKeys = (host: string) => (['host-down', 'service-down'] as const).map((kind) => dedupeKeyOf({ kind, host: host as HostName }));

export async function returnHost(deps: EngineDeps, rawHost: string, options: HostReturnOptions): Promise<ReportResult> {
  const { incidents, queue, audit, clock, registry, settings, log, redis, keys } = deps;
  const host = decodeOrThrow(HostName, rawHost, 'host') as string;
  registry.workflow(RETURN_WORKFLOW); // not registered (a plugin set without it) ⇒ refuse before anything is written

  const open = await openIncidentAt(deps, hostReturnKey(host));
  if (open?.status === 'open') return joined(deps, open, options);
  for (const key of failureKeys(host)) {
    const busy = await openIncidentAt(deps, key);
    if (busy?.status === 'open') {
      throw nonRetryable('RSR_SUBJECT_BUSY', `${host} is still being recovered: incident ${busy.id} (${busy.kind}, ${busy.workflow}) is open; return the host once it has closed`, {
        details: { host, incident: busy.id, kind: busy.kind, workflow: busy.workflow },
      });
    }
  }
  const cloud = cloudOf(deps);
  const service = await cloud.getService(host, { signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) });
  if (!service.forcedDown) {
    throw nonRetryable('RSR_NOTHING_TO_RETURN', `${host} is not forced down (its compute service is ${service.status}, ${service.state}): there is nothing to return; Resurrect returns hosts it fenced`, {
      details: { host, status: service.status, state: service.state, forcedDown: false },
    });
  }

  const now = clock.now();
  const hostParams = await policyParams(deps, host, cloud);
  const reenable = options.reenable ?? (typeof hostParams.params.reenable === 'boolean' ? hostParams.params.reenable : undefined) ?? true;
  const reenableFrom = options.reenable !== undefined ? 'the request' : typeof hostParams.params.reenable === 'boolean' ? `policy rule ${hostParams.rule}` : 'the default';
  const source = options.source ?? options.by;
  const id = newIncidentId(now);
  const recoveryId = rootRecoveryId(id);
  const incident: Incident = {
    id, kind: 'host-return', subject: `host:${host}`, dedupeKey: hostReturnKey(host), host: host as Incident['host'], status: 'open', openedAt: isoNow(now),
    event: { kind: 'host-return', host: host as Incident['host'], source, requestedAt: isoNow(now), ...(options.reenable !== undefined ? { reenable: options.reenable } : {}), ...(options.comment ? { comment: options.comment } : {}) },
    duplicates: 0 as Incident['duplicates'], workflow: RETURN_WORKFLOW, recoveryId,
  };
  const recovery: Recovery = {
    id: recoveryId, incidentId: id, workflow: RETURN_WORKFLOW, status: 'queued', createdAt: isoNow(now), updatedAt: isoNow(now),
    attempts: 0 as Recovery['attempts'], subject: { host: host as Recovery['subject']['host'] },
    params: {
      ...settings.params,
      ...hostParams.params,
      ...(hostParams.policy ? { policy: hostParams.policy } : {}),
      requestedBy: options.by, reenable, ...(options.comment ? { comment: options.comment } : {}),
    },
  };
  // Closed incidents still hold their keys for the dedupe window. A closed return's: that one is over, this is a
  // new request. A closed failure's: once the host runs again, a failure of it is a new one, not a duplicate of
  // the failure it comes back from (while this return is open, failure events join it: see `openReturnOf`).
  for (const key of [hostReturnKey(host), ...failureKeys(host)]) {
    const stale = await redis.get(keys.subject(key));
    if (stale) await incidents.releaseClosed(key, stale);
  }
  const opened = await incidents.open(incident, recovery, now);
  if (!opened.created) {
    const racing = await incidents.get(opened.id);
    if (!racing) throw nonRetryable('RSR_INCIDENT_NOT_FOUND', `incident ${opened.id} holds the return of ${host} but is missing`);
    return joined(deps, racing, options);
  }
  await audit.write({
    at: isoNow(now), type: 'incident', incidentId: id, recoveryId, workflow: RETURN_WORKFLOW, worker: deps.node,
    message: `incident opened: host-return ${host} requested by ${options.by} (source ${source}); workflow ${RETURN_WORKFLOW}; `
      + `reenable ${reenable} (from ${reenableFrom})${options.comment ? `; comment: ${options.comment}` : ''}`,
    details: { event: incident.event, requestedBy: options.by, reenable, reenableFrom, service: { status: service.status, state: service.state, forcedDown: service.forcedDown } },
  });
  await queue.enqueueRun(recoveryId, jobOptionsFor(recovery.params, registry));
  log.info({ incident: id, recovery: recoveryId, host, by: options.by, reenable }, `incident ${id} opened: return of ${host} to service requested by ${options.by}`);
  return { incident, created: true };
}

/** The open return of `host`, if one is under way. */
export async function openReturnOf(deps: EngineDeps, host: string): Promise<Incident | undefined> {
  const incident = await openIncidentAt(deps, hostReturnKey(host));
  return incident?.status === 'open' ? incident : undefined;
}

/**
 * A host-level failure reported while the host is being returned joins the return instead of opening an
 * incident: the host is down because it is booting, and a fence now would fight the power-on. Counted and
 * audited like a duplicate; if the host really fails, the return escalates (no heartbeat) and a failure
 * reported after it closed opens an incident as usual.
 */
export async function joinReturn(deps: EngineDeps, incident: Incident, event: { readonly kind: string; readonly host: string; readonly source?: string }): Promise<ReportResult> {
  const duplicates = await deps.incidents.countDuplicate(incident.id);
  await deps.audit.write({
    at: isoNow(deps.clock.now()), type: 'incident', incidentId: incident.id, worker: deps.node,
    message: `${event.kind} event for ${event.host} from ${event.source ?? 'unknown'} while it is being returned to service: joined the return (${duplicates} so far), no fence`,
    details: { event },
  });
  deps.log.info({ incident: incident.id, host: event.host, kind: event.kind }, `${event.kind} for ${event.host} joined its return ${incident.id}`);
  return { incident: { ...incident, duplicates: duplicates as Incident['duplicates'] }, created: false };
}

async function openIncidentAt(deps: EngineDeps, dedupeKey: string): Promise<Incident | undefined> {
  const id = await deps.redis.get(deps.keys.subject(dedupeKey));
  return id ? deps.incidents.get(id) : undefined;
}

/** A request for a host whose return is under way joins it, counted and audited like a duplicate event. */
async function joined(deps: EngineDeps, incident: Incident, options: HostReturnOptions): Promise<ReportResult> {
  const duplicates = await deps.incidents.countDuplicate(incident.id);
  await deps.audit.write({
    at: isoNow(deps.clock.now()), type: 'incident', incidentId: incident.id, worker: deps.node,
    message: `return of ${incident.host} requested again by ${options.by} while it is under way: joined the incident (${duplicates} so far)`,
    details: { by: options.by, ...(options.reenable !== undefined ? { reenable: options.reenable } : {}), ...(options.comment ? { comment: options.comment } : {}) },
  });
  return { incident: { ...incident, duplicates: duplicates as Incident['duplicates'] }, created: false };
}

function cloudOf(deps: EngineDeps): CloudDriver {
  const cloud = deps.cloud ?? deps.policy?.cloud;
  if (!cloud) throw nonRetryable('RSR_CONFIG_INVALID', 'returning a host needs the cloud driver, and this engine was built without one');
  return cloud;
}

/**
 * The params the policy gives a failure of this host (its host-down decision, from the host's facts): the
 * host's own settings. None without a policy; facts that cannot be had leave the rules that need them out.
 */
async function policyParams(deps: EngineDeps, host: string, cloud: CloudDriver): Promise<{ params: Record<string, unknown>; rule?: string; policy?: { version: string; rule: string } }> {
  const policy = deps.policy;
  if (!policy) return { params: {} };
  const facts = await cloud.listHosts({ signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) }).then((hosts) => hosts.find((h) => h.name === host)).catch(() => undefined);
  const decision = policy.store.current().decide({ event: 'host-down', ...(facts ? { host: facts } : {}) });
  return { params: { ...decision.params }, rule: decision.rule, policy: { version: decision.policyVersion, rule: decision.rule } };
}
