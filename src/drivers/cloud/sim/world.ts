import { EventEmitter } from 'node:events';
import type { Flavor, ServerGroupRef } from '../../../domain';
import { decodeOrThrow, InputError, systemClock, type Clock } from '../../../domain';
import type { PowerDeviceKind, SimAction } from './actions';
import { CallCounters, type CallOutcome, type CounterSnapshot } from './counters';
import { WorldCore, type WorldEvent } from './core';
import { FaultBook, FaultSpec, isDeviceFault, type ActiveFault } from './faults';
import type { HostSnapshot, InstanceSnapshot, SplitBrain, WorldSnapshot } from './snapshot';
import { latencyConfig, LatencyModel, type LatencyOverrides } from './latency';
import { SimNova } from './nova';
import { SimPowerDevice } from './power';
import { Rng } from './rng';
import {
  HOST_FAILURE_MODES,
  heartbeating,
  hostPower,
  hostView,
  instanceView,
  migrationView,
  serviceView,
  type Ghost,
  type HostFailureMode,
  type SimHostRecord,
} from './state';

export type { WorldEvent, WorldEventType } from './core';
export type { HostFailureMode } from './state';
export type { HostSnapshot, InstanceSnapshot, SplitBrain, WorldSnapshot } from './snapshot';

export interface SimWorldOptions {
  /** Drives every latency and completion. Default: the system clock. */
  readonly clock?: Clock;
  /** Same seed, same ids, jitter and chaos choices. Default 1. */
  readonly seed?: number | string;
  /** Shorthand for `latency.timeScale` (0 = instant). Default 1 (real time). */
  readonly timeScale?: number;
  readonly latency?: LatencyOverrides;
  /**
   * Nova's `service_down_time` in real ms (scaled by timeScale). Default 0: a service is down as soon as its
   * heartbeat stops. 60000 reproduces Nova's window where evacuation is refused until forced_down.
   */
  readonly serviceDownTimeMs?: number;
  /** Events kept for `events()`. Default 2000. */
  readonly eventLogSize?: number;
}

export interface HostSpec {
  readonly name: string;
  readonly zone?: string;
  readonly aggregates?: readonly string[];
  readonly tags?: readonly string[];
  readonly vcpus: number;
  readonly ramMb: number;
  /**
   * Nova's `reserved_host_memory_mb` of this host: never given to instances, reported inside `usedRamMb`.
   * Default DEFAULT_RESERVED_RAM_MB.
   */
  readonly reservedRamMb?: number;
  /** A spare: placement's reserved-host pool (not reserved RAM). */
  readonly reserved?: boolean;
  /** nova-compute service status at start. Default enabled. */
  readonly enabled?: boolean;
  readonly disabledReason?: string;
}

export interface InstanceSpec {
  readonly id: string;
  readonly name?: string;
  readonly host: string;
  readonly project?: string;
  readonly flavor: Flavor;
  /** Image id; '' (default) for boot-from-volume. */
  readonly image?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly sharedStorage?: boolean;
  readonly status?: 'ACTIVE' | 'SHUTOFF' | 'ERROR';
  readonly locked?: boolean;
  /** Nova server group; the sim's scheduler keeps hard anti-affinity. */
  readonly serverGroup?: ServerGroupRef;
}

/** `reservedRamMb` of a host that does not say (Nova's default `reserved_host_memory_mb` is 512). */
export const DEFAULT_RESERVED_RAM_MB = 512;

/** `vm` crashes a guest: the instance given, or one running guest of the host given (seeded choice). */
export type SimFailMode = HostFailureMode | 'vm';
export const SIM_FAIL_MODES: readonly SimFailMode[] = [...HOST_FAILURE_MODES, 'vm'];

export interface FailResult {
  readonly target: string;
  readonly mode: SimFailMode;
  readonly host: string;
  /** Instances whose guest crashed (mode `vm`). */
  readonly instances: readonly string[];
}

/**
 * The simulated cloud: hosts with real power, network and nova-compute state, instances with Nova's view
 * and the truth beside it, one BMC and one PDU outlet per host, and a Nova API (`nova`) that follows Nova's
 * rules and timings. A product feature — demos, what-if runs, benchmarks — as much as a test bed.
 *
 * Emits `change` with a WorldEvent for everything that happens.
 */
