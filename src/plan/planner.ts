/**
 * Gathers what a plan needs from a cloud driver, read-only, and plans: every host (capacity) and its
 * nova-compute state, the instances of the failed hosts, and the instances of the other hosts only when a VM
 * to move belongs to a server group (finding where its members run costs one listing per host).
 */
import type { ComputeService, FailureKind, Instance } from '../domain';
import type { CloudDriver } from '../drivers/cloud/port';
import { actionOf, checkFailedHosts, decideVm, needsTarget, planRecovery, type DecisionSource, type PlanLatency, type PlanLimits, type RecoveryPlan, type SlaLookup } from './plan';

export interface PlannerOptions extends DecisionSource {
  readonly cloud: CloudDriver;
  readonly sla: SlaLookup;
  readonly failedHosts: readonly string[];
  /** Default host-down. */
  readonly kind?: FailureKind;
  readonly limits: PlanLimits;
  readonly latency?: PlanLatency;
  /** Default: now. */
  readonly openedAtMs?: number;
  readonly now?: () => number;
  /** Driver calls in flight at once. Default 16. */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
}

/** Plans a failure of `failedHosts` against the cloud as it is now. Calls no mutating driver method. */
export async function planFromCloud(options: PlannerOptions): Promise<RecoveryPlan> {
  const { cloud, signal } = options;
  const kind = options.kind ?? 'host-down';
  const width = Math.max(1, options.concurrency ?? 16);
  const now = options.now ?? Date.now;
  const hosts = await cloud.listHosts({ signal });
  const failedHosts = checkFailedHosts(options.failedHosts, hosts);
  const failed = new Set(failedHosts);
  const [serviceList, failedLists] = await Promise.all([
    mapBounded(hosts.filter((h) => !failed.has(h.name)), width, (h) => cloud.getService(h.name, { signal })),
    mapBounded(failedHosts, width, (host) => cloud.listInstances(host, { signal })),
  ]);
  const services = new Map<string, ComputeService>(serviceList.map((s) => [s.host, s]));
  const onFailed = failedLists.flat();
  const hostByName = new Map(hosts.map((h) => [h.name as string, h]));
  // Decided here only to know whether a grouped VM moves; planRecovery decides again, from the same facts.
  const grouped = onFailed.some((i) => i.serverGroup !== undefined && needsTarget(actionOf(decideVm(options, kind, i, hostByName.get(i.host)).workflow, kind)));
  let others: Instance[] = [];
  if (grouped) {
    others = (await mapBounded(hosts.filter((h) => !failed.has(h.name)), width, (h) => cloud.listInstances(h.name, { signal }))).flat();
  }
  const openedAtMs = options.openedAtMs ?? now();
  return planRecovery({
    policy: options.policy,
    workflows: options.workflows,
    ...(options.baseParams ? { baseParams: options.baseParams } : {}),
    sla: options.sla,
    kind,
    failedHosts,
    hosts,
    services,
    instances: [...onFailed, ...others],
    openedAtMs,
    generatedAtMs: now(),
    limits: options.limits,
    ...(options.latency ? { latency: options.latency } : {}),
  });
}

/** `fn` over `items` with at most `width` calls in flight; results in the items' order. */
export async function mapBounded<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  });
  await Promise.all(lanes);
  return results;
}
