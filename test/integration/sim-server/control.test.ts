import test from 'ava';
import { serve, VM1 } from './harness';

test('control: fail, fault, recover and status through POST /sim/control; counters and state read back', async (t) => {
  const s = await serve();
  try {
    const control = (body: unknown) => s.http('POST', `${s.server.controlUrl}/control`, { body });

    const failed = await control({ op: 'fail', target: 'compute-1', mode: 'power' });
    t.is(failed.status, 200);
    t.like(failed.body, { ok: true, result: { failed: { host: 'compute-1', mode: 'power' }, reports: [] } });
    t.is(s.world.hostState('compute-1').power, 'off');
    // The API shows it the way Nova would: service down, servers still ACTIVE.
    t.is((await s.nova('GET', '/os-services?host=compute-1')).body.services[0].state, 'down');

    const fault = await control({ op: 'fault', spec: { kind: 'api-error', action: 'getInstance', times: 1 } });
    t.like(fault.body, { ok: true, result: { fault: 'fault-1' } });
    t.is((await s.nova('GET', `/servers/${VM1}`)).status, 503);
    t.is((await s.nova('GET', `/servers/${VM1}`)).status, 200, 'fired once');

    const counters = await s.http('GET', `${s.server.controlUrl}/counters`);
    t.like(counters.body.actions.getInstance, { accepted: 1, refused: 1, total: 2 });
    t.like(counters.body.subjects.getService, { 'compute-1': { total: 1 } });

    t.like((await control({ op: 'recover', host: 'compute-1' })).body, { ok: true, result: { recovered: 'compute-1' } });
    t.is(s.world.hostState('compute-1').power, 'on');
    const status = await control({ op: 'status' });
    t.is(status.body.result.hosts.length, 3);
    const state = await s.http('GET', `${s.server.controlUrl}/state`);
    t.deepEqual(state.body.hosts.map((h: { name: string }) => h.name), ['compute-1', 'compute-2', 'compute-3']);
    t.is(state.body.instances.length, 4);

    const stuck = await control({ op: 'fault', spec: { kind: 'bmc-stuck-on', host: 'compute-2' } });
    const id = stuck.body.result.fault as string;
    t.is((await s.http('GET', `${s.server.controlUrl}/faults`)).body.length, 1);
    t.is((await s.http('DELETE', `${s.server.controlUrl}/faults/${id}`)).status, 200);
    t.deepEqual(s.world.faults(), []);
  } finally {
    await s.close();
  }
});

test('control: bad commands are 400/404 SimReply errors and change nothing; report/emit refused (no engine here)', async (t) => {
  const s = await serve();
  try {
    const control = (body: unknown) => s.http('POST', `${s.server.controlUrl}/control`, { body });
    const cases: [unknown, number, RegExp][] = [
      [{ op: 'report', event: { kind: 'host-down', host: 'compute-1' } }, 400, /no engine/],
      [{ op: 'fail', target: 'compute-1', mode: 'power', emit: true }, 400, /engine/],
      [{ op: 'fail', target: 'compute-1', mode: 'meteor' }, 400, /mode/],
      [{ op: 'fail', target: 'compute-9', mode: 'power' }, 404, /compute-9/],
      [{ op: 'fault', spec: { kind: 'bmc-stuck-on' } }, 400, /fault/],
      [{ op: 'dance' }, 400, /unknown op/],
    ];
    for (const [body, status, message] of cases) {
      const answer = await control(body);
      t.is(answer.status, status, JSON.stringify(body));
      t.false(answer.body.ok);
      t.regex(answer.body.error, message);
    }
    t.is(s.world.hostState('compute-1').power, 'on');
    t.deepEqual(s.world.faults(), []);
    t.is((await s.http('DELETE', `${s.server.controlUrl}/faults/fault-99`)).status, 404);
  } finally {
    await s.close();
  }
});
