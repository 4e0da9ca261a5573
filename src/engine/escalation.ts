import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock, Recovery } from '../domain';
import { isoNow } from '../domain';
import type { Notifier } from '../drivers/notify/port';
import type { RecoveryOutput } from '../plugins/api';
import type { Registry } from '../plugins/registry';
import type { EscalationRung, SlaDefinition } from '../plugins/sla-codec';
import { DEFAULT_RUNG_SEVERITY, isBuiltinAction } from '../plugins/sla-codec';
import type { AuditLog } from './audit-log';
import type { IncidentStore } from './incident-store';
import type { Keys } from './keys';
import type { RecoveryQueue, RecoveryTimer } from './recovery-queue';
import type { RecoveryStore } from './recovery-store';
import { jobOptionsFor } from './sla-job-options';

/** The per-VM workflow each built-in rung action runs. `notify` and `page` run none: they tell humans. */
export const RUNG_WORKFLOWS: Readonly<Record<'restart-in-place' | 'live-migrate' | 'evacuate', string>> = {
  'restart-in-place': 'restart-in-place',
  'live-migrate': 'live-migrate-instance',
  evacuate: 'evacuate-instance',
};

/** The workflow a rung runs, or undefined for a rung that notifies (`notify`, `page`). */
export function workflowOfRung(rung: EscalationRung): string | undefined {
  if (rung.action === 'notify' || rung.action === 'page') return undefined;
  return isBuiltinAction(rung.action) ? RUNG_WORKFLOWS[rung.action as keyof typeof RUNG_WORKFLOWS] : rung.action;
}

/**
 * Where a recovery enters its SLA's ladder: the first rung that runs its workflow. Rungs before it are not
 * tried: the policy chose this workflow for this failure (a VM on a fenced host cannot be restarted in place).
 */
export function rungOfWorkflow(sla: SlaDefinition, workflow: string): number | undefined {
  const index = sla.escalation.findIndex((rung) => workflowOfRung(rung) === workflow);
  return index < 0 ? undefined : index;
}

export interface EscalationDeps {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly store: RecoveryStore;
  readonly incidents: IncidentStore;
  readonly queue: RecoveryQueue;
  readonly audit: AuditLog;
  readonly notifier: Notifier;
  readonly registry: Registry;
  readonly clock: Clock;
  readonly log: Logger;
  readonly worker: string;
  /** Called once per recovery when its deadline passes while it still runs (SLA compliance). */
  readonly onBreach?: (recovery: Recovery, sla: SlaDefinition) => Promise<void>;
}

export type Climb =
  | { readonly kind: 'next'; readonly recovery: Recovery }
  | { readonly kind: 'end'; readonly output: RecoveryOutput };

/**
 * The SLA's clocks and its escalation ladder. A recovery's deadline (incident opened + RTO) and its rung's
 * time budget are delayed bull jobs, so they fire whichever process is alive. When a rung runs out of time
 * or its workflow ends without recovering the VM, the recovery climbs: the next rung's workflow runs in the
 * same recovery (same id, instance lock, parent and incident), from its start; a `notify`/`page` rung tells
 * humans and ends the recovery escalated. Every climb is audited and notified.
 */
export class Escalation {
  constructor(private readonly deps: EscalationDeps) {}

  slaOf(recovery: Recovery): SlaDefinition | undefined {
    return typeof recovery.params.sla === 'string' ? this.deps.registry.findSla(recovery.params.sla) : undefined;
  }

  /**
   * Starts a recovery's SLA clocks, each once: the deadline at its first job (even one that must then wait for a
   * slot: the RTO counts from the incident's opening), its place on the ladder when it first really runs (a
   * rung's budget counts from the rung's start).
   */
  async arm(recovery: Recovery, clock: 'deadline' | 'ladder'): Promise<Recovery> {
    const sla = this.slaOf(recovery);
    if (!sla) return recovery;
    const { store, queue, redis } = this.deps;
    const now = this.deps.clock.now();
    if (clock === 'deadline') {
      if (recovery.deadlineAt || sla.deadlineSeconds === null) return recovery;
      const incident = await this.deps.incidents.get(recovery.incidentId);
      const openedAt = incident ? Date.parse(incident.openedAt) : Date.parse(recovery.createdAt);
      const armed: Recovery = { ...recovery, deadlineAt: isoNow(openedAt + sla.deadlineSeconds * 1000) };
      await store.save(redis.multi(), armed).exec();
      await queue.scheduleTimer(recovery.id, { type: 'deadline' }, Date.parse(armed.deadlineAt!));
      await this.write(armed, `SLA ${sla.name}: deadline ${armed.deadlineAt} (${sla.deadlineSeconds} s RTO)`);
      return armed;
    }
    const rung = recovery.ladder || !recovery.subject.instance ? undefined : rungOfWorkflow(sla, recovery.workflow);
    if (rung === undefined) return recovery;
    const armed: Recovery = { ...recovery, ladder: { sla: sla.name, rung, startedAt: isoNow(now), entry: rung } };
    await store.save(redis.multi(), armed).exec();
    await queue.scheduleTimer(recovery.id, { type: 'rung', rung }, now + sla.escalation[rung]!.budgetSeconds * 1000);
    await this.write(armed, `SLA ${sla.name}: ladder rung ${rung + 1}/${sla.escalation.length} (${sla.escalation[rung]!.action}, ${sla.escalation[rung]!.budgetSeconds} s)`);
    return armed;
  }

