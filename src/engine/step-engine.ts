import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock, Host, Instance, Recovery } from '../domain';
import { FailureKind } from '../domain';
import { isoNow, seenInstance } from '../domain';
import type { CloudDriver } from '../drivers/cloud/port';
import type { Notifier, Notification } from '../drivers/notify/port';
import type { Registry } from '../plugins/registry';
import type { PolicyStore } from '../policy/policy-store';
import type { ChildResult, ChildSpec, FenceEvidence, StepEngine } from '../plugins/api';
import type { AuditLog } from './audit-log';
import type { RecoveryGate } from './gates';
import type { IncidentStore } from './incident-store';
import type { DecidedVm, PlacedVm, ServiceState } from '../plan/plan';
import { actionOf, rankAndPlace } from '../plan/plan';
import { mapBounded } from '../plan/planner';
import { childRecoveryId } from './ids';
import { jobOptionsFor } from './sla-job-options';
import type { Keys } from './keys';
import type { PollPacer } from './poll-pacer';
import type { RecoveryQueue } from './recovery-queue';
import type { RecoveryStore } from './recovery-store';

export interface StepEngineDeps {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly store: RecoveryStore;
  readonly queue: RecoveryQueue;
  readonly audit: AuditLog;
  readonly notifier: Notifier;
  readonly clock: Clock;
  readonly log: Logger;
  readonly worker: string;
  readonly registry: Registry;
  /** The policy, when configured: each child is decided again from its own instance's facts. */
  readonly policy?: { readonly store: PolicyStore; readonly cloud: CloudDriver };
  /** Told about children before their jobs exist (admission puts them in line by rank). */
  readonly gates?: readonly RecoveryGate[];
  /** The cloud, for placement when there is no policy (with one, the policy's cloud is the same driver). */
  readonly cloud?: CloudDriver;
  readonly incidents?: IncidentStore;
  /** Spaces the polls of every recovery of this process (`worker.pollsPerSecond`). */
  readonly pacer?: PollPacer;
}

/** How long gathering facts for decisions and placement at fan-out may take. */
const FACTS_TIMEOUT_MS = 5_000;

/** The engine services one recovery's steps see. Every method is safe to repeat after a crash. */
export class RecoveryStepEngine implements StepEngine {
  /** Instances whose own decision is to wait for an operator: their child runs that workflow instead. */
  private readonly operatorWorkflows = new Map<string, string>();

  constructor(private readonly deps: StepEngineDeps, private readonly recovery: Recovery, private readonly attempt: number) {}

  async spawnChildren(children: readonly ChildSpec[]): Promise<string[]> {
    const { redis, keys, store, queue, clock } = this.deps;
    const parent = this.recovery;
    const now = clock.now();
    const ids = children.map((child) => childRecoveryId(parent.id, child.key));
    const paramsOf = await this.childParams(children);
    const workflowOf = (child: ChildSpec) => this.operatorWorkflows.get(child.subject.instance ?? '') ?? child.workflow;
    // Register every child before any job exists: a fast child must not find the set incomplete and wake
    // the parent early.
    const multi = redis.multi();
    children.forEach((child, i) => {
      const id = ids[i] as string;
      multi.hsetnx(keys.children(parent.id), child.key, id);
      store.create(multi, {
        id,
        incidentId: parent.incidentId,
        parentId: parent.id,
        workflow: workflowOf(child),
        subject: child.subject,
        status: 'queued',
        createdAt: isoNow(now),
        updatedAt: isoNow(now),
        attempts: 0 as Recovery['attempts'],
        params: paramsOf(child),
      }, now);
    });
    await multi.exec();
    // The params that count are the ones stored first (a re-run after a crash must not change them).
    const stored = await Promise.all(ids.map((id) => store.get(id)));
    for (const gate of this.deps.gates ?? []) await gate.enlist?.(stored.filter((r): r is Recovery => r !== undefined && r.status !== 'done'));
    for (const [i, id] of ids.entries()) await queue.enqueueRun(id, jobOptionsFor(stored[i]?.params ?? parent.params, this.deps.registry));
    if (children.length > 0) {
      await this.audit(`fanned out ${children.length} child recover${children.length === 1 ? 'y' : 'ies'}`, { children: ids });
    }
    return ids;
  }

