import type { ComputeService, Host, Instance, InstanceStatus, Migration } from '../../../domain';
import { isoNow, nonRetryable, retryable } from '../../../domain';
import type { ActionAccepted } from '../port';
import type { WorldCore } from './core';
import { fits, pickHost } from './scheduler';
import {
  heartbeating,
  hostView,
  instanceActionView,
  instanceView,
  migrationView,
  serviceView,
  type InstanceActionView,
  type PendingAction,
  type SimActionEventRecord,
  type SimHostRecord,
  type SimInstanceActionRecord,
  type SimInstanceFault,
  type SimInstanceRecord,
  type SimMigrationRecord,
  VM_STATES,
} from './state';

/** Evacuation splits into "claimed" (pre-migrating, rebuild_spawning) and "spawned" at this fraction. */
const EVACUATE_SWITCH_AT = 0.25;
/**
 * The last part of an evacuation, as Nova 26 does it: the rebuild has ended (ACTIVE, no task state) but the
 * instance still names its source host and its migration is still in flight, until the destination's resource
 * tracker gets its lock and moves it (`finish_evacuation`: host, then migration `done`). Measured on the lab:
 * 0.3–1.5 s with ten evacuations at once.
 */
const EVACUATE_FINISH_SHARE = 0.15;
/** Nova 26: `@check_instance_state(vm_state=[ACTIVE, STOPPED, ERROR], task_state=None)`, None meaning any task. */
const EVACUABLE_VM_STATES: readonly string[] = ['active', 'stopped', 'error'];
/** The fault Nova's conductor records when scheduling an evacuation finds no host. */
export const NO_VALID_HOST = 'No valid host was found. There are not enough hosts available.';
/** The task states an action of each kind sets (and finds again when it completes, unless overtaken). */
const TASK_STATES: Readonly<Record<PendingAction['kind'], readonly string[]>> = {
  start: ['powering-on'],
  stop: ['powering-off'],
  reboot: ['rebooting', 'rebooting_hard', 'reboot_pending', 'reboot_started', 'reboot_pending_hard', 'reboot_started_hard'],
};

export interface EvacuateOptions {
  /** Nova ≥ 2.95: the instance ends stopped on the destination whatever its prior state. */
  readonly stopOnDestination?: boolean;
}

/**
 * The compute API of the simulated cloud: the checks, in Nova's order, with Nova's answers, and the
 * asynchronous work that follows an accepted action. Every method goes through the world's call pipeline
 * (latency, concurrency, api-error faults, counters).
 */
export class SimNova {
  constructor(private readonly core: WorldCore) {
    core.onComputeStarted = (h) => this.computeStarted(h);
  }

  listHosts(signal?: AbortSignal): Promise<Host[]> {
    return this.core.call('listHosts', undefined, signal, () =>
      [...this.core.hosts.values()].sort(byName).map((h) => hostView(h, this.core.usage(h.name))),
    );
  }

  getService(host: string, signal?: AbortSignal): Promise<ComputeService> {
    return this.core.call('getService', host, signal, () => this.service(this.core.host(host)));
  }

  setServiceForcedDown(host: string, forcedDown: boolean, signal?: AbortSignal): Promise<ComputeService> {
    return this.core.call('setServiceForcedDown', host, signal, () => {
      const h = this.core.host(host);
      const uncleaned = this.core.migrations.some((m) => m.type === 'evacuation' && m.source === host && m.status === 'done');
      if (!forcedDown && uncleaned) {
        // Nova (Xena+, both the 2.53 and the legacy force-down route) refuses forced_down=false while evacuations
        // from the host are `done`, whatever the flag is now: only its restarted nova-compute completes them.
        throw retryable(
          'RSR_CLOUD_CONFLICT',
          `Unable to force up host ${host} as \`done\` evacuation migration records remain associated with the host. Ensure the compute service has been restarted, allowing these records to move to \`completed\` before retrying this request.`,
          {
            details: { host, httpStatus: 400 },
          },
        );
      }
      h.serviceWrittenAt = this.core.now();
      if (h.forcedDown !== forcedDown) {
        h.forcedDown = forcedDown;
        this.core.record({ type: 'service', host, message: `${host} forced_down=${forcedDown}` });
      }
      return this.service(h);
    });
  }

