import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock, Recovery } from '../domain';
import { isoNow } from '../domain';
import type { Notifier, Notification } from '../drivers/notify/port';
import type { ChildResult, ChildSpec, FenceEvidence, StepEngine } from '../plugins/api';
import type { AuditLog } from './audit-log';
import { childRecoveryId } from './ids';
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
}

/** The engine services one recovery's steps see. Every method is safe to repeat after a crash. */
export class RecoveryStepEngine implements StepEngine {
  constructor(private readonly deps: StepEngineDeps, private readonly recovery: Recovery, private readonly attempt: number) {}

  async spawnChildren(children: readonly ChildSpec[]): Promise<string[]> {
    const { redis, keys, store, queue, clock } = this.deps;
    const parent = this.recovery;
    const now = clock.now();
    const ids = children.map((child) => childRecoveryId(parent.id, child.key));
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
        params: { ...parent.params, ...(child.params ?? {}) },
      }, now);
    });
    await multi.exec();
    const priority = typeof parent.params.priority === 'number' ? parent.params.priority : undefined;
    for (const id of ids) await queue.enqueueRun(id, { priority });
    if (children.length > 0) {
      await this.audit(`fanned out ${children.length} child recover${children.length === 1 ? 'y' : 'ies'}`, { children: ids });
    }
    return ids;
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