  /**
   * Each child's params: the parent's, the child's own, and — with a policy — the decision for its instance
   * under the policy version the parent recorded (an in-flight recovery keeps its version), so a gold VM on a
   * failed host gets gold's SLA whatever the host's. Then the same ranking and placement a dry-run plan uses
   * (`src/plan/plan.ts`): each VM that will be evacuated gets a target host with room (`target`), in rank
   * order, or the reason none fits (`noTarget`) before anything acts. Facts that cannot be had leave the
   * parent's decision and no target (Nova's scheduler chooses).
   */
  private async childParams(children: readonly ChildSpec[]): Promise<(child: ChildSpec) => Record<string, unknown>> {
    const parent = this.recovery;
    const inherit = (child: ChildSpec) => ({ ...parent.params, ...(child.params ?? {}) });
    const cloud = this.deps.policy?.cloud ?? this.deps.cloud;
    const event = parent.params.event;
    if (!cloud || !FailureKind.is(event) || children.every((c) => !c.subject.instance)) return inherit;
    const policy = this.deps.policy;
    const recorded = parent.params.policy as { version?: string } | undefined;
    const decider = policy ? (recorded?.version && policy.store.byVersion(recorded.version)) || policy.store.current() : undefined;
    const signal = AbortSignal.timeout(FACTS_TIMEOUT_MS);
    const failedHosts = [...new Set(children.map((c) => c.subject.host))];
    // Before the reads, so that a child judging how old they are never finds them younger than they are.
    const seenAt = isoNow(this.deps.clock.now());
    const [allHosts, ...instanceLists] = await Promise.all([
      cloud.listHosts({ signal }).catch(() => [] as Host[]),
      ...failedHosts.map((host) => cloud.listInstances(host, { signal }).catch(() => [] as Instance[])),
    ]);
    const instances = new Map(instanceLists.flat().map((i) => [i.id as string, i]));
    const hostByName = new Map(allHosts.map((h) => [h.name as string, h]));
    const decided = new Map<string, DecidedVm>();
    for (const child of children) {
      const instance = child.subject.instance ? instances.get(child.subject.instance) : undefined;
      if (!instance) continue;
      const host = hostByName.get(child.subject.host);
      const decision = decider?.decide({ event, instance, ...(host ? { host } : {}) });
      decided.set(instance.id, {
        instance,
        decision: {
          rule: decision?.rule ?? null,
          sla: decision?.sla ?? (typeof parent.params.sla === 'string' ? parent.params.sla : null),
          // What runs is the child's workflow, unless the VM's own decision leaves it to an operator (a dev
          // VM under notify-only on a failed host): the plan says so too (`actionOf`), so the run must.
          workflow: decision && actionOf(decision.workflow, event) === 'operator' ? decision.workflow : child.workflow,
          params: { ...inherit(child), ...(decision?.params ?? {}) },
          policyVersion: decision?.policyVersion ?? null,
        },
      });
    }
    for (const vm of decided.values()) {
      if (actionOf(vm.decision.workflow, event) === 'operator' && this.deps.registry.findWorkflow(vm.decision.workflow)) this.operatorWorkflows.set(vm.instance.id, vm.decision.workflow);
    }
    const placed = await this.place([...decided.values()], event, allHosts, failedHosts, cloud, signal);
    return (child) => {
      const vm = child.subject.instance ? decided.get(child.subject.instance) : undefined;
      if (!vm) return inherit(child);
      const spot = placed.get(vm.instance.id);
      return {
        ...vm.decision.params,
        ...(vm.decision.sla ? { sla: vm.decision.sla } : {}),
        ...(vm.decision.rule && vm.decision.policyVersion ? { policy: { version: vm.decision.policyVersion, rule: vm.decision.rule } } : {}),
        ...(spot ? { order: spot.order, ...(spot.target ? { target: spot.target } : {}), ...(spot.reason ? { noTarget: spot.reason } : {}) } : {}),
        seen: seenInstance(vm.instance, seenAt),
      };
    };
  }