  setServiceEnabled(host: string, enabled: boolean, reason?: string, signal?: AbortSignal): Promise<ComputeService> {
    return this.core.call('setServiceEnabled', host, signal, () => {
      const h = this.core.host(host);
      h.serviceWrittenAt = this.core.now();
      h.status = enabled ? 'enabled' : 'disabled';
      // Enabling clears the reason, as Nova does; a reason sent with "enable" is dropped rather than refused.
      if (enabled || reason === undefined) delete h.disabledReason;
      else h.disabledReason = reason;
      this.core.record({ type: 'service', host, message: `${host} ${h.status}${reason && !enabled ? ` (${reason})` : ''}` });
      return this.service(h);
    });
  }

  /** Every nova-compute service (`GET /os-services` without a host filter); counted as getService without subject. */
  listServices(signal?: AbortSignal): Promise<ComputeService[]> {
    return this.core.call('getService', undefined, signal, () => [...this.core.hosts.values()].sort(byName).map((h) => this.service(h)));
  }

  /** Every instance (`GET /servers/detail?all_tenants=1` without a host filter); counted as listInstances without subject. */
  listAllInstances(signal?: AbortSignal): Promise<Instance[]> {
    return this.core.call('listInstances', undefined, signal, () => [...this.core.instances.values()].sort(byName).map(instanceView));
  }

  /** Every migration, newest first (`GET /os-migrations` without instance_uuid); counted as listMigrations without subject. */
  listAllMigrations(signal?: AbortSignal): Promise<Migration[]> {
    return this.core.call('listMigrations', undefined, signal, () => [...this.core.migrations].reverse().map(migrationView));
  }

  /** Nova's instance actions of one server, newest first (`GET /servers/{id}/os-instance-actions`). */
  listInstanceActions(instanceId: string, signal?: AbortSignal): Promise<InstanceActionView[]> {
    return this.core.call('listInstanceActions', instanceId, signal, () => {
      this.core.instance(instanceId);
      return this.core.actions.filter((a) => a.instance === instanceId).reverse().map(instanceActionView);
    });
  }

  /**
   * `os-resetState` (admin): sets vm_state (ACTIVE or ERROR) and clears task_state, nothing else: power state
   * and the real guest stay as they are, and an action hung on a dead compute is dropped. What Masakari does
   * to make an instance stuck in a task evacuable again.
   */
  resetState(id: string, state: 'active' | 'error', signal?: AbortSignal): Promise<ActionAccepted> {
    return this.core.call('resetState', id, signal, () => {
      const i = this.core.instance(id);
      i.status = state === 'active' ? 'ACTIVE' : 'ERROR';
      i.taskState = null;
      delete i.hung;
      this.core.touch(i);
      this.core.record({ type: 'instance', instance: id, host: i.host, message: `${i.name} reset to ${state}` });
      return { requestId: this.core.requestId() };
    });
  }

  listInstances(host: string, signal?: AbortSignal): Promise<Instance[]> {
    return this.core.call('listInstances', host, signal, () => {
      this.core.host(host);
      return [...this.core.instances.values()].filter((i) => i.host === host).sort(byName).map(instanceView);
    });
  }

  getInstance(id: string, signal?: AbortSignal): Promise<Instance> {
    return this.core.call('getInstance', id, signal, () => instanceView(this.core.instance(id)));
  }

  imageExists(imageId: string, signal?: AbortSignal): Promise<boolean> {
    return this.core.call('imageExists', imageId, signal, () => this.imageAvailable(imageId));
  }

