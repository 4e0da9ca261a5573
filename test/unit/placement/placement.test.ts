import test from 'ava';
import fc from 'fast-check';
import type { ServerGroupRef } from '../../../src/domain';
import { parsePlacementMode, placeInstances, PLACEMENT_MODES, type PlacementHost, type PlacementMode, type PlacementRequest, type PlacementResult } from '../../../src/placement/placement';

const host = (name: string, over: Partial<PlacementHost> = {}): PlacementHost => ({
  name, zone: 'az-1', enabled: true, up: true, reserved: false, freeVcpus: 16, freeRamMb: 32768, ...over,
});
const vm = (instance: string, over: Partial<PlacementRequest> = {}): PlacementRequest => ({ instance, source: 'failed-1', vcpus: 4, ramMb: 8192, ...over });
const targets = (results: readonly PlacementResult[]) => results.map((r) => r.target);

test('capacity taken by earlier VMs counts for later ones; the VM that no longer fits is named with its shortfall', (t) => {
  const hosts = [host('a', { freeVcpus: 8, freeRamMb: 16384 }), host('b', { freeVcpus: 4, freeRamMb: 8192 })];
  const results = placeInstances([vm('v1'), vm('v2'), vm('v3'), vm('v4', { name: 'db-4', vcpus: 8, ramMb: 16384 })], hosts);
  // v1: a has most RAM; v2: a and b tie at 8192 MB, a by name; v3: b; v4: nothing left.
  t.deepEqual(targets(results), ['a', 'a', 'b', null]);
  t.is(results[3]!.reason, 'db-4 (v4): needs 8 vCPU / 16384 MB; largest free on an eligible non-reserved host is 0 vCPU / 0 MB (a)');
});

test('the reason gives the largest free host when a big VM does not fit anywhere', (t) => {
  const hosts = [host('compute-7', { freeVcpus: 4, freeRamMb: 8192 }), host('compute-2', { freeVcpus: 2, freeRamMb: 4096 })];
  const [result] = placeInstances([vm('big', { vcpus: 8, ramMb: 16384 })], hosts);
  t.is(result!.target, null);
  t.regex(result!.reason!, /^big: needs 8 vCPU \/ 16384 MB; largest free on an eligible non-reserved host is 4 vCPU \/ 8192 MB \(compute-7\)$/);
});

test('vCPUs count as much as RAM: the host with most RAM but too few vCPUs is passed over', (t) => {
  const hosts = [host('ram-rich', { freeVcpus: 2, freeRamMb: 65536 }), host('balanced', { freeVcpus: 8, freeRamMb: 16384 })];
  t.deepEqual(targets(placeInstances([vm('v1')], hosts)), ['balanced']);
});

test('mode auto: non-reserved hosts only, even when a reserved spare has room', (t) => {
  const hosts = [host('n1', { freeVcpus: 4, freeRamMb: 8192 }), host('spare', { reserved: true, freeRamMb: 65536 })];
  const results = placeInstances([vm('v1'), vm('v2')], hosts, { mode: 'auto' });
  t.deepEqual(targets(results), ['n1', null]);
  t.regex(results[1]!.reason!, /v2: needs 4 vCPU \/ 8192 MB; largest free on an eligible non-reserved host is 0 vCPU \/ 0 MB \(n1\)/);
});

test('mode reserved-host: reserved hosts only; none with room is said so', (t) => {
  const hosts = [host('n1', { freeRamMb: 65536 }), host('spare', { reserved: true, freeVcpus: 4, freeRamMb: 8192 })];
  const results = placeInstances([vm('v1'), vm('v2')], hosts, { mode: 'reserved-host' });
  t.deepEqual(targets(results), ['spare', null]);
  t.regex(results[1]!.reason!, /^v2: no reserved host has room \(mode reserved-host\): needs 4 vCPU \/ 8192 MB; largest free on an eligible reserved host is 0 vCPU \/ 0 MB \(spare\)$/);
  const none = placeInstances([vm('v1')], [host('n1')], { mode: 'reserved-host' });
  t.regex(none[0]!.reason!, /no reserved host is enabled and up \(mode reserved-host\)/);
});

test('mode auto-priority: non-reserved first, then reserved', (t) => {
  const hosts = [host('n1', { freeVcpus: 4, freeRamMb: 8192 }), host('spare', { reserved: true, freeRamMb: 65536 })];
  t.deepEqual(targets(placeInstances([vm('v1'), vm('v2'), vm('v3')], hosts, { mode: 'auto-priority' })), ['n1', 'spare', 'spare']);
});