  /** Ranks and places the VMs as a plan would; audits what will not fit before anything acts. */
  private async place(vms: readonly DecidedVm[], kind: FailureKind, hosts: readonly Host[], failedHosts: readonly string[], cloud: CloudDriver, signal: AbortSignal): Promise<Map<string, PlacedVm>> {
    if (vms.length === 0 || hosts.length === 0) return new Map();
    try {
      const candidates = hosts.filter((h) => !failedHosts.includes(h.name));
      const services = new Map<string, ServiceState>();
      await mapBounded(candidates, 16, async (h) => {
        const service = await cloud.getService(h.name, { signal }).catch(() => undefined);
        if (service) services.set(h.name, service);
      });
      const others = vms.some((vm) => vm.instance.serverGroup)
        ? (await mapBounded(candidates, 16, (h) => cloud.listInstances(h.name, { signal }).catch(() => [] as Instance[]))).flat()
        : [];
      const incident = await this.deps.incidents?.get(this.recovery.incidentId);
      const openedAtMs = incident ? Date.parse(incident.openedAt) : Date.parse(this.recovery.createdAt);
      const placed = rankAndPlace({ vms, kind, openedAtMs, sla: (name) => this.deps.registry.findSla(name), hosts, services, failedHosts, others });
      const wontFit = placed.filter((vm) => vm.target === null && vm.reason);
      if (wontFit.length > 0) {
        await this.audit(`placement: ${placed.length - wontFit.length} of ${placed.length} VMs have a target; ${wontFit.length} will not fit: ${wontFit.map((vm) => vm.reason).join('; ')}`, {
          wontFit: wontFit.map((vm) => ({ instance: vm.instance.id, reason: vm.reason })),
        });
      }
      return new Map(placed.map((vm) => [vm.instance.id as string, vm]));
    } catch (err) {
      this.deps.log.warn({ err, recovery: this.recovery.id }, 'placement failed; the cloud\'s scheduler will choose targets');
      return new Map();
    }
  }

  async childResults(): Promise<ChildResult[]> {
    const { redis, keys } = this.deps;
    const [order, results] = await Promise.all([
      redis.hgetall(keys.children(this.recovery.id)),
      redis.hgetall(keys.childResults(this.recovery.id)),
    ]);
    return Object.values(order)
      .map((id) => results[id])
      .filter((raw): raw is string => raw !== undefined)
      .map((raw) => JSON.parse(raw) as ChildResult);
  }

  async recordFence(evidence: FenceEvidence): Promise<void> {
    await this.deps.redis.set(this.deps.keys.fence(this.recovery.incidentId, evidence.host), JSON.stringify(evidence));
  }

  async fenceEvidence(host: string): Promise<FenceEvidence | undefined> {
    const [raw, returned] = await this.deps.redis.mget(this.deps.keys.fence(this.recovery.incidentId, host), this.deps.keys.hostReturned(host));
    if (!raw) return undefined;
    const evidence = JSON.parse(raw) as FenceEvidence;
    // Powered on again since (a return to service): this power-off is history, not evidence.
    return returned && evidence.at <= Number(returned) ? undefined : evidence;
  }

  async revokeFences(host: string): Promise<void> {
    await this.deps.redis.set(this.deps.keys.hostReturned(host), String(this.deps.clock.now()));
  }

  async pollTurn(signal?: AbortSignal): Promise<void> {
    await this.deps.pacer?.turn(signal);
  }

  async audit(message: string, details?: Record<string, unknown>): Promise<void> {
    await this.deps.audit.write({
      at: isoNow(this.deps.clock.now()),
      type: 'decision',
      incidentId: this.recovery.incidentId,
      recoveryId: this.recovery.id,
      workflow: this.recovery.workflow,
      attempt: this.attempt,
      worker: this.deps.worker,
      message,
      ...(details ? { details } : {}),
    });
  }

  async notify(notification: Notification): Promise<void> {
    const full: Notification = { incidentId: this.recovery.incidentId, recoveryId: this.recovery.id, ...notification };
    await this.deps.notifier.notify(full);
    await this.deps.audit.write({
      at: isoNow(this.deps.clock.now()),
      type: 'notify',
      incidentId: this.recovery.incidentId,
      recoveryId: this.recovery.id,
      workflow: this.recovery.workflow,
      worker: this.deps.worker,
      message: `${notification.severity} ${notification.topic}: ${notification.summary}`,
    });
  }
}