  listMigrations(instanceId: string, signal?: AbortSignal): Promise<Migration[]> {
    return this.core.call('listMigrations', instanceId, signal, () => {
      this.core.instance(instanceId);
      return this.core.migrations
        .filter((m) => m.instance === instanceId)
        .reverse() // appended in creation order: newest first
        .map(migrationView);
    });
  }

  /**
   * Evacuation records whose source is `host`, newest first (`GET /os-migrations?source_compute=&migration_type=evacuation`):
   * `done` until the host's nova-compute starts again and cleans up, then `completed`.
   */
  listEvacuations(host: string, signal?: AbortSignal): Promise<Migration[]> {
    return this.core.call('listEvacuations', host, signal, () => {
      this.core.host(host);
      return this.core.migrations
        .filter((m) => m.type === 'evacuation' && m.source === host)
        .reverse()
        .map(migrationView);
    });
  }

  /**
   * Nova 26's checks, in its order: the target (404 unknown, 400 the source itself), the vm_state (active,
   * stopped or error, whatever the task state: a stop cast to a dead compute does not block it), the source
   * service down (400 "still in use"). Then it is accepted whether or not any host has room: the conductor's
   * scheduling comes after the answer (see `noValidHost`).
   */
  evacuate(id: string, targetHost?: string, signal?: AbortSignal, options: EvacuateOptions = {}): Promise<ActionAccepted> {
    return this.core.call('evacuate', id, signal, () => {
      const i = this.core.instance(id);
      if (targetHost !== undefined) this.checkTarget(i, targetHost);
      if (!evacuable(i)) throw conflict(`Cannot 'evacuate' instance ${id} while it is in ${describeState(i)}`, id);
      const source = this.core.host(i.host);
      if (this.core.serviceUp(source)) {
        throw retryable('RSR_CLOUD_CONFLICT', `Compute service of ${source.name} is still in use.`, {
          details: { instance: id, host: source.name, httpStatus: 400 },
        });
      }
      // The scheduler decides on the world as it is when the evacuation is accepted (its claim is taken now,
      // so evacuations accepted together never overcommit a host); the answer reaches the instance later.
      const placed = this.schedule(i, targetHost);
      const prior = options.stopOnDestination ? 'SHUTOFF' : i.status;
      const migration = this.addMigration(i, 'evacuation', targetHost ?? null);
      const requestId = this.core.requestId();
      const action = this.startAction(i, 'evacuate', requestId);
      const conductor = this.startEvent(action, 'rebuild_server', null);
      i.status = 'REBUILD';
      i.taskState = 'rebuilding';
      // The rebuild supersedes whatever was cast to the dead compute (a stop that never ran).
      delete i.hung;
      if (placed.dest !== undefined) i.claimHost = placed.dest;
      this.core.touch(i);
      const total = this.core.parts.latency.completionDelay('evacuate');
      const first = Math.round(total * EVACUATE_SWITCH_AT);
      if (placed.dest === undefined) {
        this.core.record({ type: 'instance', instance: id, host: source.name, message: `evacuating ${i.name} from ${source.name}: accepted, no valid host (${placed.why})` });
        this.core.schedule(first, `evacuate ${id}`, () => this.noValidHost(i, migration, action, conductor, placed.why));
        return { requestId };
      }
      const dest = placed.dest;
      this.core.record({ type: 'instance', instance: id, host: source.name, message: `evacuating ${i.name} from ${source.name} to ${dest}` });
      this.core.schedule(first, `evacuate ${id}`, () => this.evacuateClaimed(i, migration, dest, prior, total - first, action, conductor));
      return { requestId };
    });
  }

