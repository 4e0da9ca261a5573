/**
 * Retry over HTTP (`POST /api/v1/recoveries/:id/retry`): a recovery that failed at a step resumes at the state
 * where it failed once the cause is fixed, not from the start, and its audit trail shows it; retrying one that
 * cannot be retried is a 409 with the engine's code.
 */
import test from 'ava';
import type { LightMyRequestResponse } from 'fastify';
import { createRedisFixture } from '../../helpers/redis';
import { until } from '../../helpers/wait';
import type { ApiHarness } from './harness';
import { NAMES, startApi, TOKENS } from './harness';

const lifecycle = createRedisFixture();
test.before(() => lifecycle.setup());
test.after.always(() => lifecycle.teardown());

const { viewer, operator } = TOKENS;

interface Entry { id: string; record: { type: string; message: string; from?: string; to?: string; recoveryId?: string } }

async function waitClosed(api: ApiHarness, id: string): Promise<{ status: string; outcome?: string }> {
  let incident: { status: string; outcome?: string } | undefined;
  await until(async () => {
    incident = (await api.request('GET', `/api/v1/incidents/${id}`, { token: viewer })).json().incident;
    return incident?.status !== 'open';
  }, 20_000);
  return incident!;
}

async function recoveryView(api: ApiHarness, id: string): Promise<{ recovery: { status: string; outcome?: string; state?: string }; audit: Entry[] }> {
  const res = await api.request('GET', `/api/v1/recoveries/${id}`, { token: viewer });
  if (res.statusCode !== 200) throw new Error(`GET recovery ${id}: ${res.statusCode} ${res.body}`);
  return res.json();
}

/** The audit entries written after the retry's own line (`retried by <name> from <state>`). */
function afterRetry(audit: Entry[]): Entry[] {
  const at = audit.findIndex((e) => e.record.message.startsWith(`retried by ${NAMES.operator} `));
  return at < 0 ? [] : audit.slice(at + 1);
}

const errorOf = (res: LightMyRequestResponse) => (res.json() as { error: { code: string; message: string; path?: string } }).error;

test('Retry-from-failed-step over HTTP resumes at the failed state, not from the start (audit shows it)', async (t) => {
  const api = await startApi(lifecycle.fixture, { worker: true });
  t.teardown(() => api.close());
  const { world } = api;
  world.failHost('compute-1', 'power');
  // vm-a's evacuation keeps failing: its recovery fails at `evacuating`, after `checking` succeeded.
  const fault = world.injectFault({ kind: 'evacuate-fails', instance: 'vm-a', times: 1_000 });
  const opened = await api.request('POST', '/api/v1/incidents', { token: operator, body: { kind: 'host-down', host: 'compute-1' } });
  t.is(opened.statusCode, 201, opened.body);
  const incident = opened.json().incident as { id: string; recoveryId: string };
  t.is((await waitClosed(api, incident.id)).outcome, 'partial');

  // The failed child, found with the filtered listing.
  const listed = await api.request('GET', `/api/v1/recoveries?incident=${incident.id}&instance=vm-a`, { token: viewer });
  t.is(listed.statusCode, 200, listed.body);
  const [child] = listed.json().items as { id: string; outcome: string; state: string }[];
  t.truthy(child);
  t.is(child!.outcome, 'failed');
  t.is(child!.state, 'failed');
  const before = await recoveryView(api, child!.id);
  const checks = before.audit.filter((e) => e.record.type === 'transition' && e.record.to === 'checking').length;
  t.true(checks > 0, 'it checked the VM before it failed to evacuate it');
  const fences = world.count('bmc.off');

  world.clearFault(fault); // the operator fixed the cause
  const retried = await api.request('POST', `/api/v1/recoveries/${child!.id}/retry`, { token: operator });
  t.is(retried.statusCode, 202, retried.body);
  t.deepEqual(retried.json(), {
    recoveryId: child!.id, from: 'evacuating', status: 'queued', children: [], reopened: [incident.recoveryId], incidentReopened: true,
  });
  const closed = await waitClosed(api, incident.id);
  t.is(closed.status, 'resolved');
  t.is(closed.outcome, 'recovered');

  const after = await recoveryView(api, child!.id);
  t.is(after.recovery.outcome, 'recovered');
  const trail = after.audit.map((e) => e.record.message);
  t.true(trail.includes(`retried by ${NAMES.operator} from evacuating`), trail.join('\n'));
  const transitions = afterRetry(after.audit).filter((e) => e.record.type === 'transition');
  t.is(transitions[0]?.record.from, 'evacuating', "the first transition after the retry starts from the failed step's state");
  t.false(transitions.some((e) => e.record.from === '(start)' || e.record.to === 'checking'), transitions.map((e) => e.record.message).join('\n'));
  t.deepEqual(transitions.map((e) => `${e.record.from}→${e.record.to}`), ['evacuating→recovered']);
  t.is(after.audit.filter((e) => e.record.type === 'transition' && e.record.to === 'checking').length, checks, 'the earlier steps did not run again');
  t.is(world.count('bmc.off'), fences, 'the host was not fenced again');
  // The host recovery took it back at its wait, not from the start.
  const parent = await recoveryView(api, incident.recoveryId);
  const reopened = parent.audit.findIndex((e) => e.record.message === `reopened by ${NAMES.operator} to take back retried ${child!.id}: waiting at awaitingChildren`);
  t.true(reopened >= 0, parent.audit.map((e) => e.record.message).join('\n'));
  t.false(parent.audit.slice(reopened).some((e) => e.record.to === 'fencing' || e.record.to === 'listing'));

  // Nothing left to retry: 409 with the engine's code.
  for (const id of [child!.id, incident.recoveryId]) {
    const again = await api.request('POST', `/api/v1/recoveries/${id}/retry`, { token: operator, body: {} });
    t.is(again.statusCode, 409, again.body);
    t.is(errorOf(again).code, 'RSR_RECOVERY_NOT_RETRYABLE');
    t.regex(errorOf(again).message, /ended recovered: nothing to retry/);
  }
});

