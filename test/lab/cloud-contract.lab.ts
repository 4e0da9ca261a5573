/**
 * The CloudDriver contract (test/contracts/cloud-driver.ts) against the lab's real Nova 26, through our
 * OpenStack driver, as the in-process and served simulators pass it. Per test: the contract's inventory is
 * booted for real (compute-a/b/c are the lab's compute-1/2/3, in availability zones az-1/az-1/az-2), the
 * driver talks to Nova through a counting proxy, and afterwards every host is brought back the operator's way
 * and every server deleted. Needs `npm run lab:up`; run with `npm run test:lab`.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { stringify } from 'yaml';
import { loadCloudConfig } from '../../src/drivers/cloud/openstack/clouds';
import { OpenStackCloudDriver } from '../../src/drivers/cloud/openstack/openstack-cloud-driver';
import { CLOUD_CONTRACT_INVENTORY, cloudDriverContract, type CloudHarness } from '../contracts/cloud-driver';
import { LabCloud } from './lab-cloud';
import { NovaProxy } from './nova-proxy';

const HOSTS: Record<string, string> = { 'compute-a': 'compute-1', 'compute-b': 'compute-2', 'compute-c': 'compute-3' };
const ZONES = [{ name: 'contract-az-1', zone: 'az-1', hosts: ['compute-1', 'compute-2'] }, { name: 'contract-az-2', zone: 'az-2', hosts: ['compute-3'] }];
/** What nova.virt.fake.FakeDriver reports for every host, whatever the inventory says. */
const FAKE_HYPERVISOR = { vcpus: 1000, ramMb: 800_000 };
const SHARED_STORAGE_KEY = 'resurrect:shared_storage';
const IMAGE_PREFIX = 'contract-';

const lab = LabCloud.open();

/** Availability zones are host aggregates with a zone: made for this file, taken down after it. */
test.before(async () => {
  for (const host of Object.values(HOSTS)) await lab.restoreHost(host);
  await lab.deleteAllServers();
  for (const { name, zone, hosts } of ZONES) {
    const listed = await lab.nova('GET', '/os-aggregates');
    let aggregate = (listed.json.aggregates as { id: number; name: string; hosts: string[] }[]).find((a) => a.name === name);
    aggregate ??= (await lab.nova('POST', '/os-aggregates', { aggregate: { name, availability_zone: zone } })).json.aggregate as { id: number; name: string; hosts: string[] };
    for (const host of hosts) {
      if (!(aggregate.hosts ?? []).includes(host)) await lab.nova('POST', `/os-aggregates/${aggregate.id}/action`, { add_host: { host } });
    }
  }
});

test.after.always(async () => {
  const listed = await lab.nova('GET', '/os-aggregates');
  for (const aggregate of listed.json.aggregates as { id: number; name: string; hosts: string[] }[]) {
    if (!ZONES.some((z) => z.name === aggregate.name)) continue;
    for (const host of aggregate.hosts ?? []) await lab.nova('POST', `/os-aggregates/${aggregate.id}/action`, { remove_host: { host } });
    await lab.nova('DELETE', `/os-aggregates/${aggregate.id}`);
  }
  await lab.deleteImagesNamed(IMAGE_PREFIX);
});

async function labHarness(): Promise<CloudHarness> {
  const flavors: Record<string, string> = {};
  for (const [name, f] of Object.entries(CLOUD_CONTRACT_INVENTORY.flavors)) {
    flavors[name] = await lab.flavor(`contract-${name}`, f.vcpus, f.ramMb, 'extraSpecs' in f ? f.extraSpecs : {});
  }
  const image = await lab.createImage(`${IMAGE_PREFIX}img-base`);
  const booted = CLOUD_CONTRACT_INVENTORY.instances.filter((i) => i.image !== '');
  const ids = await lab.bootAll(booted.map((i) => ({
    name: `contract-${i.name}`, host: HOSTS[i.host]!, flavorId: flavors[i.flavor]!, imageId: image,
    metadata: { ...('metadata' in i ? i.metadata : {}), ...(i.sharedStorage ? { [SHARED_STORAGE_KEY]: 'true' } : {}) },
  })));
  const instanceIds = new Map(booted.map((i, n) => [i.id, ids[n]!]));
  const unknown = new Map<string, string>();
  const other = (name: string) => {
    if (!unknown.has(name)) unknown.set(name, randomUUID());
    return unknown.get(name)!;
  };

  const proxy = await NovaProxy.start(lab.lab.endpoints.nova);
  const dir = mkdtempSync(join(tmpdir(), 'rsr-lab-contract-'));
  const cloudsYaml = join(dir, 'clouds.yaml');
  writeFileSync(cloudsYaml, stringify({
    clouds: {
      lab: {
        auth: {
          auth_url: lab.lab.authUrl, username: lab.lab.admin.username, password: lab.lab.admin.password,
          project_name: lab.lab.admin.projectName, user_domain_name: 'Default', project_domain_name: 'Default',
        },
        region_name: lab.lab.region,
        compute_endpoint_override: proxy.url,
      },
    },
  }), { mode: 0o600 });
  const driver = new OpenStackCloudDriver(loadCloudConfig({ cloudsYaml, cloud: 'lab' }), { timeoutMs: 30_000 });

  return {
    driver,
    names: {
      host: (name) => HOSTS[name] ?? name,
      instance: (name) => instanceIds.get(name) ?? other(name),
      image: (name) => (name === 'img-base' ? image : other(name)),
    },
    hostCapacity: Object.fromEntries(Object.keys(HOSTS).map((h) => [h, FAKE_HYPERVISOR])),
    without: CLOUD_CONTRACT_INVENTORY.instances.filter((i) => i.image === '').map((i) => i.id),
    patience: { timeoutMs: 60_000, intervalMs: 250 },
    world: {
      failHost: async (host, mode) => {
        if (mode === 'power') await lab.powerOff(host);
        else if (mode === 'service') lab.freezeCompute(host);
        else throw new Error(`the lab cannot fail a host by ${mode}`);
      },
      recoverHost: (host) => lab.restoreHost(host),
      hostPower: (host) => lab.power(host),
      injectFault: async (spec) => {
        if (spec.kind === 'api-error') return proxy.inject({ kind: 'api-error', action: String(spec.action), times: Number(spec.times ?? 1) });
        if (spec.kind === 'image-gone') {
          await lab.deleteImage(String(spec.image));
          return `image-gone-${String(spec.image)}`;
        }
        throw new Error(`the lab cannot inject ${spec.kind}`);
      },
      count: (action, subject, outcome) => proxy.count(action, subject, outcome),
      leaveNoRoomFor: async () => {
        for (const host of ['compute-2', 'compute-3']) await lab.updateService(host, { status: 'disabled', disabled_reason: 'contract: no room' });
      },
    },
    teardown: async () => {
      await proxy.close();
      for (const host of Object.values(HOSTS)) await lab.restoreHost(host);
      await lab.deleteAllServers();
      await lab.deleteImage(image);
    },
  };
}

cloudDriverContract(test, 'openstack → lab Nova', labHarness, {
  'image-gone': "nova's fake hypervisor rebuilds without reading the image",
});