  liveMigrate(id: string, targetHost?: string, signal?: AbortSignal): Promise<ActionAccepted> {
    return this.core.call('liveMigrate', id, signal, () => {
      const i = this.core.instance(id);
      if (targetHost !== undefined) this.checkTarget(i, targetHost);
      if (i.status !== 'ACTIVE' || i.taskState !== null) {
        throw conflict(`Cannot 'os-migrateLive' instance ${id} while it is in ${describeState(i)}`, id);
      }
      const source = this.core.host(i.host);
      if (!this.core.serviceUp(source)) {
        throw retryable('RSR_CLOUD_CONFLICT', `Compute service of ${source.name} is unavailable at this time.`, {
          details: { instance: id, host: source.name, httpStatus: 409 },
        });
      }
      const dest = this.place(i, targetHost);
      const migration = this.addMigration(i, 'live-migration', dest);
      i.status = 'MIGRATING';
      i.taskState = 'migrating';
      i.claimHost = dest;
      this.core.touch(i);
      this.core.record({ type: 'instance', instance: id, host: source.name, message: `live-migrating ${i.name} from ${source.name} to ${dest}` });
      migration.status = 'running';
      const requestId = this.core.requestId();
      const action = this.startAction(i, 'live-migration', requestId);
      this.finishEvent(action, this.startEvent(action, 'conductor_live_migrate_instance', null), true);
      const event = this.startEvent(action, 'compute_live_migration', source.name);
      this.core.schedule(this.core.parts.latency.completionDelay('liveMigrate'), `live-migrate ${id}`, () => this.liveMigrateDone(i, migration, dest, action, event));
      return { requestId };
    });
  }

  startInstance(id: string, signal?: AbortSignal): Promise<ActionAccepted> {
    return this.core.call('startInstance', id, signal, () => {
      const i = this.core.instance(id);
      if (i.status !== 'SHUTOFF' || i.taskState !== null) throw conflict(`Cannot 'start' instance ${id} while it is in ${describeState(i)}`, id);
      i.taskState = 'powering-on';
      return this.dispatch(i, { kind: 'start' });
    });
  }

  stopInstance(id: string, signal?: AbortSignal): Promise<ActionAccepted> {
    return this.core.call('stopInstance', id, signal, () => {
      const i = this.core.instance(id);
      if ((i.status !== 'ACTIVE' && i.status !== 'ERROR') || i.taskState !== null) {
        throw conflict(`Cannot 'stop' instance ${id} while it is in ${describeState(i)}`, id);
      }
      i.taskState = 'powering-off';
      return this.dispatch(i, { kind: 'stop' });
    });
  }

  rebootInstance(id: string, type: 'SOFT' | 'HARD', signal?: AbortSignal): Promise<ActionAccepted> {
    return this.core.call('rebootInstance', id, signal, () => {
      const i = this.core.instance(id);
      const hard = type === 'HARD';
      // A hard reboot may override a soft one in progress; a soft one needs an idle, active server.
      const allowed = hard
        ? ['ACTIVE', 'SHUTOFF', 'ERROR', 'REBOOT', 'HARD_REBOOT', 'PAUSED'].includes(i.status) && (i.taskState === null || i.taskState.startsWith('reboot'))
        : i.status === 'ACTIVE' && i.taskState === null;
      if (!allowed) throw conflict(`Cannot 'reboot' instance ${id} while it is in ${describeState(i)}`, id);
      i.status = hard ? 'HARD_REBOOT' : 'REBOOT';
      i.taskState = hard ? 'rebooting_hard' : 'rebooting';
      return this.dispatch(i, { kind: 'reboot', hard });
    });
  }

  imageAvailable(imageId: string): boolean {
    return this.core.images.has(imageId) && !this.core.parts.faults.imageGone(imageId);
  }

  /** A reading of the service as the API answers it: `observedAt` is the sim clock, the clock `updatedAt` is on. */
  private service(h: SimHostRecord): ComputeService {
    const now = this.core.now();
    return { ...serviceView(h, now, this.core.parts.serviceDownTimeMs), observedAt: isoNow(now) };
  }

