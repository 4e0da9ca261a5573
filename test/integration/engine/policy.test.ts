import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { RecoveryQueue } from '../../../src/engine/recovery-queue';
import { useRedis } from '../../helpers/redis';
import { smallWorld, startEngine } from '../../helpers/engine';
import { until } from '../../helpers/wait';

const redis = useRedis(test);

const POLICY_A = `
version: 1
rules:
  - name: az-2-hosts-wait-for-a-human
    match: { events: [host-down], host: { zone: [az-2] } }
    sla: gold
    workflow: notify-only
  - name: ha-vms
    match: { events: [instance-down], vm: { haEnabled: true } }
    sla: gold
    workflow: restart-in-place
    params: { mode: hard-reboot }
  - name: other-vms
    match: { events: [instance-down] }
    sla: bronze
    workflow: notify-only
  - name: default
    default: true
    sla: silver
    workflow: fence-then-evacuate
`;

function policyFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'rsr-policy-')), 'policy.yaml');
  writeFileSync(file, text);
  return file;
}

function worldWithAz2() {
  const world = smallWorld();
  world.addHost({ name: 'compute-9', zone: 'az-2', vcpus: 16, ramMb: 32_768 });
  return world;
}

test('the policy chooses the workflow and SLA from host facts, and records its version and rule', async (t) => {
  const h = await startEngine(redis, { world: worldWithAz2(), config: { policy: { file: policyFile(POLICY_A) } } });
  t.teardown(() => h.close());
  const az2 = await h.app.engine.report({ kind: 'host-down', host: 'compute-9' });
  t.is(az2.incident.workflow, 'notify-only');
  h.world.failHost('compute-2', 'power');
  const az1 = await h.app.engine.report({ kind: 'host-down', host: 'compute-2' });
  t.is(az1.incident.workflow, 'fence-then-evacuate');
  const recovery = await h.app.engine.recovery(az1.incident.recoveryId);
  t.is(recovery.params.sla, 'silver');
  t.like(recovery.params.policy, { rule: 'default' });
  t.regex(String((recovery.params.policy as { version: string }).version), /^[0-9a-f]{12}$/);
  t.is((await h.waitClosed(az1.incident.id)).outcome, 'recovered');
  const trail = await h.trail(az1.incident.id);
  t.regex(trail[0] ?? '', /workflow fence-then-evacuate, SLA silver \(policy [0-9a-f]{12}, rule default\)/);
});

test('the policy decides per VM from instance facts: Masakari HA_Enabled VMs are rebooted, others wait for a human', async (t) => {
  const h = await startEngine(redis, { world: worldWithAz2(), config: { policy: { file: policyFile(POLICY_A) } } });
  t.teardown(() => h.close());
  h.world.crashInstance('vm-a'); // HA_Enabled: True
  const ha = await h.app.engine.report({ kind: 'instance-down', host: 'compute-1', instance: 'vm-a' });
  t.is(ha.incident.workflow, 'restart-in-place');
  t.is((await h.waitClosed(ha.incident.id)).outcome, 'recovered');
  t.is(h.world.count('rebootInstance', 'vm-a', 'accepted'), 1, 'the rule\'s params (mode: hard-reboot) reached the workflow');
  const other = await h.app.engine.report({ kind: 'instance-down', host: 'compute-2', instance: 'vm-d' });
  t.is(other.incident.workflow, 'notify-only');
  t.is((await h.app.engine.recovery(other.incident.recoveryId)).params.sla, 'bronze');
});

