/**
 * `resurrect breaker status|approve|close` as an operator types them in a second terminal, against an engine
 * (here: this test process, with its worker) whose breaker holds three hosts.
 */
import test from 'ava';
import type { BreakerStatus } from '../../src/engine/breaker';
import { startEngine } from '../helpers/engine';
import { runCli } from '../helpers/cli';
import { useRedis } from '../helpers/redis';
import { until } from '../helpers/wait';

const redis = useRedis(test);

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { RESURRECT_CONFIG: '', ...env });

test('breaker status --json shows what is held; approve --hosts releases exactly those hosts; close releases the rest', async (t) => {
  const prefix = redis.newPrefix();
  const h = await startEngine(redis, { prefix, worker: false });
  t.teardown(() => h.close());
  const incidents = [];
  for (const host of ['compute-1', 'compute-2', 'compute-3']) {
    h.world.failHost(host, 'network');
    incidents.push((await h.app.engine.report({ kind: 'host-down', host })).incident);
  }
  h.app.worker().start(8);
  const env = { REDIS_URL: redis.url };
  let status: BreakerStatus | undefined;
  await until(async () => {
    const shown = await cli(['breaker', 'status', '--json', '--prefix', prefix], env);
    if (shown.code !== 0) throw new Error(shown.stderr);
    status = JSON.parse(shown.stdout) as BreakerStatus;
    return status.scopes[0]?.heldRecoveries.length === 3;
  }, 30_000);
  t.like(status, { enabled: true, scopeKind: 'zone', windowSeconds: 120, maxShare: 0.5, minScopeHosts: 4 });
  t.like(status?.scopes[0], { scope: 'az-1', open: true, heldHosts: ['compute-1', 'compute-2', 'compute-3'], approvedHosts: [] });
  t.deepEqual(status?.scopes[0]?.heldRecoveries.map((r) => r.recoveryId), incidents.map((i) => i.recoveryId));

  const text = await cli(['breaker', 'status', '--prefix', prefix], env);
  t.regex(text.stdout, /breaker enabled: per zone, opens at more than 50% of a zone of at least 4 hosts failed within 120 s/);
  t.regex(text.stdout, /az-1: OPEN since \S+ — 3 of 4 hosts of zone az-1 failed within 120 s/);

  const unknown = await cli(['breaker', 'approve', 'az-1', '--hosts', 'compute-9', '--by', 'erin', '--prefix', prefix], env);
  t.is(unknown.code, 2, 'a host the breaker does not hold is refused as invalid input');
  t.regex(unknown.stderr, /compute-9 is not held by the breaker of az-1/);

  const approved = await cli(['breaker', 'approve', 'az-1', '--hosts', 'compute-1', '--by', 'erin', '--comment', 'PSU dead, confirmed', '--prefix', prefix], env);
  t.is(approved.code, 0, approved.stderr);
  t.regex(approved.stdout, new RegExp(`approved compute-1 \\(az-1\\); 1 held recovery released: ${incidents[0]!.recoveryId}`));
  t.is((await h.waitClosed(incidents[0]!.id)).outcome, 'recovered');
  t.is(h.world.count('evacuate'), 3, 'compute-1 has three VMs: evacuated; compute-2 (one VM) stays held');
  t.is((await h.app.engine.incident(incidents[1]!.id)).status, 'open');

  const closed = await cli(['breaker', 'close', 'az-1', '--by', 'erin', '--json', '--prefix', prefix], env);
  t.is(closed.code, 0, closed.stderr);
  t.like(JSON.parse(closed.stdout), { scope: 'az-1', wasOpen: true, released: [incidents[1]!.recoveryId, incidents[2]!.recoveryId].sort() });
  for (const incident of incidents.slice(1)) t.is((await h.waitClosed(incident.id)).outcome, 'recovered');
  const trail = await cli(['audit', 'breaker:az-1', '--prefix', prefix], env);
  t.regex(trail.stdout, /erin approved compute-1 \(PSU dead, confirmed\)/);
  t.regex(trail.stdout, /closed by erin/);
});