  private checkTarget(i: SimInstanceRecord, target: string): void {
    this.core.host(target);
    if (target === i.host) {
      throw nonRetryable('RSR_CLOUD_REJECTED', "The target host can't be the same one.", { details: { instance: i.id, host: target, httpStatus: 400 } });
    }
  }

  /**
   * The scheduler's answer for `i`: a destination, or why there is none (Nova says only "No valid host was
   * found"; the reason goes to the world's events).
   */
  private schedule(i: SimInstanceRecord, target: string | undefined): { readonly dest?: string; readonly why: string } {
    const need = { vcpus: i.flavor.vcpus, ramMb: i.flavor.ramMb };
    const candidates = this.core.candidates();
    const avoid = this.antiAffinityHosts(i);
    const dest =
      target === undefined
        ? pickHost(candidates, need, i.host, avoid)
        : candidates.find((c) => c.name === target && fits(c, need) && !avoid.has(c.name))?.name;
    if (dest !== undefined) return { dest, why: '' };
    const group = avoid.size > 0 ? `, anti-affinity group ${i.serverGroup!.id} on ${[...avoid].sort().join(', ')}` : '';
    return { why: `${need.vcpus} vCPU, ${need.ramMb} MB${group}${target ? ` on ${target}` : ''}` };
  }

  /**
   * Live migration's scheduling answers the caller (the sim refuses at once): RSR_NO_CAPACITY, served as 400
   * "No valid host was found."
   */
  private place(i: SimInstanceRecord, target: string | undefined): string {
    const placed = this.schedule(i, target);
    if (placed.dest === undefined) {
      throw retryable('RSR_NO_CAPACITY', `No valid host was found for ${i.id} (${placed.why}).`, {
        details: { instance: i.id, source: i.host, ...(target ? { target } : {}), vcpus: i.flavor.vcpus, ramMb: i.flavor.ramMb },
      });
    }
    return placed.dest;
  }

  /**
   * Nova's conductor found no host for an accepted evacuation (NoValidHost): its `rebuild_server` event fails,
   * the migration goes to `error`, the instance to vm_state ERROR with no task, still on its source host, with
   * the fault Nova records. Nothing was claimed. Evacuating it again is allowed (from vm_state ERROR).
   */
  private noValidHost(i: SimInstanceRecord, m: SimMigrationRecord, action: SimInstanceActionRecord, conductor: SimActionEventRecord, why: string): void {
    this.finishEvent(action, conductor, false);
    this.failMove(i, m, 'error', `evacuation of ${i.name} failed: no valid host (${why})`, {
      code: 500,
      message: NO_VALID_HOST,
      details: `Traceback (most recent call last):\n  File "nova/conductor/manager.py", in rebuild_instance\nnova.exception.NoValidHost: ${NO_VALID_HOST}\n`,
    });
  }

  /**
   * Hosts holding another ACTIVE member of the instance's hard anti-affinity group, or one moving there (a
   * claim, or a rebuild already switched to its destination): two members evacuated at once must not meet.
   */
  private antiAffinityHosts(i: SimInstanceRecord): Set<string> {
    const avoid = new Set<string>();
    const group = i.serverGroup;
    if (group?.policy !== 'anti-affinity') return avoid;
    for (const other of this.core.instances.values()) {
      if (other === i || other.serverGroup?.id !== group.id) continue;
      if (other.status === 'ACTIVE' || other.status === 'REBUILD' || other.status === 'MIGRATING') avoid.add(other.host);
      if (other.claimHost !== undefined) avoid.add(other.claimHost);
    }
    return avoid;
  }

  private addMigration(i: SimInstanceRecord, type: Migration['type'], dest: string | null): SimMigrationRecord {
    const m: SimMigrationRecord = { id: this.core.nextMigrationId(), instance: i.id, type, source: i.host, dest, status: 'accepted', createdAt: this.core.now() };
    this.core.migrations.push(m);
    return m;
  }

