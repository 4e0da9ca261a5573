/**
 * Dry-run plans and real runs share one decision module (issue 5, parts 6–7): for a seeded scenario the
 * plan's order and targets are what the run does, and a failure beyond the spare capacity is named by the
 * plan and escalated by the run, VM by VM, without an evacuation being tried.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { AuditRecord } from '../../../src/domain';
import { CLOUD_DRIVER } from '../../../src/drivers/cloud/port';
import type { CloudDriver } from '../../../src/drivers/cloud/port';
import { SimWorld } from '../../../src/drivers/cloud/sim/world';
import { planFromCloud } from '../../../src/plan/planner';
import { DEFAULT_WORKFLOWS } from '../../../src/config/config';
import { startEngine } from '../../helpers/engine';
import { useRedis } from '../../helpers/redis';

const redis = useRedis(test);

/**
 * compute-1 holds 8 VMs of 4 vCPU / 8 GB, gold and bronze by metadata, ids interleaved; the spares have room
 * for 6 of them (compute-2: 3, compute-3: 2, compute-4: 1), so the two lowest-ranked will not fit. Each host
 * also keeps Nova's reserved_host_memory_mb (the sim's default 512 MB, counted as used) on top of that room.
 */
const RESERVED = 512;
function world(): SimWorld {
  const w = new SimWorld({ seed: 3, timeScale: 0 });
  w.addHost({ name: 'compute-1', zone: 'az-1', vcpus: 32, ramMb: 65_536 + RESERVED });
  w.addHost({ name: 'compute-2', zone: 'az-1', vcpus: 12, ramMb: 24_576 + RESERVED });
  w.addHost({ name: 'compute-3', zone: 'az-1', vcpus: 8, ramMb: 16_384 + RESERVED });
  w.addHost({ name: 'compute-4', zone: 'az-1', vcpus: 4, ramMb: 8_192 + RESERVED });
  w.addImage('img-cirros');
  const flavor = { name: 'm1.large', vcpus: 4, ramMb: 8_192, extraSpecs: {} };
  for (let n = 0; n < 8; n++) {
    w.addInstance({ id: `vm-${n}`, host: 'compute-1', flavor, image: 'img-cirros', sharedStorage: true, metadata: { tier: n % 3 === 0 ? 'gold' : 'bronze' } });
  }
  return w;
}

function policyFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'rsr-plan-run-')), 'policy.yaml');
  writeFileSync(file, `
version: 1
rules:
  - { name: gold-vms, match: { vm: { metadata: { tier: gold } } }, sla: gold, workflow: fence-then-evacuate }
  - { name: default, default: true, sla: bronze, workflow: fence-then-evacuate }
`);
  return file;
}