export class SimWorld extends EventEmitter<{ change: [WorldEvent] }> {
  readonly clock: Clock;
  readonly seed: number | string;
  readonly latency: LatencyModel;
  readonly nova: SimNova;
  private readonly core: WorldCore;
  private readonly faultBook: FaultBook;
  private readonly calls = new CallCounters();
  private readonly chaos: Rng;
  private readonly devices = new Map<string, SimPowerDevice>();

  constructor(options: SimWorldOptions = {}) {
    super();
    this.clock = options.clock ?? systemClock;
    this.seed = options.seed ?? 1;
    const root = new Rng(this.seed);
    const config = latencyConfig({ ...options.latency, ...(options.timeScale === undefined ? {} : { timeScale: options.timeScale }) });
    this.latency = new LatencyModel(config, root.fork('latency'));
    this.faultBook = new FaultBook(root.fork('faults'));
    this.chaos = root.fork('chaos');
    this.core = new WorldCore({
      clock: this.clock,
      latency: this.latency,
      faults: this.faultBook,
      counters: this.calls,
      ids: root.fork('ids'),
      serviceDownTimeMs: (options.serviceDownTimeMs ?? 0) * config.timeScale,
      eventLogSize: options.eventLogSize ?? 2000,
      publish: (event) => this.emit('change', event),
    });
    this.nova = new SimNova(this.core);
  }

  // ---- building ------------------------------------------------------------------------------------

  addHost(spec: HostSpec): this {
    if (this.core.hosts.has(spec.name)) throw new InputError(`duplicate host ${spec.name}`, [{ path: 'hosts', message: `duplicate host ${spec.name}` }]);
    if (spec.reservedRamMb !== undefined && !(Number.isInteger(spec.reservedRamMb) && spec.reservedRamMb >= 0)) {
      throw new InputError(`reservedRamMb of ${spec.name} must be a non-negative integer`, [{ path: 'reservedRamMb', message: `got ${spec.reservedRamMb}` }]);
    }
    const h: SimHostRecord = {
      name: spec.name,
      zone: spec.zone ?? 'nova',
      aggregates: [...(spec.aggregates ?? [])],
      tags: [...(spec.tags ?? [])],
      vcpus: spec.vcpus,
      ramMb: spec.ramMb,
      reservedRamMb: spec.reservedRamMb ?? DEFAULT_RESERVED_RAM_MB,
      reserved: spec.reserved ?? false,
      chassis: 'on',
      outlet: 'on',
      running: true,
      network: true,
      serviceAlive: true,
      status: spec.enabled === false ? 'disabled' : 'enabled',
      forcedDown: false,
      heartbeatStoppedAt: null,
      serviceWrittenAt: null,
      degraded: false,
      claimedOff: new Set(),
      ...(spec.enabled === false && spec.disabledReason !== undefined ? { disabledReason: spec.disabledReason } : {}),
    };
    this.core.hosts.set(h.name, h);
    return this;
  }

  addInstance(spec: InstanceSpec): this {
    if (this.core.instances.has(spec.id)) throw new InputError(`duplicate instance ${spec.id}`, [{ path: 'instances', message: `duplicate instance ${spec.id}` }]);
    this.core.host(spec.host);
    const status = spec.status ?? 'ACTIVE';
    this.core.instances.set(spec.id, {
      id: spec.id,
      name: spec.name ?? spec.id,
      host: spec.host,
      project: spec.project ?? 'demo',
      status,
      taskState: null,
      powerState: status === 'SHUTOFF' ? 'SHUTDOWN' : status === 'ERROR' ? 'NOSTATE' : 'RUNNING',
      flavor: { ...spec.flavor, extraSpecs: { ...spec.flavor.extraSpecs } },
      image: spec.image ?? '',
      metadata: { ...spec.metadata },
      sharedStorage: spec.sharedStorage ?? false,
      ...(spec.locked === undefined ? {} : { locked: spec.locked }),
      ...(spec.serverGroup === undefined ? {} : { serverGroup: { id: spec.serverGroup.id, policy: spec.serverGroup.policy } }),
      updatedAt: this.clock.now(),
      guestRunning: status === 'ACTIVE',
    });
    return this;
  }

  addImage(id: string): this {
    this.core.images.add(id);
    return this;
  }

  /** Deletes an image for good (the `image-gone` fault does the same, reversibly). */
  deleteImage(id: string): boolean {
    return this.core.images.delete(id);
  }