  /**
   * First half of an evacuation: the destination claimed (the instance names its source until the end, as in
   * Nova, where only `finish_evacuation` moves it). Injected
   * failures and a missing image end it here, with the instance left on its source in ERROR: unlike Nova
   * (where a spawn failure leaves it in ERROR on the destination, to be rebuilt there), a second evacuation
   * then retries it, which is what the engine's retry path expects to exercise.
   */
  private evacuateClaimed(
    i: SimInstanceRecord,
    m: SimMigrationRecord,
    dest: string,
    prior: InstanceStatus,
    remainingMs: number,
    action: SimInstanceActionRecord,
    conductor: SimActionEventRecord,
  ): void {
    const faults = this.core.parts.faults;
    const imageMissing = !i.sharedStorage && i.image !== '' && !this.imageAvailable(i.image);
    const injected = imageMissing ? undefined : faults.trip('evacuate-fails', i.id);
    const destDown = !heartbeating(this.core.host(dest));
    this.finishEvent(action, conductor, true);
    const rebuild = this.startEvent(action, 'compute_rebuild_instance', dest);
    if (imageMissing || injected || destDown) {
      const why = imageMissing ? `image ${i.image} not found` : injected ? `injected ${injected.id}` : `${dest} stopped answering`;
      this.finishEvent(action, rebuild, false);
      const message = imageMissing ? `Image ${i.image} could not be found.` : injected ? `Build of instance ${i.id} aborted: injected ${injected.id}` : `Compute host ${dest} stopped answering.`;
      return this.failMove(i, m, 'error', `evacuation of ${i.name} failed: ${why}`, { code: imageMissing ? 404 : 500, message, details: '' });
    }
    const source = i.host;
    const oldGuestRunning = i.guestRunning;
    m.status = 'pre-migrating';
    m.dest = dest;
    i.claimHost = dest;
    i.guestRunning = false;
    i.taskState = 'rebuild_spawning';
    this.core.touch(i);
    if (oldGuestRunning) {
      // The old guest never died (a zombie host, a lying BMC): the evacuated copy is about to run beside it.
      this.core.ghosts.push({ instance: i.id, host: source });
    }
    if (faults.neverActive(i.id)) return;
    const finishMs = Math.round(remainingMs * EVACUATE_FINISH_SHARE);
    const stopped = prior === 'SHUTOFF';
    this.core.schedule(remainingMs - finishMs, `evacuate ${i.id}`, () => {
      if (!heartbeating(this.core.host(dest))) return; // the destination died mid-rebuild: stuck in REBUILD
      // Spawned: the task state is cleared while the instance still names its source (see EVACUATE_FINISH_SHARE).
      i.status = stopped ? 'SHUTOFF' : 'ACTIVE';
      i.powerState = stopped ? 'SHUTDOWN' : 'RUNNING';
      i.taskState = null;
      this.core.touch(i);
      this.core.schedule(finishMs, `finish evacuation ${i.id}`, () => {
        if (!heartbeating(this.core.host(dest))) return; // the destination died before moving it
        i.host = dest;
        delete i.claimHost;
        i.guestRunning = !stopped;
        this.core.touch(i);
        m.status = 'done';
        this.finishEvent(action, rebuild, true);
        this.core.record({ type: 'migration', instance: i.id, host: dest, message: `${i.name} evacuated to ${dest}`, details: { migration: m.id } });
        this.reportSplitBrain(i);
      });
    });
  }