  /** A clock ran out. Stale timers (the recovery is done, or on another rung) do nothing. */
  async onTimer(recoveryId: string, timer: RecoveryTimer): Promise<string> {
    const { store, redis, keys } = this.deps;
    const recovery = await store.get(recoveryId);
    if (!recovery || recovery.status === 'done') return 'stale';
    const sla = this.slaOf(recovery);
    if (!sla) return 'stale';
    if (timer.type === 'deadline') {
      // Once per recovery, whichever process's timer job gets here first.
      const first = await redis.set(keys.deadlineBreached(recovery.id), '1', 'EX', 7 * 24 * 3600, 'NX');
      if (first !== 'OK') return 'stale';
      const summary = `${describeSubject(recovery)} missed SLA ${sla.name}'s ${sla.deadlineSeconds} s deadline (still ${recovery.status}${recovery.state ? ` at ${recovery.state}` : ''})`;
      await this.write(recovery, `deadline breached: ${summary}`, 'decision');
      await this.tell(recovery, { severity: 'warning', topic: 'sla.deadline-breached', summary });
      await this.deps.onBreach?.(recovery, sla);
      // The RTO is gone: whatever rung it is on has had its chance (it may have waited long for a slot, its
      // budget counting only from its start). The next rung runs now.
      if (recovery.ladder && recovery.ladder.rung + 1 < sla.escalation.length) {
        await this.requestClimb(recovery, `the ${sla.deadlineSeconds} s deadline passed; moving to the next rung`);
      }
      return 'breached';
    }
    if (!recovery.ladder || recovery.ladder.rung !== timer.rung) return 'stale';
    const rung = sla.escalation[timer.rung];
    await this.requestClimb(recovery, `rung ${timer.rung + 1} (${rung?.action}) used its ${rung?.budgetSeconds} s budget; moving to the next rung`);
    return 'climb-requested';
  }

  /**
   * Asks whoever runs the recovery next to climb from its current rung: the worker running it notices within a
   * second; a recovery no job holds (waiting for a slot, held, parked) gets a job; one backing off before a
   * retry runs now.
   */
  private async requestClimb(recovery: Recovery, message: string): Promise<void> {
    const { redis, keys, queue } = this.deps;
    const rung = recovery.ladder!.rung;
    await redis.hset(keys.recovery(recovery.id), 'preempt', String(rung));
    await this.write(recovery, message);
    if (recovery.status === 'queued' || recovery.status === 'waiting') await queue.enqueueAgain(recovery.id, `climb-${rung}`, jobOptionsFor(recovery.params, this.deps.registry));
    else if (recovery.status === 'retrying') {
      const job = await redis.hget(keys.recovery(recovery.id), 'job');
      if (job) await queue.promote(job);
    }
  }

  /** True when the rung this recovery is on has run out of time. */
  async climbRequested(recovery: Recovery): Promise<boolean> {
    if (!recovery.ladder) return false;
    const asked = await this.deps.redis.hget(this.deps.keys.recovery(recovery.id), 'preempt');
    return asked === String(recovery.ladder.rung);
  }

  /**
   * Whether a recovery that ended this way should climb instead of finishing. `skipped` ends the ladder on the
   * rung the policy chose (nothing to do: the VM runs again); on a later rung it means that rung could not
   * help (a stopped VM is not live-migrated), and the VM is still down.
   */
  shouldClimb(recovery: Recovery, output: RecoveryOutput): boolean {
    // An operator's cancel ends the ladder too.
    if (!recovery.ladder || output.outcome === 'recovered' || output.outcome === 'cancelled') return false;
    if (output.outcome === 'skipped' && recovery.ladder.rung === recovery.ladder.entry) return false;
    const sla = this.slaOf(recovery);
    return sla !== undefined && recovery.ladder.rung + 1 < sla.escalation.length;
  }

