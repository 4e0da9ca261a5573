/**
 * "A recovery of one VM with an explicit workflow": POST /api/v1/incidents with `workflow` runs that workflow
 * instead of the configured one, audited with who chose it; an unknown workflow is a 400 on `body.workflow`.
 */
import test from 'ava';
import { createRedisFixture } from '../../helpers/redis';
import { until } from '../../helpers/wait';
import { NAMES, startApi, TOKENS } from './harness';

const lifecycle = createRedisFixture();
test.before(() => lifecycle.setup());
test.after.always(() => lifecycle.teardown());

test('one VM recovered with the workflow the operator names, audited with who chose it', async (t) => {
  const api = await startApi(lifecycle.fixture, { worker: true });
  t.teardown(() => api.close());
  api.world.crashInstance('vm-b');
  // restart-in-place is the configured workflow for instance-down; the operator asks for a human instead.
  const opened = await api.request('POST', '/api/v1/incidents', {
    token: TOKENS.operator, body: { kind: 'instance-down', host: 'compute-1', instance: 'vm-b', workflow: 'notify-only' },
  });
  t.is(opened.statusCode, 201, opened.body);
  const incident = opened.json().incident as { id: string; recoveryId: string; workflow: string };
  t.is(incident.workflow, 'notify-only');
  await until(async () => (await api.request('GET', `/api/v1/recoveries/${incident.recoveryId}`, { token: TOKENS.viewer })).json().recovery.status === 'waiting');
  t.is(api.world.count('startInstance', 'vm-b') + api.world.count('rebootInstance', 'vm-b'), 0, 'the configured restart did not run');
  const view = (await api.request('GET', `/api/v1/incidents/${incident.id}`, { token: TOKENS.viewer })).json();
  const opening = (view.audit as { record: { message: string } }[])[0]?.record.message ?? '';
  t.regex(opening, new RegExp(`workflow notify-only \\(chosen by api:${NAMES.operator}\\)`));
});

test('an unknown workflow is refused on body.workflow, and nothing is opened', async (t) => {
  const api = await startApi(lifecycle.fixture, { worker: false });
  t.teardown(() => api.close());
  const refused = await api.request('POST', '/api/v1/incidents', {
    token: TOKENS.operator, body: { kind: 'instance-down', host: 'compute-1', instance: 'vm-b', workflow: 'teleport' },
  });
  t.is(refused.statusCode, 400, refused.body);
  t.like(refused.json().error, { path: 'body.workflow' });
  t.regex(refused.json().error.message, /unknown workflow "teleport"/);
  const list = await api.request('GET', '/api/v1/incidents', { token: TOKENS.viewer });
  t.deepEqual(list.json().items, []);
});
