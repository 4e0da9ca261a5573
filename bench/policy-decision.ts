/**
 * Policy decision cost per VM (issue 5, part 8, first half): a realistic 12-rule policy decided for every VM
 * of an inventory of 10,000 hosts and 200,000 VMs, and for 1/10 and 1/100 of it to show how the cost grows
 * with size. Baseline in the same run: a loop that only reads each VM's metadata (the floor any decision pays).
 *
 *   node --import tsx bench/policy-decision.ts      (also part of `npm run bench`)
 */
import { performance } from 'node:perf_hooks';
import type { HostFacts, InstanceFacts } from '../src/policy/policy';
import { loadPolicy } from '../src/policy/policy';

const POLICY = `
version: 1
defaults: { sla: silver, workflow: fence-then-evacuate }
rules:
  - { name: platinum-db, match: { events: [host-down], vm: { metadata: { tier: platinum }, flavor: [db.xlarge, db.large] } }, sla: platinum }
  - { name: gold-db, match: { vm: { metadata: { tier: gold, role: db } } }, sla: gold }
  - { name: gold, match: { vm: { metadata: { tier: gold } } }, sla: gold }
  - { name: ha-enabled, match: { vm: { haEnabled: true } }, sla: gold }
  - { name: evacuable-flavors, match: { vm: { evacuable: true } }, sla: silver }
  - { name: rack-12-ssd, match: { host: { aggregate: [rack-12], tags: [ssd] } }, sla: silver }
  - { name: az-2-batch, match: { host: { zone: [az-2] }, vm: { metadata: { tier: batch } } }, sla: bronze }
  - { name: acme, match: { vm: { project: [acme, acme-prod] } }, sla: gold }
  - { name: windows, match: { vm: { image: [img-win2022, img-win2019] } }, sla: silver }
  - { name: degraded-drain, match: { events: [host-degraded, service-down] }, sla: silver, workflow: live-migrate-first }
  - { name: dev, match: { vm: { metadata: { tier: dev } } }, sla: best-effort, workflow: notify-only }
  - { name: default, default: true, sla: bronze }
`;

const TIERS = ['platinum', 'gold', 'silver', 'bronze', 'batch', 'dev'];
const FLAVORS = ['m1.small', 'm1.large', 'db.large', 'db.xlarge'];

function inventory(hosts: number, vmsPerHost: number) {
  const hostFacts: HostFacts[] = [];
  const vms: { host: HostFacts; vm: InstanceFacts }[] = [];
  for (let h = 0; h < hosts; h++) {
    const host: HostFacts = { name: `compute-${h}`, zone: `az-${(h % 3) + 1}`, aggregates: [`rack-${Math.floor(h / 40)}`], tags: h % 5 === 0 ? ['ssd'] : [] };
    hostFacts.push(host);
    for (let v = 0; v < vmsPerHost; v++) {
      const n = h * vmsPerHost + v;
      vms.push({
        host,
        vm: {
          metadata: { tier: TIERS[n % TIERS.length]!, ...(n % 7 === 0 ? { HA_Enabled: 'True' } : {}), ...(n % 11 === 0 ? { role: 'db' } : {}) },
          flavor: { name: FLAVORS[n % FLAVORS.length]!, extraSpecs: n % 13 === 0 ? { evacuable: 'true' } : {} },
          image: n % 17 === 0 ? 'img-win2022' : 'img-ubuntu',
          project: n % 19 === 0 ? 'acme' : `p${n % 50}`,
        },
      });
    }
  }
  return vms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function main(): void {
  const policy = loadPolicy(POLICY, 'bench-policy.yaml', {
    slas: new Set(['platinum', 'gold', 'silver', 'bronze', 'best-effort']),
    workflows: new Set(['fence-then-evacuate', 'live-migrate-first', 'notify-only']),
  });
  process.stdout.write('\n| inventory | VMs | baseline (read metadata) per VM | decide() per VM | vs baseline |\n|---|---|---|---|---|\n');
  for (const [hosts, perHost] of [[100, 20], [1_000, 20], [10_000, 20]] as const) {
    const vms = inventory(hosts, perHost);
    let sink = 0;
    const base: number[] = [];
    const decided: number[] = [];
    for (let run = 0; run < 5; run++) {
      let start = performance.now();
      for (const { vm } of vms) sink += vm.metadata.tier?.length ?? 0;
      base.push(((performance.now() - start) * 1000) / vms.length);
      start = performance.now();
      for (const { host, vm } of vms) sink += policy.decide({ event: 'host-down', host, instance: vm }).rule.length;
      decided.push(((performance.now() - start) * 1000) / vms.length);
    }
    const b = median(base);
    const d = median(decided);
    process.stdout.write(`| ${hosts.toLocaleString()} hosts | ${vms.length.toLocaleString()} | ${b.toFixed(3)} µs | ${d.toFixed(3)} µs | ${(d / b).toFixed(1)}× |\n`);
    if (sink === -1) process.stdout.write(''); // keeps the loops from being optimised away
  }
  process.stdout.write('target: under 50 µs per VM decision (issue 5)\n');
}

main();
