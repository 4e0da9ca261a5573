/**
 * What SimNova gained for the served sim, tested in process: os-resetState, instance actions with the
 * request id of the call and their events, evacuate's ≥ 2.95 "stopped on the destination", the list-all
 * reads (counted without a subject), Nova's message for an unforce refused while evacuations are `done`.
 */
import test from 'ava';
import { createWorld } from '../../../src/drivers/cloud/sim/inventory';

const world = () =>
  createWorld(
    {
      hosts: [
        { name: 'h1', vcpus: 8, ramMb: 16384 },
        { name: 'h2', vcpus: 8, ramMb: 16384 },
      ],
      instances: [
        { id: 'vm-1', host: 'h1', flavor: { name: 'm', vcpus: 1, ramMb: 1024 }, sharedStorage: true },
        { id: 'vm-2', host: 'h1', flavor: { name: 'm', vcpus: 1, ramMb: 1024 }, sharedStorage: true },
      ],
    },
    { seed: 1, timeScale: 0 },
  );

test('sim nova resetState: sets vm_state, clears task_state and a hung cast; power state untouched; counted', async (t) => {
  const w = world();
  t.teardown(() => w.dispose());
  w.failHost('h1', 'power');
  await w.nova.stopInstance('vm-1');
  t.like(w.instanceState('vm-1'), { taskState: 'powering-off', hung: 'stop' });
  const { requestId } = await w.nova.resetState('vm-1', 'error');
  t.regex(requestId, /^req-/);
  t.like(w.instanceState('vm-1'), { status: 'ERROR', taskState: null, powerState: 'RUNNING' });
  t.is(w.instanceState('vm-1').hung, undefined);
  await w.nova.resetState('vm-1', 'active');
  t.is(w.instanceState('vm-1').status, 'ACTIVE');
  t.is(w.count('resetState', 'vm-1', 'accepted'), 2);
  await t.throwsAsync(w.nova.resetState('nope', 'active'), { code: 'RSR_CLOUD_NOT_FOUND' });
  // The dropped stop never reaches the compute when the host comes back: its action has no event.
  w.recoverHost('h1');
  await w.idle();
  const [stop] = await w.nova.listInstanceActions('vm-1');
  t.like(stop, { action: 'stop', events: [] });
  t.is(w.instanceState('vm-1').taskState, null);
});

test('sim nova instance actions: request id of the call, events per step, newest first; failures marked Error', async (t) => {
  const w = world();
  t.teardown(() => w.dispose());
  const stop = await w.nova.stopInstance('vm-2');
  await w.idle();
  w.failHost('h1', 'power');
  await w.nova.setServiceForcedDown('h1', true);
  w.injectFault({ kind: 'evacuate-fails', instance: 'vm-1' });
  const first = await w.nova.evacuate('vm-1');
  await w.idle();
  const second = await w.nova.evacuate('vm-1');
  await w.idle();
  const actions = await w.nova.listInstanceActions('vm-1');
  t.deepEqual(actions.map((a) => [a.action, a.requestId]), [['evacuate', second.requestId], ['evacuate', first.requestId]]);
  t.deepEqual(actions[1]!.events.map((e) => [e.event, e.result]), [['rebuild_server', 'Success'], ['compute_rebuild_instance', 'Error']]);
  t.is(actions[1]!.message, 'Error');
  t.deepEqual(actions[0]!.events.map((e) => [e.event, e.host, e.result]), [['rebuild_server', null, 'Success'], ['compute_rebuild_instance', 'h2', 'Success']]);
  t.is(actions[0]!.message, null);
  const stops = await w.nova.listInstanceActions('vm-2');
  t.like(stops[0], { action: 'stop', requestId: stop.requestId, events: [{ event: 'compute_stop_instance', host: 'h1', result: 'Success' }] });
  t.is(w.count('listInstanceActions', 'vm-1'), 1);
});

test('sim nova evacuate stopOnDestination (Nova ≥ 2.95): an ACTIVE instance ends SHUTOFF, its guest not started', async (t) => {
  const w = world();
  t.teardown(() => w.dispose());
  w.failHost('h1', 'power');
  await w.nova.setServiceForcedDown('h1', true);
  await w.nova.evacuate('vm-1', undefined, undefined, { stopOnDestination: true });
  await w.nova.evacuate('vm-2');
  await w.idle();
  t.like(w.instanceState('vm-1'), { host: 'h2', status: 'SHUTOFF', powerState: 'SHUTDOWN', guestRunning: false });
  t.like(w.instanceState('vm-2'), { host: 'h2', status: 'ACTIVE', guestRunning: true });
});

test("sim nova list-all reads are counted without a subject; unforce refused with Nova's message while evacuations are done", async (t) => {
  const w = world();
  t.teardown(() => w.dispose());
  t.is((await w.nova.listServices()).length, 2);
  t.is((await w.nova.listAllInstances()).length, 2);
  t.deepEqual(await w.nova.listAllMigrations(), []);
  t.is(w.count('getService'), 1);
  t.is(w.count('getService', 'h1'), 0);
  t.is(w.count('listInstances'), 1);
  w.failHost('h1', 'power');
  await w.nova.setServiceForcedDown('h1', true);
  await w.nova.evacuate('vm-1');
  await w.idle();
  t.like((await w.nova.listAllMigrations())[0], { instance: 'vm-1', status: 'done' });
  await t.throwsAsync(w.nova.setServiceForcedDown('h1', false), {
    code: 'RSR_CLOUD_CONFLICT',
    message: /^Unable to force up host h1 as `done` evacuation migration records remain associated with the host\./,
  });
});
