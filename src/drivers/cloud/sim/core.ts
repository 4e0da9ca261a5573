import { setMaxListeners } from 'node:events';
import { nonRetryable, retryable, type Clock } from '../../../domain';
import { isMutating, type SimAction } from './actions';
import type { CallCounters } from './counters';
import type { FaultBook } from './faults';
import { pause, type LatencyModel } from './latency';
import type { Rng } from './rng';
import { heartbeating, hostPower, serviceState, type Ghost, type SimHostRecord, type SimInstanceActionRecord, type SimInstanceRecord, type SimMigrationRecord } from './state';
import type { Candidate } from './scheduler';

export type WorldEventType = 'api' | 'host' | 'service' | 'instance' | 'migration' | 'device' | 'fault' | 'split-brain' | 'error';

/** One line of the world's story, for the demo and for debugging a test. */
export interface WorldEvent {
  readonly seq: number;
  /** Clock time, epoch ms. */
  readonly at: number;
  readonly type: WorldEventType;
  readonly message: string;
  readonly host?: string;
  readonly instance?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface CoreParts {
  readonly clock: Clock;
  readonly latency: LatencyModel;
  readonly faults: FaultBook;
  readonly counters: CallCounters;
  /** Stream for request ids and migration ids. */
  readonly ids: Rng;
  readonly serviceDownTimeMs: number;
  readonly eventLogSize: number;
  readonly publish: (event: WorldEvent) => void;
}

/**
 * The world's records and the mechanics every part shares: the call pipeline (queue, fault, effect, answer
 * latency, counters), completions scheduled on the clock, and host transitions that keep the heartbeat and
 * the guests consistent with power, network and the nova-compute process.
 */
export class WorldCore {
  readonly hosts = new Map<string, SimHostRecord>();
  readonly instances = new Map<string, SimInstanceRecord>();
  readonly images = new Set<string>();
  readonly migrations: SimMigrationRecord[] = [];
  /** Instance actions (Nova's os-instance-actions), in creation order. */
  readonly actions: SimInstanceActionRecord[] = [];
  ghosts: Ghost[] = [];
  /** Set by the Nova part: what nova-compute does when it starts heartbeating again. */
  onComputeStarted: (host: SimHostRecord) => void = () => {};

  private readonly log: WorldEvent[] = [];
  private seq = 0;
  private migrationSeq = 0;
  private readonly pending = new Set<Promise<void>>();
  private readonly immediates = new Set<NodeJS.Immediate>();
  /** Aborted by dispose(); every scheduled completion listens to it, so it may have thousands of listeners. */
  private readonly lifetime = (() => {
    const controller = new AbortController();
    setMaxListeners(0, controller.signal);
    return controller;
  })();

  constructor(readonly parts: CoreParts) {}

  get clock(): Clock {
    return this.parts.clock;
  }

  now(): number {
    return this.parts.clock.now();
  }

  host(name: string): SimHostRecord {
    const h = this.hosts.get(name);
    if (!h) throw nonRetryable('RSR_CLOUD_NOT_FOUND', `Compute host ${name} could not be found.`, { details: { host: name, httpStatus: 404 } });
    return h;
  }

  instance(id: string): SimInstanceRecord {
    const i = this.instances.get(id);
    if (!i) throw nonRetryable('RSR_CLOUD_NOT_FOUND', `Instance ${id} could not be found.`, { details: { instance: id, httpStatus: 404 } });
    return i;
  }

  serviceUp(h: SimHostRecord): boolean {
    return serviceState(h, this.now(), this.parts.serviceDownTimeMs) === 'up';
  }