  /**
   * Moves the recovery to its next usable rung (the caller holds its claim). A rung whose workflow is not
   * registered or not allowed by the SLA is skipped, with an audit line.
   */
  async climb(recovery: Recovery, why: string): Promise<Climb> {
    const { redis, keys, store, clock, registry, queue } = this.deps;
    const sla = this.slaOf(recovery);
    const from = recovery.ladder?.rung ?? -1;
    if (!sla) return { kind: 'end', output: { outcome: 'escalated', reason: why } };
    for (let next = from + 1; next < sla.escalation.length; next++) {
      const rung = sla.escalation[next]!;
      const workflow = workflowOfRung(rung);
      const label = `rung ${next + 1}/${sla.escalation.length} (${rung.action})`;
      if (workflow === undefined) {
        const severity = rung.notify ?? DEFAULT_RUNG_SEVERITY[rung.action as 'notify' | 'page'] ?? 'warning';
        const summary = `${describeSubject(recovery)} not recovered under SLA ${sla.name}: ${why}`;
        await this.write(recovery, `climbing to ${label}: ${rung.action === 'page' ? 'paging a human' : 'notifying'} (${why})`);
        await this.tell(recovery, { severity, topic: rung.action === 'page' ? 'sla.page' : 'sla.escalated', summary });
        return { kind: 'end', output: { outcome: 'escalated', reason: `${rung.action === 'page' ? 'paged a human' : 'notified'} after the ladder's last workflow: ${why}` } };
      }
      if (!registry.findWorkflow(workflow) || !sla.workflows.allowed.includes(workflow)) {
        await this.write(recovery, `skipping ${label}: workflow ${workflow} is ${registry.findWorkflow(workflow) ? `not allowed by SLA ${sla.name}` : 'not registered'}`);
        continue;
      }
      const now = clock.now();
      const climbed: Recovery = {
        ...recovery, workflow, status: 'queued', updatedAt: isoNow(now),
        ladder: { sla: sla.name, rung: next, startedAt: isoNow(now), entry: recovery.ladder?.entry ?? next },
      };
      delete (climbed as { state?: string }).state;
      const multi = redis.multi();
      store.save(multi, climbed);
      multi.hdel(keys.recovery(recovery.id), 'snapshot', 'preempt');
      await multi.exec();
      await this.write(climbed, `climbing to ${label}: ${workflow} for ${rung.budgetSeconds} s (${why})`);
      await this.tell(climbed, { severity: rung.notify ?? 'warning', topic: 'sla.rung', summary: `${describeSubject(recovery)}: ${why}; trying ${workflow} (SLA ${sla.name}, ${label})` });
      await queue.scheduleTimer(recovery.id, { type: 'rung', rung: next }, now + rung.budgetSeconds * 1000);
      return { kind: 'next', recovery: climbed };
    }
    return { kind: 'end', output: { outcome: 'escalated', reason: why } };
  }

  private async tell(recovery: Recovery, notification: { severity: 'info' | 'warning' | 'critical'; topic: string; summary: string }): Promise<void> {
    const full = { ...notification, incidentId: recovery.incidentId, recoveryId: recovery.id };
    try {
      await this.deps.notifier.notify(full);
    } catch (err) {
      // A notifier outage must not stop the ladder; the audit line below says the notification failed.
      this.deps.log.error({ err, recovery: recovery.id }, `could not notify ${notification.topic}`);
      await this.write(recovery, `notification ${notification.topic} failed: ${(err as Error).message}`, 'notify');
      return;
    }
    await this.write(recovery, `${notification.severity} ${notification.topic}: ${notification.summary}`, 'notify');
  }

  private async write(recovery: Recovery, message: string, type: 'decision' | 'notify' = 'decision'): Promise<void> {
    await this.deps.audit.write({
      at: isoNow(this.deps.clock.now()), type, incidentId: recovery.incidentId, recoveryId: recovery.id,
      workflow: recovery.workflow, worker: this.deps.worker, message,
    });
  }
}

function describeSubject(recovery: Recovery): string {
  return recovery.subject.instance ? `instance ${recovery.subject.instance} (on ${recovery.subject.host})` : `host ${recovery.subject.host}`;
}
