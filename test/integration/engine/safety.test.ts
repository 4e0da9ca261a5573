import test from 'ava';
import { DEFAULT_WORKFLOWS } from '../../../src/config/config';
import type { Config } from '../../../src/config/config';
import { TOKENS } from '../../../src/container';
import type { Incident, Recovery } from '../../../src/domain';
import { IncidentStore } from '../../../src/engine/incident-store';
import { useRedis } from '../../helpers/redis';
import { until } from '../../helpers/wait';
import { startEngine } from '../../helpers/engine';

const redis = useRedis(test);


test('one active recovery per instance: a host evacuation waits for the instance recovery already holding its VM', async (t) => {
  const h = await startEngine(redis, { config: { workflows: { ...DEFAULT_WORKFLOWS, 'instance-down': 'notify-only' } } });
  t.teardown(() => h.close());
  const vmIncident = (await h.app.engine.report({ kind: 'instance-down', host: 'compute-1', instance: 'vm-a' })).incident;
  await until(async () => (await h.app.engine.recovery(vmIncident.recoveryId)).status === 'waiting');

  h.world.failHost('compute-1', 'power');
  const hostIncident = (await h.app.engine.report({ kind: 'host-down', host: 'compute-1' })).incident;
  await until(() => h.world.count('evacuate', 'vm-b', 'accepted') === 1 && h.world.count('evacuate', 'vm-c', 'accepted') === 1);
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(h.world.count('evacuate', 'vm-a'), 0, 'vm-a is held by the open instance recovery');
  t.is((await h.app.engine.incident(hostIncident.id)).status, 'open');

  await h.app.engine.decide(vmIncident.recoveryId, 'resolve', 'dave');
  const closed = await h.waitClosed(hostIncident.id);
  t.is(closed.outcome, 'recovered');
  t.is(h.world.count('evacuate', 'vm-a', 'accepted'), 1);
  t.is(h.world.instanceState('vm-a').status, 'ACTIVE');
  const child = (await h.app.engine.children(hostIncident.recoveryId)).find((c) => c.subject.instance === 'vm-a');
  t.is(Number(child?.attempts), 1, 'waiting for the lock spent no retry');
});

test('a host that dies while being drained gets its own host-down incident (fenced, evacuated), not a swallowed duplicate', async (t) => {
  const h = await startEngine(redis);
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'degraded');
  const drain = await h.app.engine.report({ kind: 'host-degraded', host: 'compute-1' });
  const again = await h.app.engine.report({ kind: 'service-down', host: 'compute-1' });
  t.false(again.created, 'another drain-class event joins the drain');
  t.is(again.incident.id, drain.incident.id);

  h.world.failHost('compute-1', 'power');
  const down = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  t.true(down.created, 'host-down is graver than the drain: a new incident');
  t.not(down.incident.id, drain.incident.id);
  await h.waitClosed(drain.incident.id);
  const closed = await h.waitClosed(down.incident.id);
  t.is(closed.outcome, 'recovered', closed.reason);
  for (const id of ['vm-a', 'vm-b', 'vm-c']) {
    t.not(String(h.world.instanceState(id).host), 'compute-1', id);
    t.is(h.world.instanceState(id).status, 'ACTIVE', id);
  }
  t.is(h.world.hostState('compute-1').power, 'off');
  t.deepEqual(h.world.splitBrains(), []);
});

test('invariant I1 in the steps: an evacuation started without fence evidence for its incident refuses, and calls nothing', async (t) => {
  // Map a VM failure straight to the per-instance evacuation child: no host recovery fenced anything.
  const h = await startEngine(redis, { config: { workflows: { ...DEFAULT_WORKFLOWS, 'instance-down': 'evacuate-instance' } } });
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'power');
  const { incident } = await h.app.engine.report({ kind: 'instance-down', host: 'compute-1', instance: 'vm-a' });
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'failed');
  t.regex(closed.reason ?? '', /refusing to evacuate vm-a: compute-1 is not confirmed fenced/);
  t.is(h.world.count('evacuate'), 0);
  const errors = (await h.app.engine.audit(incident.recoveryId)).map((r) => r.record).filter((r) => r.event?.startsWith('xstate.error'));
  t.is((errors[0]?.details?.error as { code?: string } | undefined)?.code, 'RSR_NOT_FENCED');
});

test('an incident written but never enqueued (a crash in between) is picked up by the next worker that starts', async (t) => {
  const prefix = redis.newPrefix();
  const writer = await startEngine(redis, { prefix, worker: false });
  t.teardown(() => writer.close());
  // What Engine.report writes before it adds the job, without the job: the state a crash right there leaves.
  const incidents = writer.app.container.get(IncidentStore);
  const now = Date.now();
  const incident = {
    id: 'inc-orphan-1', kind: 'host-down', subject: 'host:compute-1', dedupeKey: 'host:compute-1', host: 'compute-1', status: 'open',
    openedAt: new Date(now).toISOString(), event: { kind: 'host-down', host: 'compute-1' }, duplicates: 0, workflow: 'fence-then-evacuate',
    recoveryId: 'rec-orphan-1',
  } as unknown as Incident;
  const recovery = {
    id: 'rec-orphan-1', incidentId: 'inc-orphan-1', workflow: 'fence-then-evacuate', subject: { host: 'compute-1' }, status: 'queued',
    createdAt: new Date(now).toISOString(), updatedAt: new Date(now).toISOString(), attempts: 0, params: writer.app.container.get<Config>(TOKENS.config).params,
  } as unknown as Recovery;
  t.true((await incidents.open(incident, recovery, now)).created);
  writer.world.failHost('compute-1', 'power');

  const worker = await startEngine(redis, { prefix, world: writer.world });
  t.teardown(() => worker.close());
  t.deepEqual(await worker.app.worker().swept, ['rec-orphan-1']);
  const closed = await worker.waitClosed('inc-orphan-1');
  t.is(closed.outcome, 'recovered');
  t.is(writer.world.count('evacuate', 'vm-a', 'accepted'), 1);
});