  private liveMigrateDone(i: SimInstanceRecord, m: SimMigrationRecord, dest: string, action: SimInstanceActionRecord, event: SimActionEventRecord): void {
    const faults = this.core.parts.faults;
    if (faults.neverActive(i.id)) return;
    const source = this.core.host(i.host);
    const injected = faults.trip('live-migrate-fails', i.id);
    if (injected || !heartbeating(source) || !heartbeating(this.core.host(dest))) {
      // A failed live migration rolls back: the guest keeps running on its source.
      const why = injected ? `injected ${injected.id}` : 'a compute stopped answering';
      i.status = 'ACTIVE';
      this.finishEvent(action, event, false);
      return this.failMove(i, m, 'failed', `live migration of ${i.name} failed: ${why}`);
    }
    i.host = dest;
    delete i.claimHost;
    i.status = 'ACTIVE';
    i.taskState = null;
    this.core.touch(i);
    m.status = 'completed';
    this.finishEvent(action, event, true);
    this.core.record({ type: 'migration', instance: i.id, host: dest, message: `${i.name} live-migrated to ${dest}`, details: { migration: m.id } });
  }

  private startAction(i: SimInstanceRecord, action: string, requestId: string): SimInstanceActionRecord {
    const now = this.core.now();
    const record: SimInstanceActionRecord = { instance: i.id, action, requestId, startTime: now, updatedAt: now, message: null, events: [] };
    this.core.actions.push(record);
    return record;
  }

  private startEvent(action: SimInstanceActionRecord, event: string, host: string | null): SimActionEventRecord {
    const record: SimActionEventRecord = { event, host, startTime: this.core.now(), finishTime: null, result: null };
    action.events.push(record);
    action.updatedAt = record.startTime;
    return record;
  }

  private finishEvent(action: SimInstanceActionRecord, event: SimActionEventRecord, ok: boolean): void {
    event.finishTime = this.core.now();
    event.result = ok ? 'Success' : 'Error';
    action.updatedAt = event.finishTime;
    if (!ok) action.message = 'Error';
  }

  /** Ends a move that failed; `error` puts the instance in ERROR with `fault` (Nova's instance fault). */
  private failMove(i: SimInstanceRecord, m: SimMigrationRecord, status: 'error' | 'failed', message: string, fault?: Omit<SimInstanceFault, 'created'>): void {
    if (status === 'error') {
      i.status = 'ERROR';
      if (fault) i.fault = { ...fault, created: this.core.now() };
    }
    i.taskState = null;
    delete i.claimHost;
    this.core.touch(i);
    m.status = status;
    this.core.record({ type: 'migration', instance: i.id, host: i.host, message, details: { migration: m.id } });
  }

  /**
   * Stop/start/reboot are cast to the instance's compute without checking it is up: a dead compute leaves
   * the task_state set forever, as in Nova (where it blocks most actions, but not evacuate: Nova 26 evacuates
   * whatever the task state, and the rebuild drops the stuck action).
   */
  private dispatch(i: SimInstanceRecord, pending: Omit<PendingAction, 'record'>): ActionAccepted {
    const requestId = this.core.requestId();
    const action: PendingAction = { ...pending, record: this.startAction(i, pending.kind, requestId) };
    this.core.touch(i);
    const h = this.core.host(i.host);
    if (heartbeating(h)) this.scheduleAction(i, action);
    else {
      i.hung = action;
      this.core.record({ type: 'instance', instance: i.id, host: h.name, message: `${action.kind} of ${i.name} sent to unresponsive ${h.name}: hangs` });
    }
    return { requestId };
  }

  /** The compute received the cast: its event (compute_<kind>_instance) starts now. */
  private scheduleAction(i: SimInstanceRecord, action: PendingAction): void {
    const kind = action.kind === 'reboot' ? (action.hard ? 'rebootHard' : 'rebootSoft') : action.kind;
    const record = action.record;
    const event = record && this.startEvent(record, `compute_${action.kind}_instance`, i.host);
    this.core.schedule(this.core.parts.latency.completionDelay(kind), `${action.kind} ${i.id}`, () => {
      if (this.finishAction(i, action) && record && event) this.finishEvent(record, event, true);
    });
  }

