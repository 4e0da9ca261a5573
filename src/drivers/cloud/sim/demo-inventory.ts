import { Rng } from './rng';
import { createWorld, type WorldSpecInput } from './inventory';
import type { SimWorld, SimWorldOptions } from './world';

/*
 * The demo cloud: 8 hosts in 2 zones, a reserved spare per zone, ~60 instances of 4 projects with the
 * metadata recovery policies look at (HA_Enabled, tier, flavor `evacuable`), boot-from-volume and local
 * disks mixed. Each working host stays under 60 % so that one failed host's VMs fit on the others.
 */

export interface DemoWorldOptions extends SimWorldOptions {
  /** Number of instances (default 60). */
  readonly instances?: number;
}

const HOSTS = 8;
const HOST_VCPUS = 96;
const HOST_RAM_MB = 384 * 1024;
const FILL_LIMIT = 0.6;

const FLAVORS = {
  'm1.small': { vcpus: 1, ramMb: 2048, extraSpecs: {} },
  'm1.medium': { vcpus: 2, ramMb: 4096, extraSpecs: {} },
  'm1.large': { vcpus: 4, ramMb: 8192, extraSpecs: { evacuable: 'true' } },
  'm1.xlarge': { vcpus: 8, ramMb: 16384, extraSpecs: { evacuable: 'true' } },
  'db.large': { vcpus: 8, ramMb: 32768, extraSpecs: { evacuable: 'true', 'hw:cpu_policy': 'dedicated' } },
} as const;
type FlavorName = keyof typeof FLAVORS;

const IMAGES = ['img-ubuntu-2204', 'img-rhel-9', 'img-debian-12', 'img-cirros-06'];

interface Profile {
  readonly project: string;
  readonly tier: 'gold' | 'silver' | 'bronze' | 'dev';
  readonly roles: readonly { readonly role: string; readonly flavors: readonly FlavorName[] }[];
  /** Relative share of the instances. */
  readonly weight: number;
}

const PROFILES: readonly Profile[] = [
  { project: 'billing', tier: 'gold', weight: 2, roles: [{ role: 'db', flavors: ['db.large'] }, { role: 'app', flavors: ['m1.large', 'm1.xlarge'] }] },
  { project: 'web-shop', tier: 'silver', weight: 4, roles: [{ role: 'web', flavors: ['m1.medium', 'm1.large'] }, { role: 'api', flavors: ['m1.large'] }, { role: 'cache', flavors: ['m1.medium'] }] },
  { project: 'analytics', tier: 'bronze', weight: 2, roles: [{ role: 'etl', flavors: ['m1.xlarge', 'm1.large'] }, { role: 'worker', flavors: ['m1.medium'] }] },
  { project: 'ci', tier: 'dev', weight: 2, roles: [{ role: 'runner', flavors: ['m1.small', 'm1.medium'] }] },
];

/** The demo inventory as a plain spec, deterministic under the seed. */
export function demoInventory(seed: number | string = 1, instanceCount = 60): WorldSpecInput {
  const rng = new Rng(seed).fork('inventory');
  const hosts = Array.from({ length: HOSTS }, (_, n) => {
    const index = n + 1;
    const zone = index <= HOSTS / 2 ? 'az-1' : 'az-2';
    const spare = index % (HOSTS / 2) === 0; // compute-4 and compute-8
    return {
      name: `compute-${index}`,
      zone,
      aggregates: spare ? ['agg-gold', 'agg-general'] : index % 4 === 3 ? ['agg-general'] : ['agg-gold'],
      tags: [`rack-${zone}-${Math.ceil((((index - 1) % 4) + 1) / 2)}`, ...(spare ? ['spare'] : [])],
      vcpus: HOST_VCPUS,
      ramMb: HOST_RAM_MB,
      reserved: spare,
    };
  });
  const workers = hosts.filter((h) => !h.reserved).map((h) => ({ name: h.name, vcpus: 0, ramMb: 0 }));
  const counters = new Map<string, number>();
  const totalWeight = PROFILES.reduce((sum, p) => sum + p.weight, 0);

  const instances = [];
  for (let n = 0; n < instanceCount; n++) {
    const profile = weighted(rng, totalWeight);
    const { role, flavors } = rng.pick(profile.roles);
    const flavorName = rng.pick(flavors);
    const flavor = FLAVORS[flavorName];
    const room = workers.filter((w) => w.vcpus + flavor.vcpus <= HOST_VCPUS * FILL_LIMIT && w.ramMb + flavor.ramMb <= HOST_RAM_MB * FILL_LIMIT);
    if (room.length === 0) break; // the demo never needs more than fits with a host's worth of headroom
    const host = rng.pick(room);
    host.vcpus += flavor.vcpus;
    host.ramMb += flavor.ramMb;
    const key = `${profile.project}-${role}`;
    const seq = (counters.get(key) ?? 0) + 1;
    counters.set(key, seq);
    const bootFromVolume = profile.tier === 'gold' || rng.chance(0.2);
    const ha = profile.tier === 'gold' || profile.tier === 'silver' ? 'True' : profile.tier === 'dev' ? 'False' : rng.chance(0.5) ? 'True' : 'False';
    instances.push({
      id: rng.uuid(),
      name: `${key}-${String(seq).padStart(2, '0')}`,
      host: host.name,
      project: profile.project,
      flavor: flavorName,
      image: bootFromVolume ? '' : rng.pick(IMAGES),
      metadata: { HA_Enabled: ha, tier: profile.tier, role, ...(profile.tier === 'gold' ? { 'instanceha:restart_priority': role === 'db' ? '100' : '50' } : {}) },
      // Volume-backed roots survive evacuation as they are; so do Ceph-backed ephemeral disks.
      sharedStorage: bootFromVolume || rng.chance(0.5),
      status: profile.tier === 'dev' && rng.chance(0.2) ? ('SHUTOFF' as const) : ('ACTIVE' as const),
    });
  }
  return { hosts, flavors: FLAVORS, images: IMAGES, instances };
}

/** A world holding the demo inventory. */
export function createDemoWorld(options: DemoWorldOptions = {}): SimWorld {
  return createWorld(demoInventory(options.seed ?? 1, options.instances), options);
}

function weighted(rng: Rng, total: number): Profile {
  let roll = rng.next() * total;
  for (const profile of PROFILES) {
    roll -= profile.weight;
    if (roll < 0) return profile;
  }
  return PROFILES[PROFILES.length - 1] as Profile;
}