test('mode rh-priority: reserved first, then the others', (t) => {
  const hosts = [host('n1', { freeRamMb: 65536 }), host('spare', { reserved: true, freeVcpus: 4, freeRamMb: 8192 })];
  t.deepEqual(targets(placeInstances([vm('v1'), vm('v2')], hosts, { mode: 'rh-priority' })), ['spare', 'n1']);
});

test('the mode is per VM (a policy decides it per rule), and Masakari spellings parse', (t) => {
  const hosts = [host('n1'), host('spare', { reserved: true, freeRamMb: 65536 })];
  t.deepEqual(targets(placeInstances([vm('v1', { mode: 'auto' }), vm('v2', { mode: 'reserved-host' })], hosts)), ['n1', 'spare']);
  t.is(parsePlacementMode('rh_priority'), 'rh-priority');
  t.is(parsePlacementMode('RESERVED_HOST'), 'reserved-host');
  t.is(parsePlacementMode('somewhere'), undefined);
  t.deepEqual([...PLACEMENT_MODES], ['auto', 'reserved-host', 'auto-priority', 'rh-priority']);
});

test('disabled, down, failed and source hosts are never chosen, however much room they have', (t) => {
  const hosts = [
    host('disabled', { enabled: false, freeRamMb: 1 << 20 }),
    host('down', { up: false, freeRamMb: 1 << 20 }),
    host('failed-2', { freeRamMb: 1 << 20 }),
    host('failed-1', { freeRamMb: 1 << 20 }),
    host('ok', { freeVcpus: 4, freeRamMb: 8192 }),
  ];
  const results = placeInstances([vm('v1'), vm('v2')], hosts, { exclude: ['failed-2'] });
  t.deepEqual(targets(results), ['ok', null]);
  const onlyBad = placeInstances([vm('v1')], hosts.slice(0, 4), { exclude: ['failed-2'], mode: 'auto-priority' });
  t.regex(onlyBad[0]!.reason!, /no host is enabled and up \(mode auto-priority\)/);
});

test('same zone: the target stays in the zone of the failed host, and a full zone is named', (t) => {
  const hosts = [
    host('failed-1', { zone: 'az-1' }),
    host('a1', { zone: 'az-1', freeVcpus: 4, freeRamMb: 8192 }),
    host('b1', { zone: 'az-2', freeRamMb: 65536 }),
  ];
  const results = placeInstances([vm('v1', { sameZone: true }), vm('v2', { sameZone: true }), vm('v3')], hosts);
  t.deepEqual(targets(results), ['a1', null, 'b1']);
  t.regex(results[1]!.reason!, /^v2: no non-reserved host in zone az-1 has room: needs 4 vCPU \/ 8192 MB; largest free on an eligible non-reserved host in zone az-1 is 0 vCPU \/ 0 MB \(a1\)$/);
  t.deepEqual(targets(placeInstances([vm('v1', { source: 'elsewhere', sourceZone: 'az-2' })], hosts, { sameZone: true })), ['b1']);
});

const anti = (id: string): ServerGroupRef => ({ id, policy: 'anti-affinity' });

test('hard anti-affinity: never next to a running member, nor next to a member placed earlier in the same list', (t) => {
  const hosts = [host('h1', { freeRamMb: 65536 }), host('h2'), host('h3', { freeRamMb: 16384 })];
  const results = placeInstances(
    [vm('m1', { serverGroup: anti('g1') }), vm('m2', { serverGroup: anti('g1') }), vm('m3', { serverGroup: anti('g1') }), vm('free')],
    hosts,
    { groupHosts: new Map([['g1', ['h1']]]) },
  );
  // h1 holds a member: m1 takes h2 (most RAM after h1), m2 h3, m3 nothing; a VM outside the group still gets h1.
  t.deepEqual(targets(results), ['h2', 'h3', null, 'h1']);
  t.regex(results[2]!.reason!, /^m3: anti-affinity group g1: every non-reserved host with room already runs a member \(h1, h2, h3\); needs 4 vCPU \/ 8192 MB$/);
});

test('anti-affinity out of room is a capacity reason, not a group reason', (t) => {
  const results = placeInstances([vm('m1', { serverGroup: anti('g1'), vcpus: 32 })], [host('h1'), host('h2')], { groupHosts: new Map([['g1', ['h1']]]) });
  t.regex(results[0]!.reason!, /needs 32 vCPU/);
});