  /** Returns whether the action took effect. */
  private finishAction(i: SimInstanceRecord, action: PendingAction): boolean {
    // Overtaken: a hard reboot replaced this one, or an evacuation rebuilt the instance meanwhile.
    if (i.taskState === null || !TASK_STATES[action.kind].includes(i.taskState)) return false;
    if (!heartbeating(this.core.host(i.host))) {
      i.hung = action;
      return false;
    }
    if (action.kind !== 'stop' && this.core.parts.faults.neverActive(i.id)) return false;
    const on = action.kind !== 'stop';
    i.status = on ? 'ACTIVE' : 'SHUTOFF';
    i.powerState = on ? 'RUNNING' : 'SHUTDOWN';
    i.taskState = null;
    i.guestRunning = on;
    delete i.hung;
    this.core.touch(i);
    this.core.record({ type: 'instance', instance: i.id, host: i.host, message: `${i.name} ${on ? 'is running' : 'stopped'} (${action.kind})` });
    return true;
  }

  /**
   * nova-compute start-up: destroy guests that were evacuated away (their migrations become `completed`),
   * sync power states of guests that died with the host, and run the actions that were cast while it was away.
   */
  private computeStarted(h: SimHostRecord): void {
    const destroyed = this.core.ghosts.filter((g) => g.host === h.name);
    this.core.ghosts = this.core.ghosts.filter((g) => g.host !== h.name);
    for (const m of this.core.migrations) {
      if (m.type === 'evacuation' && m.source === h.name && m.status === 'done') m.status = 'completed';
    }
    if (destroyed.length > 0) {
      this.core.record({ type: 'host', host: h.name, message: `${h.name} destroyed ${destroyed.length} evacuated guest(s)`, details: { instances: destroyed.map((g) => g.instance) } });
    }
    for (const i of this.core.instances.values()) {
      if (i.host !== h.name) continue;
      if (i.hung) {
        const action = i.hung;
        delete i.hung;
        this.scheduleAction(i, action);
      } else if (i.taskState === null && i.claimHost === undefined && !i.guestRunning && (i.status === 'ACTIVE' || i.powerState === 'RUNNING')) {
        // resume_guests_state_on_host_boot is false by default: Nova records the guest as stopped.
        i.status = 'SHUTOFF';
        i.powerState = 'SHUTDOWN';
        this.core.touch(i);
      }
    }
  }

  private reportSplitBrain(i: SimInstanceRecord): void {
    const ghosts = this.core.ghosts.filter((g) => g.instance === i.id);
    if (ghosts.length === 0 || !i.guestRunning) return;
    this.core.record({
      type: 'split-brain',
      instance: i.id,
      host: i.host,
      message: `SPLIT BRAIN: ${i.name} runs on ${i.host} and still on ${ghosts.map((g) => g.host).join(', ')}`,
      details: { hosts: [i.host, ...ghosts.map((g) => g.host)] },
    });
  }
}

/**
 * Whether Nova 26 accepts an evacuation of `i` as far as its state goes: vm_state active, stopped or error, any
 * task state. One difference: an instance already moving (an evacuation or live migration of its own in
 * flight, status REBUILD or MIGRATING) is refused with 409 here, where Nova would accept a second evacuation
 * and run two rebuilds; the sim does not model that race, and the engine never asks (it follows the one in
 * flight).
 */
function evacuable(i: SimInstanceRecord): boolean {
  if (i.status === 'REBUILD' || i.status === 'MIGRATING' || i.claimHost !== undefined) return false;
  return EVACUABLE_VM_STATES.includes(VM_STATES[i.status]);
}

function conflict(message: string, instance: string) {
  return retryable('RSR_CLOUD_CONFLICT', message, { details: { instance, httpStatus: 409 } });
}

function describeState(i: SimInstanceRecord): string {
  // Nova names vm_states, not statuses: SHUTOFF is vm_state `stopped`.
  return i.taskState === null ? `vm_state ${i.status === 'SHUTOFF' ? 'stopped' : i.status.toLowerCase()}` : `task_state ${i.taskState}`;
}

const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
