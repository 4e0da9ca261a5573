/**
 * Capacity-aware placement: which host receives each VM of a failed host, decided for the whole list at
 * once so that a failure that cannot fit says which VMs will not fit, and why, before anything is done.
 * Pure and deterministic: the dry-run plan and the real fan-out call it with the same data and get the same
 * targets.
 *
 * Modes are Masakari's host-failure recovery methods:
 * - `auto`: non-reserved hosts only, Nova-like (most free RAM first, ties by name);
 * - `reserved-host`: reserved (spare) hosts only;
 * - `auto-priority`: non-reserved hosts, then reserved ones;
 * - `rh-priority`: reserved hosts, then the others.
 * Server groups are kept as Nova's filters and weighers do: hard (anti-)affinity is a filter, the soft
 * policies a preference.
 *
 * Cost: hosts sit in binary max-heaps (by free RAM, then name) per pool (reserved or not) and per zone; a VM
 * walks its pool's heap best-first and stops at the first host that fits, so placing a rack's VMs among
 * 10,000 hosts never sorts the hosts per VM.
 */
import * as t from 'io-ts';
import type { ServerGroupRef } from '../domain';

export const PLACEMENT_MODES = ['auto', 'reserved-host', 'auto-priority', 'rh-priority'] as const;
export const PlacementModeCodec = t.keyof({ auto: null, 'reserved-host': null, 'auto-priority': null, 'rh-priority': null }, 'PlacementMode');
export type PlacementMode = t.TypeOf<typeof PlacementModeCodec>;

/** A policy param value as a mode: Masakari's spellings (`reserved_host`, `rh_priority`) are accepted too. */
export function parsePlacementMode(value: unknown): PlacementMode | undefined {
  if (typeof value !== 'string') return undefined;
  const normal = value.trim().toLowerCase().replace(/_/g, '-');
  return PlacementModeCodec.is(normal) ? normal : undefined;
}

/** A host as placement sees it; free capacity is after current use (instances and claims already there). */
export interface PlacementHost {
  readonly name: string;
  readonly zone: string;
  readonly enabled: boolean;
  readonly up: boolean;
  readonly reserved: boolean;
  readonly freeVcpus: number;
  readonly freeRamMb: number;
}

/** One VM to move. `mode` and `sameZone` default to the options' values. */
export interface PlacementRequest {
  readonly instance: string;
  readonly name?: string;
  /** The host it leaves: never its target, nor anyone else's (it is failed or being drained). */
  readonly source: string;
  readonly vcpus: number;
  readonly ramMb: number;
  readonly mode?: PlacementMode;
  /** Only hosts in the source's availability zone. */
  readonly sameZone?: boolean;
  /** The source's zone when the source is not among the hosts given. */
  readonly sourceZone?: string;
  readonly serverGroup?: ServerGroupRef;
}

export type PlacementResult =
  | { readonly instance: string; readonly target: string; readonly reason?: undefined }
  | { readonly instance: string; readonly target: null; readonly reason: string };

export interface PlacementOptions {
  /** Hosts that are never targets (the failed ones). Disabled and down hosts never are anyway. */
  readonly exclude?: Iterable<string>;
  readonly mode?: PlacementMode;
  readonly sameZone?: boolean;
  /** Server group id → hosts where members not in the list already run (their hosts count for affinity too). */
  readonly groupHosts?: ReadonlyMap<string, Iterable<string>>;
}

/** Pools in the order a mode tries them: false = non-reserved hosts, true = reserved ones. */
const POOLS: Readonly<Record<PlacementMode, readonly boolean[]>> = {
  auto: [false],
  'reserved-host': [true],
  'auto-priority': [false, true],
  'rh-priority': [true, false],
};

const POOL_WORDS: Readonly<Record<PlacementMode, string>> = {
  auto: 'non-reserved host',
  'reserved-host': 'reserved host',
  'auto-priority': 'host',
  'rh-priority': 'host',
};

/**
 * Places the VMs in the order given (the caller ranks them: earlier VMs get the room first). Capacity and
 * server-group members placed by earlier VMs count for later ones. One result per VM, in the same order.
 */