  /**
   * Placement usage: instances on the host plus claims of instances moving to it. ERROR and SHUTOFF still hold
   * theirs. The host's reserved RAM is not in it (hostView and candidates add it).
   */
  usage(host: string): { vcpus: number; ramMb: number } {
    // As in Nova, an instance evacuated away still counts on its source until the source's nova-compute starts
    // again and cleans up (its migration `done` → `completed`): the dead host's resource tracker never ran.
    const leftBehind = new Set(this.migrations
      .filter((m) => m.type === 'evacuation' && m.source === host && m.status === 'done')
      .map((m) => m.instance));
    let vcpus = 0;
    let ramMb = 0;
    for (const i of this.instances.values()) {
      if (i.host === host || i.claimHost === host || leftBehind.has(i.id)) {
        vcpus += i.flavor.vcpus;
        ramMb += i.flavor.ramMb;
      }
    }
    return { vcpus, ramMb };
  }

  candidates(): Candidate[] {
    return [...this.hosts.values()].map((h) => {
      const used = this.usage(h.name);
      return {
        name: h.name,
        enabled: h.status === 'enabled',
        // The scheduler's ComputeFilter trusts the servicegroup API; a host must also really answer to build on.
        up: this.serviceUp(h) && heartbeating(h),
        reserved: h.reserved,
        freeVcpus: h.vcpus - used.vcpus,
        // reserved_host_memory_mb is never the instances': a host of 8192 MB with 512 reserved has 7680 for them.
        freeRamMb: h.ramMb - h.reservedRamMb - used.ramMb,
      };
    });
  }

  nextMigrationId(): string {
    return `mig-${++this.migrationSeq}`;
  }

  requestId(): string {
    return `req-${this.parts.ids.uuid()}`;
  }

  touch(i: SimInstanceRecord): void {
    i.updatedAt = this.now();
  }

  record(event: Omit<WorldEvent, 'seq' | 'at'>): void {
    const full: WorldEvent = { seq: ++this.seq, at: this.now(), ...event };
    this.log.push(full);
    if (this.log.length > this.parts.eventLogSize) this.log.splice(0, this.log.length - this.parts.eventLogSize);
    this.parts.publish(full);
  }

  events(): WorldEvent[] {
    return this.log.map((e) => ({ ...e }));
  }

  /**
   * One API call as the server handles it: wait for a slot of the action (FIFO), apply any injected
   * api-error, run the effect, then take the answer latency before replying. The effect happens *before*
   * the answer: a caller that gives up (abort) while waiting for the answer may have changed the world all
   * the same, exactly the ambiguity an idempotent engine must live with. A call aborted while still queued
   * did nothing.
   */
  async call<T>(action: SimAction, subject: string | undefined, signal: AbortSignal | undefined, effect: () => T | Promise<T>): Promise<T> {
    if (signal?.aborted) throw signal.reason;
    const release = await this.parts.latency.acquire(action, signal);
    try {
      const delay = this.parts.latency.acceptDelay(action);
      let result: { ok: true; value: T } | { ok: false; error: unknown };
      try {
        const injected = this.parts.faults.tripApiError(action);
        if (injected) {
          throw retryable('RSR_DRIVER_UNAVAILABLE', `${action}: 503 Service Unavailable (injected ${injected.id})`, {
            details: { action, httpStatus: injected.httpStatus, fault: injected.id },
          });
        }
        result = { ok: true, value: await effect() };
      } catch (error) {
        result = { ok: false, error };
      }
      this.parts.counters.record(action, subject, result.ok ? 'accepted' : 'refused');
      if (isMutating(action)) {
        const outcome = result.ok ? 'accepted' : `refused: ${result.error instanceof Error ? result.error.message : String(result.error)}`;
        this.record({ type: 'api', message: `${action}${subject ? ` ${subject}` : ''} ${outcome}`, details: { action, subject, ok: result.ok } });
      }
      await pause(this.clock, delay, signal);
      if (!result.ok) throw result.error;
      return result.value;
    } finally {
      release();
    }
  }

  /**
   * Runs `fn` after `ms` of clock time (next macrotask when 0). Completions never throw into the void: a bug
   * in one is logged as an `error` event so the world keeps running.
   */
  schedule(ms: number, label: string, fn: () => void): void {
    const wait =
      ms > 0
        ? this.clock.sleep(ms, this.lifetime.signal)
        : new Promise<void>((resolve) => {
            const handle = setImmediate(() => {
              this.immediates.delete(handle);
              resolve();
            });
            this.immediates.add(handle);
          });
    const done = wait.then(
      () => {
        if (this.lifetime.signal.aborted) return;
        try {
          fn();
        } catch (error) {
          this.record({ type: 'error', message: `${label} failed: ${error instanceof Error ? error.message : String(error)}` });
        }
      },
      () => undefined, // disposed
    );
    this.pending.add(done);
    void done.finally(() => this.pending.delete(done));
  }