test('policy reload: a running recovery keeps the version it started with, new incidents use the new one; a bad file is refused and the running policy stays', async (t) => {
  const file = policyFile(POLICY_A);
  const h = await startEngine(redis, { world: worldWithAz2(), config: { policy: { file } } });
  t.teardown(() => h.close());
  const first = await h.app.engine.report({ kind: 'host-down', host: 'compute-9' });
  await until(async () => (await h.app.engine.recovery(first.incident.recoveryId)).status === 'waiting');
  const before = (await h.app.engine.recovery(first.incident.recoveryId)).params.policy as { version: string };

  const refused = h.app.engine.reloadPolicy(POLICY_A.replace('default: true', 'default: yes please'));
  t.false(refused?.ok);
  t.regex(refused && !refused.ok ? refused.error.message : '', /policy\.yaml: rules\[3\]\.default/);

  const changed = h.app.engine.reloadPolicy(POLICY_A.replace('sla: silver', 'sla: gold'));
  t.true(changed?.ok && changed.changed);
  h.world.failHost('compute-2', 'power');
  const second = await h.app.engine.report({ kind: 'host-down', host: 'compute-2' });
  const after = (await h.app.engine.recovery(second.incident.recoveryId)).params;
  t.is(after.sla, 'gold');
  t.not((after.policy as { version: string }).version, before.version);
  t.deepEqual((await h.app.engine.recovery(first.incident.recoveryId)).params.policy, before, 'the running recovery kept its version');
  await h.app.engine.decide(first.incident.recoveryId, 'resolve', 'ops');
  t.is((await h.waitClosed(first.incident.id)).outcome, 'recovered');
});

test('a policy that does not validate stops the start with its file, rule and field path', async (t) => {
  const file = policyFile(POLICY_A.replace('workflow: notify-only', 'workflow: notfy-only'));
  const error = await t.throwsAsync(startEngine(redis, { config: { policy: { file } } }));
  t.regex(error?.message ?? '', /policy\.yaml: rules\[0\]\.workflow.*notfy-only/);
});

const PER_VM = `
version: 1
defaults: { workflow: fence-then-evacuate }
rules:
  - name: gold-tier
    match: { vm: { metadata: { tier: gold } } }
    sla: gold
  - name: default
    default: true
    sla: bronze
`;

test('at fan-out each VM is decided again from its own facts: a gold VM on a bronze host gets gold, and its job goes first', async (t) => {
  const world = worldWithAz2();
  world.addInstance({ id: 'vm-z', host: 'compute-1', flavor: { name: 'm1.small', vcpus: 1, ramMb: 2048, extraSpecs: {} }, sharedStorage: true, image: 'img-cirros', metadata: { tier: 'gold' } });
  // One job at a time, so the order the queue hands them out is the order they run.
  const h = await startEngine(redis, { world, concurrency: 1, config: { policy: { file: policyFile(PER_VM) } } });
  t.teardown(() => h.close());
  world.failHost('compute-1', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  t.is((await h.app.engine.recovery(incident.recoveryId)).params.sla, 'bronze', 'the host has no VM facts: the default rule');
  t.is((await h.waitClosed(incident.id)).outcome, 'recovered');
  const children = await h.app.engine.children(incident.recoveryId);
  const sla = Object.fromEntries(children.map((c) => [c.subject.instance, c.params.sla]));
  t.deepEqual(sla, { 'vm-a': 'bronze', 'vm-b': 'bronze', 'vm-c': 'bronze', 'vm-z': 'gold' });
  t.like(children.find((c) => c.subject.instance === 'vm-z')?.params.policy, { rule: 'gold-tier' });
  // The gold VM (last by id, first by priority) was started before every bronze one: the incident's stream
  // holds every child's records in the order they were written.
  const trail = (await h.app.engine.audit(incident.id)).map((r) => r.record);
  const startedAt = (id: string) => trail.findIndex((r) => r.type === 'attempt' && r.recoveryId?.endsWith(`.${id}`));
  for (const id of ['vm-a', 'vm-b', 'vm-c']) t.true(startedAt('vm-z') < startedAt(id), `vm-z started before ${id}`);
  const queue = h.app.container.get(RecoveryQueue).queue;
  const goldJob = await queue.getJob(children.find((c) => c.subject.instance === 'vm-z')!.id);
  const bronzeJob = await queue.getJob(children.find((c) => c.subject.instance === 'vm-a')!.id);
  const gold = h.app.registry.sla('gold');
  const bronze = h.app.registry.sla('bronze');
  t.like(goldJob?.opts, { priority: gold.priority, attempts: gold.retry.attempts });
  t.like(bronzeJob?.opts, { priority: bronze.priority, attempts: bronze.retry.attempts });
});