export function placeInstances(vms: readonly PlacementRequest[], hosts: readonly PlacementHost[], options: PlacementOptions = {}): PlacementResult[] {
  const index = new HostIndex(hosts, new Set([...(options.exclude ?? []), ...vms.map((vm) => vm.source)]));
  const groups = new Map<string, Set<string>>();
  for (const [id, members] of options.groupHosts ?? []) groups.set(id, new Set(members));
  const zoneOf = new Map(hosts.map((h) => [h.name, h.zone]));
  return vms.map((vm) => {
    const mode = vm.mode ?? options.mode ?? 'auto';
    const zone = (vm.sameZone ?? options.sameZone) ? (vm.sourceZone ?? zoneOf.get(vm.source) ?? null) : undefined;
    const label = vm.name && vm.name !== vm.instance ? `${vm.name} (${vm.instance})` : vm.instance;
    if (zone === null) return { instance: vm.instance, target: null, reason: `${label}: the zone of its host ${vm.source} is unknown, and its placement must stay in that zone` };
    const group = vm.serverGroup;
    const members = group ? (groups.get(group.id) ?? new Set<string>()) : undefined;
    const need = { vcpus: vm.vcpus, ramMb: vm.ramMb };
    const target = index.choose(need, mode, zone, group?.policy, members);
    if (target === undefined) return { instance: vm.instance, target: null, reason: `${label}: ${index.explain(need, mode, zone, group, members)}` };
    index.take(target, need);
    if (group) {
      if (!groups.has(group.id)) groups.set(group.id, members!);
      members!.add(index.name(target));
    }
    return { instance: vm.instance, target: index.name(target) };
  });
}

interface Need {
  readonly vcpus: number;
  readonly ramMb: number;
}

const describeNeed = (need: Need) => `needs ${need.vcpus} vCPU / ${need.ramMb} MB`;

/** The eligible hosts (enabled, up, not excluded) with their remaining capacity, indexed by pool and zone. */
class HostIndex {
  private readonly names: string[] = [];
  private readonly zones: string[] = [];
  private readonly reserved: boolean[] = [];
  private readonly byName = new Map<string, number>();
  private readonly ram: Float64Array;
  private readonly cpu: Float64Array;
  /** Name order as a number, so the heaps compare numbers only. */
  private readonly rank: Int32Array;
  private readonly posAll: Int32Array;
  private readonly posZone: Int32Array;
  private readonly all: [HostHeap, HostHeap];
  private readonly byZone = new Map<string, HostHeap>();
  /** Scratch for the best-first walk, shared by every search (one search at a time). */
  private readonly frontier: Int32Array;

  constructor(hosts: readonly PlacementHost[], exclude: ReadonlySet<string>) {
    const eligible = hosts.filter((h) => h.enabled && h.up && !exclude.has(h.name));
    const n = eligible.length;
    this.ram = new Float64Array(n);
    this.cpu = new Float64Array(n);
    this.rank = new Int32Array(n);
    this.posAll = new Int32Array(n).fill(-1);
    this.posZone = new Int32Array(n).fill(-1);
    this.frontier = new Int32Array(Math.max(1, n));
    eligible.forEach((h, i) => {
      if (this.byName.has(h.name)) throw new RangeError(`placement: host ${h.name} is listed twice`);
      this.names.push(h.name);
      this.zones.push(h.zone);
      this.reserved.push(h.reserved);
      this.byName.set(h.name, i);
      this.ram[i] = h.freeRamMb;
      this.cpu[i] = h.freeVcpus;
    });
    const order = this.names.map((_, i) => i).sort((a, b) => (this.names[a]! < this.names[b]! ? -1 : 1));
    order.forEach((host, r) => { this.rank[host] = r; });
    const members = (wantReserved: boolean) => this.names.map((_, i) => i).filter((i) => this.reserved[i] === wantReserved);
    this.all = [new HostHeap(members(false), this.better, this.posAll), new HostHeap(members(true), this.better, this.posAll)];
  }

  name(host: number): string {
    return this.names[host]!;
  }

  /** `a` is preferred to `b`: more free RAM (Nova's RAM weigher), then the name. */
  private readonly better = (a: number, b: number): boolean => this.ram[a]! > this.ram[b]! || (this.ram[a] === this.ram[b] && this.rank[a]! < this.rank[b]!);