  /** Resolves when no completion is scheduled (work hung on a dead compute is not waited for). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  dispose(): void {
    this.lifetime.abort(new Error('sim world disposed'));
    for (const handle of this.immediates) clearImmediate(handle);
    this.immediates.clear();
  }

  /**
   * Changes running / network / nova-compute of a host and keeps the rest consistent: guests die with the
   * OS, the heartbeat freezes when it can no longer reach the database, and nova-compute's start-up routine
   * runs when it comes back. `booted`: nova-compute was started by a boot, as Nova's service does it: init_host
   * first (evacuated guests destroyed, their migrations `completed`), then it joins the service group and its
   * first heartbeat comes `serviceReport` later; until then the service keeps its old `updated_at` (and reads
   * down). Without it (a repair at once, `recoverHost`) the heartbeat resumes with the start.
   */
  applyHost(h: SimHostRecord, patch: Partial<Pick<SimHostRecord, 'running' | 'network' | 'serviceAlive'>>, options: { readonly booted?: boolean } = {}): void {
    const before = heartbeating(h);
    Object.assign(h, patch);
    if (hostPower(h) === 'off') h.running = false;
    if (!h.running) this.killGuests(h);
    const after = heartbeating(h);
    if (before && !after) {
      // A compute that stops before its first report leaves the last heartbeat where it was.
      if (h.heartbeatStoppedAt === null) h.heartbeatStoppedAt = this.now();
      this.record({ type: 'service', host: h.name, message: `nova-compute on ${h.name} stopped heartbeating` });
    } else if (!before && after) {
      this.onComputeStarted(h);
      if (!options.booted) return this.reportsAgain(h);
      this.record({ type: 'service', host: h.name, message: `nova-compute on ${h.name} started` });
      this.schedule(this.parts.latency.completionDelay('serviceReport'), `first report of ${h.name}`, () => {
        if (heartbeating(h) && h.heartbeatStoppedAt !== null) this.reportsAgain(h);
      });
    }
  }

  private reportsAgain(h: SimHostRecord): void {
    h.heartbeatStoppedAt = null;
    this.record({ type: 'service', host: h.name, message: `nova-compute on ${h.name} is heartbeating again` });
  }

  /** Chassis or outlet power changes; powering on boots the OS (and nova-compute) after `hostBoot`. */
  setPower(h: SimHostRecord, patch: Partial<Pick<SimHostRecord, 'chassis' | 'outlet'>>): void {
    const wasOn = hostPower(h) === 'on';
    Object.assign(h, patch);
    const isOn = hostPower(h) === 'on';
    if (wasOn && !isOn) {
      this.record({ type: 'host', host: h.name, message: `${h.name} lost power` });
      this.applyHost(h, { running: false });
    } else if (!wasOn && isOn) {
      this.record({ type: 'host', host: h.name, message: `${h.name} powered on, booting` });
      this.schedule(this.parts.latency.completionDelay('hostBoot'), `boot ${h.name}`, () => {
        if (hostPower(h) !== 'on' || h.running) return;
        // A boot restarts nova-compute and heals a crashed OS; it does not fix the network.
        if (h.failure === 'power' || h.failure === 'service') delete h.failure;
        this.record({ type: 'host', host: h.name, message: `${h.name} booted` });
        this.applyHost(h, { running: true, serviceAlive: true }, { booted: true });
      });
    }
  }

  private killGuests(h: SimHostRecord): void {
    for (const i of this.instances.values()) {
      if (i.host === h.name && i.guestRunning) i.guestRunning = false;
    }
    this.ghosts = this.ghosts.filter((g) => g.host !== h.name);
  }
}