  // ---- power devices -------------------------------------------------------------------------------

  powerDevice(host: string, kind: PowerDeviceKind = 'bmc'): SimPowerDevice {
    this.core.host(host);
    const key = `${kind}-${host}`;
    let device = this.devices.get(key);
    if (!device) this.devices.set(key, (device = new SimPowerDevice(this.core, host, kind)));
    return device;
  }

  // ---- failure injection ---------------------------------------------------------------------------

  /**
   * - `power`: the host loses power: OS, guests and heartbeat gone.
   * - `network`: the host runs on, unreachable: service down, guests still running (the zombie case).
   * - `service`: nova-compute died: service down, guests healthy.
   * - `degraded`: tagged `degraded`, everything still works.
   */
  failHost(host: string, mode: HostFailureMode): void {
    const h = this.core.host(host);
    if (!HOST_FAILURE_MODES.includes(mode)) throw new InputError(`unknown failure mode ${String(mode)}`, [{ path: 'mode', message: `expected one of ${HOST_FAILURE_MODES.join(', ')}` }]);
    h.failure = mode;
    this.core.record({ type: 'host', host, message: `${host} fails (${mode})` });
    if (mode === 'power') this.core.setPower(h, { chassis: 'off' });
    else if (mode === 'network') this.core.applyHost(h, { network: false });
    else if (mode === 'service') this.core.applyHost(h, { serviceAlive: false });
    else {
      h.degraded = true;
      if (!h.tags.includes('degraded')) h.tags.push('degraded');
    }
  }

  /** Repairs a host at once: power, OS, network and nova-compute back; injected faults stay. */
  recoverHost(host: string): void {
    const h = this.core.host(host);
    delete h.failure;
    h.degraded = false;
    h.tags = h.tags.filter((t) => t !== 'degraded');
    h.chassis = 'on';
    h.outlet = 'on';
    this.core.record({ type: 'host', host, message: `${host} repaired` });
    this.core.applyHost(h, { running: true, network: true, serviceAlive: true });
  }

  /**
   * The guest dies on its own. A live compute notices at once (libvirt lifecycle event) and Nova shows
   * SHUTOFF with power state SHUTDOWN (QEMU reports a crashed guest as shut off; pass CRASHED to model a
   * guest kept by `on_crash=preserve`). A dead compute notices nothing.
   */
  crashInstance(id: string, options: { powerState?: 'SHUTDOWN' | 'CRASHED' } = {}): void {
    const i = this.core.instance(id);
    i.guestRunning = false;
    if (heartbeating(this.core.host(i.host))) {
      i.status = 'SHUTOFF';
      i.powerState = options.powerState ?? 'SHUTDOWN';
      i.taskState = null;
      this.core.touch(i);
    }
    this.core.record({ type: 'instance', instance: id, host: i.host, message: `${i.name} crashed` });
  }

  /** One entry point for `resurrect sim fail <target> --mode …`. */
  fail(target: string, mode: SimFailMode): FailResult {
    if (mode !== 'vm') {
      this.failHost(target, mode);
      return { target, mode, host: target, instances: [] };
    }
    if (this.core.instances.has(target)) {
      this.crashInstance(target);
      return { target, mode, host: this.core.instance(target).host, instances: [target] };
    }
    const h = this.core.host(target);
    const running = [...this.core.instances.values()].filter((i) => i.host === h.name && i.guestRunning).map((i) => i.id).sort();
    if (running.length === 0) return { target, mode, host: h.name, instances: [] };
    const victim = this.chaos.pick(running);
    this.crashInstance(victim);
    return { target, mode, host: h.name, instances: [victim] };
  }

  // ---- faults --------------------------------------------------------------------------------------

  /** Validates (also JSON from the CLI) and activates a fault; returns its id for `clearFault`. */
  injectFault(spec: FaultSpec): string;
  injectFault(spec: unknown): string;
  injectFault(spec: unknown): string {
    const fault = decodeOrThrow(FaultSpec, spec, 'fault');
    if (isDeviceFault(fault)) this.core.host(fault.host);
    if ((fault.kind === 'never-active' || fault.kind === 'evacuate-fails' || fault.kind === 'live-migrate-fails') && fault.instance !== undefined) {
      this.core.instance(fault.instance);
    }
    const id = this.faultBook.add(fault);
    this.core.record({ type: 'fault', message: `fault ${id} injected: ${JSON.stringify(fault)}`, details: { id, spec: fault } });
    return id;
  }