  private heap(reserved: boolean, zone: string | undefined): HostHeap {
    if (zone === undefined) return this.all[reserved ? 1 : 0];
    const key = `${reserved ? 'r' : 'n'}\u0000${zone}`;
    let heap = this.byZone.get(key);
    if (!heap) {
      // Built on first use: most plans never ask for a zone.
      const hosts = this.names.map((_, i) => i).filter((i) => this.reserved[i] === reserved && this.zones[i] === zone);
      this.byZone.set(key, (heap = new HostHeap(hosts, this.better, this.posZone)));
    }
    return heap;
  }

  private fits(host: number, need: Need): boolean {
    return this.cpu[host]! >= need.vcpus && this.ram[host]! >= need.ramMb;
  }

  /** The target for one VM, or undefined; `members` are the hosts of its server group's other members. */
  choose(need: Need, mode: PlacementMode, zone: string | undefined, policy: ServerGroupRef['policy'] | undefined, members: ReadonlySet<string> | undefined): number | undefined {
    const pools = POOLS[mode];
    const known = members && members.size > 0 ? members : undefined;
    if (policy === 'affinity' && known) return this.bestOf(known, need, pools, zone);
    if (policy === 'soft-affinity' && known) {
      const together = this.bestOf(known, need, pools, zone);
      if (together !== undefined) return together;
    }
    const avoid = (policy === 'anti-affinity' || policy === 'soft-anti-affinity') && known ? known : undefined;
    const found = this.search(need, pools, zone, avoid);
    if (found !== undefined || policy !== 'soft-anti-affinity' || !avoid) return found;
    return this.search(need, pools, zone, undefined);
  }

