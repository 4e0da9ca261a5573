import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock, Host, Instance, Recovery } from '../domain';
import { FailureKind } from '../domain';
import { isoNow } from '../domain';
import type { CloudDriver } from '../drivers/cloud/port';
import type { Notifier, Notification } from '../drivers/notify/port';
import type { Registry } from '../plugins/registry';
import type { PolicyStore } from '../policy/policy-store';
import type { ChildResult, ChildSpec, FenceEvidence, StepEngine } from '../plugins/api';
import type { AuditLog } from './audit-log';
import type { RecoveryGate } from './gates';
import { childRecoveryId } from './ids';
import { jobOptionsFor } from './sla-job-options';
import type { Keys } from './keys';
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
}

/** The engine services one recovery's steps see. Every method is safe to repeat after a crash. */
export class RecoveryStepEngine implements StepEngine {
  constructor(private readonly deps: StepEngineDeps, private readonly recovery: Recovery, private readonly attempt: number) {}

  async spawnChildren(children: readonly ChildSpec[]): Promise<string[]> {
    const { redis, keys, store, queue, clock } = this.deps;
    const parent = this.recovery;
    const now = clock.now();
    const ids = children.map((child) => childRecoveryId(parent.id, child.key));
    const paramsOf = await this.childParams(children);
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
        workflow: child.workflow,
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
   * failed host gets gold's SLA whatever the host's. Facts that cannot be had leave the parent's decision.
   */
  private async childParams(children: readonly ChildSpec[]): Promise<(child: ChildSpec) => Record<string, unknown>> {
    const parent = this.recovery;
    const inherit = (child: ChildSpec) => ({ ...parent.params, ...(child.params ?? {}) });
    const policy = this.deps.policy;
    const event = parent.params.event;
    if (!policy || !FailureKind.is(event) || children.every((c) => !c.subject.instance)) return inherit;
    const recorded = parent.params.policy as { version?: string } | undefined;
    const decider = (recorded?.version && policy.store.byVersion(recorded.version)) || policy.store.current();
    const signal = AbortSignal.timeout(5_000);
    const hosts = [...new Set(children.map((c) => c.subject.host))];
    const [allHosts, ...instanceLists] = await Promise.all([
      policy.cloud.listHosts({ signal }).catch(() => [] as Host[]),
      ...hosts.map((host) => policy.cloud.listInstances(host, { signal }).catch(() => [] as Instance[])),
    ]);
    const instances = new Map(instanceLists.flat().map((i) => [i.id as string, i]));
    return (child) => {
      const instance = child.subject.instance ? instances.get(child.subject.instance) : undefined;
      if (!instance) return inherit(child);
      const host = allHosts.find((h) => h.name === child.subject.host);
      const decision = decider.decide({ event, instance, ...(host ? { host } : {}) });
      return {
        ...inherit(child),
        ...decision.params,
        sla: decision.sla,
        policy: { version: decision.policyVersion, rule: decision.rule },
      };
    };
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
    const raw = await this.deps.redis.get(this.deps.keys.fence(this.recovery.incidentId, host));
    return raw ? (JSON.parse(raw) as FenceEvidence) : undefined;
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