test('hard affinity: with its members, or nowhere; soft policies prefer and fall back', (t) => {
  const hosts = [host('h1', { freeRamMb: 65536 }), host('h2', { freeVcpus: 8, freeRamMb: 16384 })];
  const affinity: ServerGroupRef = { id: 'ga', policy: 'affinity' };
  const together = placeInstances([vm('a1', { serverGroup: affinity }), vm('a2', { serverGroup: affinity }), vm('a3', { serverGroup: affinity })], hosts, { groupHosts: new Map([['ga', ['h2']]]) });
  t.deepEqual(targets(together), ['h2', 'h2', null]);
  t.regex(together[2]!.reason!, /^a3: affinity group ga: its members run on h2; h2 has 0 vCPU \/ 0 MB free; needs 4 vCPU \/ 8192 MB$/);
  // Members placed earlier in the list pull the later ones when none runs yet.
  t.deepEqual(targets(placeInstances([vm('a1', { serverGroup: affinity }), vm('a2', { serverGroup: affinity })], hosts)), ['h1', 'h1']);
  const soft: ServerGroupRef = { id: 'gs', policy: 'soft-anti-affinity' };
  t.deepEqual(targets(placeInstances([vm('s1', { serverGroup: soft }), vm('s2', { serverGroup: soft }), vm('s3', { serverGroup: soft })], [host('h1'), host('h2')])), ['h1', 'h2', 'h1']);
  const softTogether: ServerGroupRef = { id: 'gt', policy: 'soft-affinity' };
  t.deepEqual(targets(placeInstances([vm('t1', { serverGroup: softTogether }), vm('t2', { serverGroup: softTogether, vcpus: 16 })], [host('h1', { freeVcpus: 8 }), host('h2', { freeVcpus: 16 })])), ['h1', 'h2']);
});

test('deterministic: the same input gives the same targets, whatever the order of the hosts', (t) => {
  const hosts = Array.from({ length: 30 }, (_, i) => host(`c-${i}`, { freeVcpus: 8 + (i % 3) * 4, freeRamMb: 16384 * (1 + (i % 4)) }));
  const vms = Array.from({ length: 40 }, (_, i) => vm(`v${i}`, { vcpus: 1 + (i % 4), ramMb: 2048 * (1 + (i % 5)) }));
  const a = placeInstances(vms, hosts);
  const b = placeInstances(vms, [...hosts].reverse());
  t.deepEqual(a, b);
});

// ---- properties -----------------------------------------------------------------------------------

const groupIds = ['g1', 'g2', 'g3'];
const arbHost = fc.record({
  zone: fc.constantFrom('az-1', 'az-2'),
  // Mostly usable hosts, so that the interesting cases (room, groups, pools) come up often.
  enabled: fc.integer({ min: 0, max: 4 }).map((n) => n > 0),
  up: fc.integer({ min: 0, max: 4 }).map((n) => n > 0),
  reserved: fc.boolean(),
  freeVcpus: fc.integer({ min: 0, max: 32 }),
  freeRamMb: fc.integer({ min: 0, max: 16 }).map((n) => n * 2048),
});
const arbVm = fc.record({
  vcpus: fc.integer({ min: 1, max: 16 }),
  ramMb: fc.integer({ min: 1, max: 8 }).map((n) => n * 2048),
  mode: fc.constantFrom<PlacementMode>(...PLACEMENT_MODES),
  sameZone: fc.boolean(),
  group: fc.option(fc.constantFrom(...groupIds), { nil: undefined }),
  source: fc.integer({ min: 0, max: 2 }),
});
const arbWorld = fc.record({
  hosts: fc.array(arbHost, { minLength: 1, maxLength: 25 }),
  vms: fc.array(arbVm, { maxLength: 40 }),
  running: fc.array(fc.tuple(fc.constantFrom(...groupIds), fc.nat()), { maxLength: 6 }),
});

type World = typeof arbWorld extends fc.Arbitrary<infer W> ? W : never;

function build(world: World) {
  const hosts = world.hosts.map((h, i) => ({ ...h, name: `h${String(i).padStart(2, '0')}` }));
  // The first three hosts are the failed ones; the VMs come from them.
  const failed = hosts.slice(0, 3).map((h) => h.name);
  const vms: PlacementRequest[] = world.vms.map((v, i) => ({
    instance: `vm-${i}`, source: failed[v.source % failed.length]!, vcpus: v.vcpus, ramMb: v.ramMb, mode: v.mode, sameZone: v.sameZone,
    ...(v.group ? { serverGroup: anti(v.group) } : {}),
  }));
  const groupHosts = new Map<string, string[]>();
  for (const [group, n] of world.running) groupHosts.set(group, [...(groupHosts.get(group) ?? []), hosts[n % hosts.length]!.name]);
  return { hosts, failed, vms, groupHosts };
}