  private search(need: Need, pools: readonly boolean[], zone: string | undefined, avoid: ReadonlySet<string> | undefined): number | undefined {
    for (const reserved of pools) {
      const found = this.walk(this.heap(reserved, zone), need, avoid);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /**
   * Best-first walk down the heap: a node's children are never better than it, so the first node that fits
   * and is not avoided is the best such host, and a node without enough RAM ends the walk (nothing after it
   * has more).
   */
  private walk(heap: HostHeap, need: Need, avoid: ReadonlySet<string> | undefined): number | undefined {
    if (heap.size === 0) return undefined;
    const items = heap.items;
    const frontier = this.frontier;
    let size = 0;
    const better = (p: number, q: number) => this.better(items[p]!, items[q]!);
    const push = (p: number) => {
      let i = size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!better(p, frontier[parent]!)) break;
        frontier[i] = frontier[parent]!;
        i = parent;
      }
      frontier[i] = p;
    };
    const pop = (): number => {
      const top = frontier[0]!;
      const last = frontier[--size]!;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= size) break;
        const r = l + 1;
        const child = r < size && better(frontier[r]!, frontier[l]!) ? r : l;
        if (!better(frontier[child]!, last)) break;
        frontier[i] = frontier[child]!;
        i = child;
      }
      if (size > 0) frontier[i] = last;
      return top;
    };
    push(0);
    while (size > 0) {
      const p = pop();
      const host = items[p]!;
      if (this.ram[host]! < need.ramMb) return undefined;
      if (this.cpu[host]! >= need.vcpus && !avoid?.has(this.names[host]!)) return host;
      if (2 * p + 1 < heap.size) push(2 * p + 1);
      if (2 * p + 2 < heap.size) push(2 * p + 2);
    }
    return undefined;
  }

  /** The best of a few named hosts that is eligible, in one of the pools (in pool order) and zone, and fits. */
  private bestOf(names: ReadonlySet<string>, need: Need, pools: readonly boolean[], zone: string | undefined): number | undefined {
    for (const reserved of pools) {
      let best: number | undefined;
      for (const name of names) {
        const host = this.byName.get(name);
        if (host === undefined || this.reserved[host] !== reserved || (zone !== undefined && this.zones[host] !== zone) || !this.fits(host, need)) continue;
        if (best === undefined || this.better(host, best)) best = host;
      }
      if (best !== undefined) return best;
    }
    return undefined;
  }

  take(host: number, need: Need): void {
    this.ram[host] = this.ram[host]! - need.ramMb;
    this.cpu[host] = this.cpu[host]! - need.vcpus;
    const reserved = this.reserved[host]!;
    this.all[reserved ? 1 : 0].sink(this.posAll[host]!);
    const zoned = this.byZone.get(`${reserved ? 'r' : 'n'}\u0000${this.zones[host]!}`);
    if (zoned) zoned.sink(this.posZone[host]!);
  }

  /** Why `choose` found nothing, in words an operator can act on. */
  explain(need: Need, mode: PlacementMode, zone: string | undefined, group: ServerGroupRef | undefined, members: ReadonlySet<string> | undefined): string {
    const where = zone === undefined ? '' : ` in zone ${zone}`;
    const pools = POOLS[mode];
    const poolWord = POOL_WORDS[mode];
    const modeNote = mode === 'auto' ? '' : ` (mode ${mode})`;
    const heaps = pools.map((reserved) => this.heap(reserved, zone));
    if (heaps.every((h) => h.size === 0)) {
      const spares = mode === 'auto' ? this.heap(true, zone).size : 0;
      const hint = spares > 0 ? `; ${spares} reserved host${spares === 1 ? ' is' : 's are'} left for modes reserved-host, auto-priority and rh-priority` : '';
      return `no ${poolWord}${where} is enabled and up${modeNote}${hint}`;
    }
    if (group && members && members.size > 0) {
      const hosts = [...members].sort();
      const list = hosts.length > 5 ? `${hosts.slice(0, 5).join(', ')} and ${hosts.length - 5} more` : hosts.join(', ');
      if (group.policy === 'affinity') return `affinity group ${group.id}: its members run on ${list}; ${this.whyNot(hosts, need, pools, zone)}`;
      if (group.policy === 'anti-affinity' && this.search(need, pools, zone, undefined) !== undefined) {
        return `anti-affinity group ${group.id}: every ${poolWord}${where} with room already runs a member (${list}); ${describeNeed(need)}`;
      }
    }
    let largest: number | undefined;
    for (const heap of heaps) {
      const top = heap.size > 0 ? heap.items[0]! : undefined;
      if (top !== undefined && (largest === undefined || this.better(top, largest))) largest = top;
    }
    const free = largest === undefined ? 'nothing' : `${this.cpu[largest]} vCPU / ${this.ram[largest]} MB (${this.names[largest]})`;
    const most = `largest free on an eligible ${poolWord}${where} is ${free}`;
    return mode === 'auto' && zone === undefined ? `${describeNeed(need)}; ${most}` : `no ${poolWord}${where} has room${modeNote}: ${describeNeed(need)}; ${most}`;
  }

  private whyNot(hosts: readonly string[], need: Need, pools: readonly boolean[], zone: string | undefined): string {
    const reasons = hosts.slice(0, 5).map((name) => {
      const host = this.byName.get(name);
      if (host === undefined) return `${name} is not a possible target (failed, down or disabled)`;
      if (!pools.includes(this.reserved[host]!)) return `${name} is ${this.reserved[host] ? '' : 'not '}reserved, which the placement mode excludes`;
      if (zone !== undefined && this.zones[host] !== zone) return `${name} is in zone ${this.zones[host]}, not ${zone}`;
      return `${name} has ${this.cpu[host]} vCPU / ${this.ram[host]} MB free`;
    });
    return `${reasons.join('; ')}; ${describeNeed(need)}`;
  }
}

/** A binary max-heap of host numbers; `pos` (shared by heaps no host is in twice) says where each host sits. */
class HostHeap {
  readonly items: Int32Array;
  readonly size: number;

  constructor(hosts: readonly number[], private readonly better: (a: number, b: number) => boolean, private readonly pos: Int32Array) {
    this.items = Int32Array.from(hosts);
    this.size = hosts.length;
    hosts.forEach((host, i) => { pos[host] = i; });
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.sink(i);
  }

  /** Moves the host at `i` down after its free capacity shrank. */
  sink(i: number): void {
    const { items, pos, better, size } = this;
    const host = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= size) break;
      const r = l + 1;
      const child = r < size && better(items[r]!, items[l]!) ? r : l;
      if (!better(items[child]!, host)) break;
      items[i] = items[child]!;
      pos[items[i]!] = i;
      i = child;
    }
    items[i] = host;
    pos[host] = i;
  }
}
