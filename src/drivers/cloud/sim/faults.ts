import * as t from 'io-ts';
import { CLOUD_ACTIONS, DEVICE_ACTIONS, POWER_DEVICE_KINDS, type PowerDeviceKind, type SimAction } from './actions';
import type { Rng } from './rng';

/*
 * Faults are the things that go wrong *besides* the failure being recovered from: the tools of recovery
 * misbehave. Codecs rather than bare types because `resurrect sim fault '<json>'` and scenario files feed
 * them from outside.
 */

const PositiveInt = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 1, 'PositiveInt');
const Probability = t.refinement(t.number, (n) => n >= 0 && n <= 1, 'Probability');
const actionKeys = Object.fromEntries([...CLOUD_ACTIONS, ...DEVICE_ACTIONS].map((a) => [a, null])) as Record<SimAction, null>;
const deviceKeys = Object.fromEntries(POWER_DEVICE_KINDS.map((k) => [k, null])) as Record<PowerDeviceKind, null>;

export const DEVICE_FAULT_KINDS = ['bmc-stuck-on', 'bmc-lies-off', 'bmc-unreachable', 'bmc-unknown', 'bmc-hangs'] as const;
export type DeviceFaultKind = (typeof DEVICE_FAULT_KINDS)[number];

/**
 * - `bmc-stuck-on`: off is accepted, nothing happens, status keeps reading on.
 * - `bmc-lies-off`: off is accepted and status reads off, but the host keeps running (and heartbeating).
 * - `bmc-unreachable`: every call throws retryable RSR_DRIVER_UNAVAILABLE.
 * - `bmc-unknown`: status answers `unknown`; off/on still work.
 * - `bmc-hangs`: calls never answer (until the caller aborts).
 * `device` picks the host's PDU outlet instead of its BMC (default `bmc`).
 */
export const DeviceFault = t.intersection([
  t.type({ kind: t.keyof(Object.fromEntries(DEVICE_FAULT_KINDS.map((k) => [k, null])) as Record<DeviceFaultKind, null>), host: t.string }),
  t.partial({ device: t.keyof(deviceKeys) }),
]);

/** Without `times` and `probability` a counted fault fires once; with `probability` it fires that often (seeded). */
const Counted = t.partial({ instance: t.string, times: PositiveInt, probability: Probability });

export const FaultSpec = t.union(
  [
    DeviceFault,
    /** The evacuation is accepted, then the rebuild fails: instance ERROR, migration `error` (Nova's way). */
    t.intersection([t.type({ kind: t.literal('evacuate-fails') }), Counted]),
    /** The live migration is accepted, then fails: migration `failed`, instance stays ACTIVE on its source. */
    t.intersection([t.type({ kind: t.literal('live-migrate-fails') }), Counted]),
    /** The instance never reaches its end state: REBUILD / MIGRATING / powering-on forever. */
    t.type({ kind: t.literal('never-active'), instance: t.string }),
    /** The image is deleted from the image service (cleared: it is back). */
    t.type({ kind: t.literal('image-gone'), image: t.string }),
    /** Calls of `action` answer a retryable 503-like error (RSR_DRIVER_UNAVAILABLE) before doing anything. */
    t.intersection([
      t.type({ kind: t.literal('api-error'), action: t.keyof(actionKeys) }),
      t.partial({ times: PositiveInt, probability: Probability, httpStatus: t.number }),
    ]),
  ],
  'FaultSpec',
);
export type FaultSpec = t.TypeOf<typeof FaultSpec>;
export type DeviceFaultSpec = t.TypeOf<typeof DeviceFault>;

export interface ActiveFault {
  readonly id: string;
  readonly spec: FaultSpec;
  /** Times it fired so far. */
  readonly fired: number;
  /** Firings left for counted faults; undefined when unlimited. */
  readonly remaining?: number;
}

interface Entry {
  id: string;
  spec: FaultSpec;
  fired: number;
  remaining?: number;
}

type CountedKind = 'evacuate-fails' | 'live-migrate-fails' | 'api-error';

/** The active faults of one world, and the only place that decides whether one fires. */
export class FaultBook {
  private readonly entries = new Map<string, Entry>();
  private nextId = 1;

  constructor(private readonly rng: Rng) {}

  add(spec: FaultSpec): string {
    const id = `fault-${this.nextId++}`;
    const entry: Entry = { id, spec, fired: 0 };
    if (isCounted(spec)) {
      // Probabilistic faults are unlimited unless capped; plain ones fire `times` (default 1) times.
      entry.remaining = spec.times ?? (spec.probability === undefined ? 1 : undefined);
    }
    this.entries.set(id, entry);
    return id;
  }

  remove(id: string): FaultSpec | undefined {
    const entry = this.entries.get(id);
    this.entries.delete(id);
    return entry?.spec;
  }

  clear(): void {
    this.entries.clear();
  }

  list(): ActiveFault[] {
    return [...this.entries.values()].map((e) => ({ id: e.id, spec: structuredClone(e.spec), fired: e.fired, ...(e.remaining === undefined ? {} : { remaining: e.remaining }) }));
  }

  deviceFaults(host: string, device: PowerDeviceKind): Set<DeviceFaultKind> {
    const kinds = new Set<DeviceFaultKind>();
    for (const { spec } of this.entries.values()) {
      if (isDeviceFault(spec) && spec.host === host && (spec.device ?? 'bmc') === device) kinds.add(spec.kind);
    }
    return kinds;
  }

  imageGone(image: string): boolean {
    return [...this.entries.values()].some(({ spec }) => spec.kind === 'image-gone' && spec.image === image);
  }

  neverActive(instance: string): boolean {
    return [...this.entries.values()].some(({ spec }) => spec.kind === 'never-active' && spec.instance === instance);
  }

  /** Decides whether a counted fault fires for this call, and consumes it. Returns the fault that fired. */
  trip(kind: 'evacuate-fails' | 'live-migrate-fails', instance: string): ActiveFault | undefined {
    return this.fire(kind, (spec) => !('instance' in spec) || spec.instance === undefined || spec.instance === instance);
  }

  tripApiError(action: SimAction): (ActiveFault & { readonly httpStatus: number }) | undefined {
    const fired = this.fire('api-error', (spec) => spec.kind === 'api-error' && spec.action === action);
    if (!fired || fired.spec.kind !== 'api-error') return undefined;
    return { ...fired, httpStatus: fired.spec.httpStatus ?? 503 };
  }

  private fire(kind: CountedKind, matches: (spec: FaultSpec) => boolean): ActiveFault | undefined {
    for (const entry of this.entries.values()) {
      if (entry.spec.kind !== kind || !matches(entry.spec)) continue;
      const spec = entry.spec as Extract<FaultSpec, { kind: CountedKind }>;
      if (spec.probability !== undefined && !this.rng.chance(spec.probability)) continue;
      entry.fired++;
      if (entry.remaining !== undefined) {
        entry.remaining--;
        if (entry.remaining <= 0) this.entries.delete(entry.id);
      }
      return { id: entry.id, spec: entry.spec, fired: entry.fired, ...(entry.remaining === undefined ? {} : { remaining: entry.remaining }) };
    }
    return undefined;
  }
}

export function isDeviceFault(spec: FaultSpec): spec is DeviceFaultSpec {
  return (DEVICE_FAULT_KINDS as readonly string[]).includes(spec.kind);
}

function isCounted(spec: FaultSpec): spec is Extract<FaultSpec, { kind: CountedKind }> {
  return spec.kind === 'evacuate-fails' || spec.kind === 'live-migrate-fails' || spec.kind === 'api-error';
}