  clearFault(id: string): boolean {
    const spec = this.faultBook.remove(id);
    if (!spec) return false;
    if (spec.kind === 'bmc-lies-off') this.core.hosts.get(spec.host)?.claimedOff.delete(spec.device ?? 'bmc');
    this.core.record({ type: 'fault', message: `fault ${id} cleared`, details: { id } });
    return true;
  }

  clearFaults(): void {
    for (const { id } of this.faultBook.list()) this.clearFault(id);
  }

  faults(): ActiveFault[] {
    return this.faultBook.list();
  }

  // ---- observation ---------------------------------------------------------------------------------

  hostNames(): string[] {
    return [...this.core.hosts.keys()].sort();
  }

  instanceIds(host?: string): string[] {
    return [...this.core.instances.values()].filter((i) => host === undefined || i.host === host).map((i) => i.id).sort();
  }

  hostState(host: string): HostSnapshot {
    const h = this.core.host(host);
    const guests = [...this.core.instances.values()].filter((i) => i.host === host && i.guestRunning).map((i) => i.id);
    guests.push(...this.core.ghosts.filter((g) => g.host === host).map((g) => g.instance));
    return {
      name: h.name,
      zone: h.zone,
      reserved: h.reserved,
      power: hostPower(h),
      chassis: h.chassis,
      outlet: h.outlet,
      running: h.running,
      network: h.network,
      serviceAlive: h.serviceAlive,
      degraded: h.degraded,
      ...(h.failure === undefined ? {} : { failure: h.failure }),
      service: serviceView(h, this.clock.now(), this.core.parts.serviceDownTimeMs),
      capacity: hostView(h, this.core.usage(host)),
      devices: { bmc: this.powerDevice(host, 'bmc').belief(), pdu: this.powerDevice(host, 'pdu').belief() },
      guests: guests.sort(),
    };
  }

  instanceState(id: string): InstanceSnapshot {
    const i = this.core.instance(id);
    return {
      ...instanceView(i),
      guestRunning: i.guestRunning,
      ghostsOn: this.core.ghosts.filter((g) => g.instance === id).map((g) => g.host),
      ...(i.hung ? { hung: i.hung.kind } : {}),
      ...(i.fault ? { fault: { ...i.fault } } : {}),
    };
  }

  imageIds(): string[] {
    return [...this.core.images].filter((id) => this.nova.imageAvailable(id)).sort();
  }

  ghosts(): Ghost[] {
    return this.core.ghosts.map((g) => ({ ...g }));
  }

  /** Instances whose guest runs in two places at once: what fencing exists to prevent. */
  splitBrains(): SplitBrain[] {
    const out: SplitBrain[] = [];
    for (const i of this.core.instances.values()) {
      const elsewhere = this.core.ghosts.filter((g) => g.instance === i.id).map((g) => g.host);
      if (i.guestRunning && elsewhere.length > 0) out.push({ instance: i.id, hosts: [i.host, ...elsewhere] });
    }
    return out;
  }

  snapshot(): WorldSnapshot {
    return {
      at: this.clock.now(),
      hosts: this.hostNames().map((h) => this.hostState(h)),
      instances: this.instanceIds().map((id) => this.instanceState(id)),
      migrations: this.core.migrations.map(migrationView),
      faults: this.faults(),
      splitBrains: this.splitBrains(),
    };
  }

  counters(): CounterSnapshot {
    return this.calls.snapshot();
  }

  /** Calls of `action` (optionally for one instance or host, and one outcome). */
  count(action: SimAction, subject?: string, outcome?: CallOutcome): number {
    return this.calls.count(action, subject, outcome);
  }

  resetCounters(): void {
    this.calls.reset();
  }

  events(): WorldEvent[] {
    return this.core.events();
  }

  // ---- time ----------------------------------------------------------------------------------------

  /**
   * Resolves once no completion is scheduled. With a manual clock, advance it meanwhile; work hung on a dead
   * compute is not waited for.
   */
  idle(): Promise<void> {
    return this.core.idle();
  }

  /** Cancels scheduled completions so the process can exit; the world must not be used afterwards. */
  dispose(): void {
    this.core.dispose();
    this.removeAllListeners();
  }
}
