import test from 'ava';
import { InputError } from '../../../src/domain';
import { isMutating, SIM_ACTIONS } from '../../../src/drivers/cloud/sim/actions';
import { createWorld, type WorldSpecInput } from '../../../src/drivers/cloud/sim/inventory';
import { SimCloudDriver } from '../../../src/drivers/cloud/sim/sim-cloud-driver';
import { planFromCloud } from '../../../src/plan/planner';

const WORKFLOWS = { 'host-down': 'fence-then-evacuate', 'service-down': 'live-migrate-first', 'instance-down': 'restart-in-place', 'host-degraded': 'live-migrate-first' } as const;
const g1 = { id: 'g1', policy: 'anti-affinity' } as const;

function spec(grouped: boolean): WorldSpecInput {
  return {
    flavors: { m: { vcpus: 4, ramMb: 8192 } },
    hosts: [
      { name: 'f1', vcpus: 32, ramMb: 65536 },
      { name: 'h1', vcpus: 32, ramMb: 131072 },
      { name: 'h2', vcpus: 32, ramMb: 65536 },
      { name: 'h3', vcpus: 32, ramMb: 65536 },
      { name: 'spare', vcpus: 32, ramMb: 262144, reserved: true },
    ],
    instances: [
      { id: 'a', host: 'f1', flavor: 'm', sharedStorage: true, ...(grouped ? { serverGroup: g1 } : {}) },
      { id: 'b', host: 'f1', flavor: 'm', sharedStorage: true },
      { id: 'member', host: 'h1', flavor: 'm', sharedStorage: true, ...(grouped ? { serverGroup: g1 } : {}) },
    ],
  };
}

function setup(grouped: boolean) {
  const world = createWorld(spec(grouped), { seed: 1, timeScale: 0 });
  world.failHost('f1', 'power');
  // h3's nova-compute dies: a host the plan must not choose although it has room.
  world.failHost('h3', 'service');
  world.resetCounters();
  return { world, cloud: new SimCloudDriver(world) };
}

const options = (cloud: SimCloudDriver) => ({ cloud, workflows: WORKFLOWS, sla: () => undefined, failedHosts: ['f1'], limits: { global: 0, perTargetHost: 0 } });

const mutatingCalls = (world: ReturnType<typeof setup>['world']) => SIM_ACTIONS.filter((a) => isMutating(a)).reduce((sum, a) => sum + world.count(a), 0);

test('the planner only reads: no mutating driver call; instances listed only on the failed host when no VM has a server group', async (t) => {
  const { world, cloud } = setup(false);
  const plan = await planFromCloud(options(cloud));
  t.is(mutatingCalls(world), 0);
  t.is(world.count('listHosts'), 1);
  t.is(world.count('getService'), 4, 'every host but the failed one');
  t.is(world.count('listInstances'), 1);
  t.is(world.count('listInstances', 'f1'), 1);
  t.deepEqual(plan.entries.map((e) => [e.instance, e.target]), [['a', 'h1'], ['b', 'h1']]);
  t.true(plan.entries.every((e) => e.target !== 'h3' && e.target !== 'spare'));
  t.is(world.instanceState('a').host, 'f1', 'nothing moved');
});

test('with a grouped VM to move, the other hosts are listed too, and its members\' hosts are avoided', async (t) => {
  const { world, cloud } = setup(true);
  const plan = await planFromCloud(options(cloud));
  t.is(mutatingCalls(world), 0);
  t.is(world.count('listInstances'), 5, 'the failed host and the four others');
  t.deepEqual(plan.entries.map((e) => [e.instance, e.target]), [['a', 'h2'], ['b', 'h1']]);
});

test('an unknown host is refused before anything is listed', async (t) => {
  const { world, cloud } = setup(false);
  const error = await t.throwsAsync(planFromCloud({ ...options(cloud), failedHosts: ['f1', 'nope'] }), { instanceOf: InputError });
  t.regex(error!.message, /unknown host "nope"/);
  t.is(world.count('listInstances'), 0);
  t.is(world.count('getService'), 0);
});

test('the sim\'s own scheduler keeps hard anti-affinity, and accepts the plan\'s target', async (t) => {
  const { world, cloud } = setup(true);
  await cloud.setServiceForcedDown('f1', true);
  const plan = await planFromCloud(options(cloud));
  // Left to itself, the sim would pick h1 (most free RAM); h1 holds a member of g1.
  await cloud.evacuate('a');
  await world.idle();
  t.not(world.instanceState('a').host, 'h1');
  t.is(world.instanceState('a').host, plan.entries[0]!.target!);
  // A target holding a member is refused, as Nova's ServerGroupAntiAffinityFilter does: no valid host, after the
  // evacuation was accepted (the instance in ERROR on its source, the migration in error), as in Nova.
  const other = createWorld({ ...spec(true), instances: [...spec(true).instances!, { id: 'c', host: 'f1', flavor: 'm', sharedStorage: true, serverGroup: g1 }] }, { seed: 1, timeScale: 0 });
  other.failHost('f1', 'power');
  const otherCloud = new SimCloudDriver(other);
  await otherCloud.setServiceForcedDown('f1', true);
  await otherCloud.evacuate('c', 'h1');
  await other.idle();
  t.like(other.instanceState('c'), { host: 'f1', status: 'ERROR', taskState: null });
  t.like((await otherCloud.listMigrations('c'))[0], { status: 'error', dest: 'h1' });
  t.true(other.events().some((e) => e.instance === 'c' && /no valid host .*anti-affinity group g1/.test(e.message)));
});