test('the plan names the VMs that will not fit and why; the run escalates exactly those, and its order and targets are the plan\'s', async (t) => {
  const w = world();
  const h = await startEngine(redis, { world: w, config: { policy: { file: policyFile() }, limits: { global: 1, perTargetHost: 0, cloudApi: { ratePerSecond: 0, burst: 0 } } } });
  t.teardown(() => h.close());
  const cloud = h.app.container.get<CloudDriver>(CLOUD_DRIVER);
  const policy = h.app.engine.currentPolicy();
  t.truthy(policy);

  const mutatingBefore = w.count('evacuate') + w.count('setServiceForcedDown') + w.count('bmc.off');
  const plan = await planFromCloud({
    cloud, policy, workflows: DEFAULT_WORKFLOWS, sla: (name) => h.app.registry.findSla(name),
    failedHosts: ['compute-1'], limits: { global: 1, perTargetHost: 0 },
  });
  t.is(w.count('evacuate') + w.count('setServiceForcedDown') + w.count('bmc.off'), mutatingBefore, 'planning touched nothing');

  // Gold first (earlier deadline), then bronze, each by id.
  t.deepEqual(plan.entries.map((e) => e.instance), ['vm-0', 'vm-3', 'vm-6', 'vm-1', 'vm-2', 'vm-4', 'vm-5', 'vm-7']);
  t.deepEqual(plan.wontFit.map((e) => e.instance), ['vm-5', 'vm-7']);
  for (const miss of plan.wontFit) t.regex(miss.reason, /needs 4 vCPU \/ 8192 MB/);
  t.true(plan.atRisk.includes('vm-5') && plan.atRisk.includes('vm-7'));
  const planned = new Map(plan.entries.filter((e) => e.target).map((e) => [e.instance, e.target!]));
  t.is(planned.size, 6);

  w.failHost('compute-1', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id, 30_000);
  t.is(closed.outcome, 'partial', `${closed.outcome}: ${closed.reason ?? ''}`);

  // Targets: every VM that fit landed where the plan said.
  for (const [instance, target] of planned) {
    t.is(w.instanceState(instance).host, target, `${instance} landed on the planned host`);
    t.is(w.instanceState(instance).status, 'ACTIVE');
  }
  // Order: evacuations were issued in the plan's order (one slot: one at a time).
  const rows = (await h.app.engine.audit(incident.id)).map((row) => row.record as AuditRecord);
  const issued = rows.map((r) => /^evacuate (vm-\d+) from compute-1 to (compute-\d) accepted/.exec(r.message)).filter((m) => m !== null).map((m) => m![1]);
  t.deepEqual(issued, plan.entries.filter((e) => e.target).map((e) => e.instance));
  // Will not fit: named before anything acted, never evacuated, escalated up their SLA's ladder.
  const placementLine = rows.findIndex((r) => /^placement: 6 of 8 VMs have a target; 2 will not fit/.test(r.message));
  const firstEvacuate = rows.findIndex((r) => /^evacuate vm-/.test(r.message));
  t.true(placementLine >= 0 && placementLine < firstEvacuate, 'the run said what will not fit before it acted');
  const children = await h.app.engine.children(incident.recoveryId);
  for (const id of ['vm-5', 'vm-7']) {
    t.is(w.count('evacuate', id), 0, `${id} was never evacuated`);
    t.is(w.instanceState(id).host, 'compute-1');
    const child = children.find((c) => c.subject.instance === id)!;
    t.is(child.outcome, 'escalated', `${id}: ${child.reason ?? ''}`);
    const trail = (await h.app.engine.audit(child.id)).map((row) => row.record.message);
    t.true(trail.some((line) => /not evacuating vm-\d: .*needs 4 vCPU/.test(line) || /RSR_NO_CAPACITY|needs 4 vCPU/.test(line)), trail.join('\n'));
    t.true(trail.some((line) => /climbing to rung 3\/3 \(notify\)/.test(line)), trail.join('\n'));
  }
});

test('a VM whose own decision leaves it to an operator is not evacuated with its host: plan and run agree', async (t) => {
  const w = world();
  const file = join(mkdtempSync(join(tmpdir(), 'rsr-plan-run-')), 'policy.yaml');
  writeFileSync(file, `
version: 1
rules:
  - { name: dev-vm, match: { vm: { metadata: { tier: gold } } }, sla: bronze, workflow: notify-only }
  - { name: default, default: true, sla: bronze, workflow: fence-then-evacuate }
`);
  const h = await startEngine(redis, { world: w, config: { policy: { file } } });
  t.teardown(() => h.close());
  const plan = await planFromCloud({
    cloud: h.app.container.get<CloudDriver>(CLOUD_DRIVER), policy: h.app.engine.currentPolicy(), workflows: DEFAULT_WORKFLOWS,
    sla: (name) => h.app.registry.findSla(name), failedHosts: ['compute-1'], limits: { global: 0, perTargetHost: 0 },
  });
  const operator = plan.entries.filter((e) => e.action === 'operator').map((e) => e.instance).sort();
  t.deepEqual(operator, ['vm-0', 'vm-3', 'vm-6']);

  w.failHost('compute-1', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const children = await (async () => {
    for (;;) {
      const rows = await h.app.engine.children(incident.recoveryId);
      if (rows.length === 8 && rows.filter((c) => c.workflow === 'notify-only').every((c) => c.status === 'waiting')
        && rows.filter((c) => c.workflow !== 'notify-only').every((c) => c.status === 'done')) return rows;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  t.deepEqual(children.filter((c) => c.workflow === 'notify-only').map((c) => c.subject.instance).sort(), operator);
  for (const id of operator) t.is(w.count('evacuate', id), 0, `${id} waits for an operator`);
  t.is(children.filter((c) => c.workflow === 'evacuate-instance').length, 5);
});