test('property: no host is over-committed, no anti-affinity pair shares a host, targets are eligible and in the mode\'s pools', (t) => {
  fc.assert(fc.property(arbWorld, (world) => {
    const { hosts, failed, vms, groupHosts } = build(world);
    const results = placeInstances(vms, hosts, { exclude: failed, groupHosts });
    if (results.length !== vms.length) return false;
    const byName = new Map(hosts.map((h) => [h.name, h]));
    const used = new Map<string, { vcpus: number; ramMb: number }>();
    const members = new Map<string, Set<string>>([...groupHosts].map(([g, hs]) => [g, new Set(hs)]));
    for (let i = 0; i < vms.length; i++) {
      const v = vms[i]!;
      const r = results[i]!;
      if (r.instance !== v.instance) return false;
      if (r.target === null) {
        if (!r.reason.startsWith(`${v.instance}: `)) return false;
        continue;
      }
      const h = byName.get(r.target)!;
      if (!h.enabled || !h.up || failed.includes(h.name)) return false;
      const allowed = { auto: [false], 'reserved-host': [true], 'auto-priority': [false, true], 'rh-priority': [true, false] }[v.mode!];
      if (!allowed.includes(h.reserved)) return false;
      if (v.sameZone && h.zone !== byName.get(v.source)!.zone) return false;
      const u = used.get(h.name) ?? { vcpus: 0, ramMb: 0 };
      u.vcpus += v.vcpus;
      u.ramMb += v.ramMb;
      used.set(h.name, u);
      if (u.vcpus > h.freeVcpus || u.ramMb > h.freeRamMb) return false;
      if (v.serverGroup) {
        const set = members.get(v.serverGroup.id) ?? new Set<string>();
        if (set.has(h.name)) return false;
        set.add(h.name);
        members.set(v.serverGroup.id, set);
      }
    }
    return true;
  }), { numRuns: 300 });
  t.pass();
});

/** The obvious implementation: per VM, sort every eligible host. The indexed one must choose exactly the same. */
function naive(vms: readonly PlacementRequest[], hosts: readonly PlacementHost[], exclude: readonly string[], groupHosts: ReadonlyMap<string, readonly string[]>): (string | null)[] {
  const free = new Map(hosts.map((h) => [h.name, { vcpus: h.freeVcpus, ramMb: h.freeRamMb }]));
  const never = new Set([...exclude, ...vms.map((v) => v.source)]);
  const members = new Map([...groupHosts].map(([g, hs]) => [g, new Set(hs)]));
  const zoneOf = new Map(hosts.map((h) => [h.name, h.zone]));
  const pools = { auto: [false], 'reserved-host': [true], 'auto-priority': [false, true], 'rh-priority': [true, false] };
  return vms.map((v) => {
    const avoid = v.serverGroup ? (members.get(v.serverGroup.id) ?? new Set<string>()) : new Set<string>();
    for (const reserved of pools[v.mode ?? 'auto']) {
      const candidates = hosts
        .filter((h) => h.enabled && h.up && !never.has(h.name) && h.reserved === reserved && (!v.sameZone || h.zone === zoneOf.get(v.source)))
        .filter((h) => free.get(h.name)!.vcpus >= v.vcpus && free.get(h.name)!.ramMb >= v.ramMb && !avoid.has(h.name))
        .sort((a, b) => free.get(b.name)!.ramMb - free.get(a.name)!.ramMb || (a.name < b.name ? -1 : 1));
      const chosen = candidates[0];
      if (chosen) {
        free.get(chosen.name)!.vcpus -= v.vcpus;
        free.get(chosen.name)!.ramMb -= v.ramMb;
        if (v.serverGroup) members.set(v.serverGroup.id, avoid.add(chosen.name));
        return chosen.name;
      }
    }
    return null;
  });
}

test('property: the heap walk chooses exactly what sorting every host per VM would', (t) => {
  fc.assert(fc.property(arbWorld, (world) => {
    const { hosts, failed, vms, groupHosts } = build(world);
    const fast = targets(placeInstances(vms, hosts, { exclude: failed, groupHosts }));
    const slow = naive(vms, hosts, failed, groupHosts);
    return JSON.stringify(fast) === JSON.stringify(slow);
  }), { numRuns: 300 });
  t.pass();
});