test('retry over HTTP of a restart-in-place that escalated re-runs the restart; refusals: running, unknown, a body, a viewer', async (t) => {
  const api = await startApi(lifecycle.fixture, { worker: true });
  t.teardown(() => api.close());
  const { world } = api;
  world.crashInstance('vm-d');
  world.failHost('compute-2', 'service');
  const { incident } = (await api.request('POST', '/api/v1/incidents', { token: operator, body: { kind: 'instance-down', host: 'compute-2', instance: 'vm-d' } })).json();
  t.is((await waitClosed(api, incident.id)).outcome, 'escalated');
  const escalated = await recoveryView(api, incident.recoveryId);
  const restarts = escalated.audit.filter((e) => e.record.type === 'transition' && e.record.to === 'restarting').length;

  world.recoverHost('compute-2');
  world.crashInstance('vm-d');
  const forbidden = await api.request('POST', `/api/v1/recoveries/${incident.recoveryId}/retry`, { token: viewer });
  t.is(forbidden.statusCode, 403);
  const withBody = await api.request('POST', `/api/v1/recoveries/${incident.recoveryId}/retry`, { token: operator, body: { from: 'start' } });
  t.is(withBody.statusCode, 400);
  t.is(errorOf(withBody).path, 'body.from');
  const retried = await api.request('POST', `/api/v1/recoveries/${incident.recoveryId}/retry`, { token: operator });
  t.is(retried.statusCode, 202, retried.body);
  t.like(retried.json(), { from: 'restarting', status: 'queued', incidentReopened: true });
  const running = await api.request('POST', `/api/v1/recoveries/${incident.recoveryId}/retry`, { token: operator });
  // Either still running (409) or already recovered (409 too): never a second reopening.
  t.is(running.statusCode, 409, running.body);
  t.is(errorOf(running).code, 'RSR_RECOVERY_NOT_RETRYABLE');
  t.is((await waitClosed(api, incident.id)).outcome, 'recovered');
  t.is(world.instanceState('vm-d').status, 'ACTIVE');
  const after = await recoveryView(api, incident.recoveryId);
  t.deepEqual(afterRetry(after.audit).filter((e) => e.record.type === 'transition').map((e) => `${e.record.from}→${e.record.to}`), ['restarting→recovered']);
  t.is(after.audit.filter((e) => e.record.type === 'transition' && e.record.to === 'restarting').length, restarts, 'not restarted from the start: no new entry into restarting');
  t.true(after.audit.some((e) => e.record.message.startsWith(`incident reopened by ${NAMES.operator}: retry of ${incident.recoveryId}`)));

  const unknown = await api.request('POST', '/api/v1/recoveries/rec-nope-000000/retry', { token: operator });
  t.is(unknown.statusCode, 404);
  t.is(errorOf(unknown).code, 'RSR_RECOVERY_NOT_FOUND');
});
