/**
 * The engine with real fence agents (Debian's fence_redfish) against the served simulator's Redfish BMCs.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import test from 'ava';
import { systemClock } from '../../../src/domain';
import { startSimServer } from '../../../src/drivers/cloud/sim/http/server';
import { createAgentsFencing } from '../../../src/drivers/fencing/fence-agent/factory';
import { useRedis } from '../../helpers/redis';
import { smallWorld, startEngine } from '../../helpers/engine';

const redis = useRedis(test);
const log = pino({ level: 'silent' });

/**
 * An agent that claims every power-off succeeded without doing anything (a broken or misconfigured agent),
 * but whose status reads the BMC honestly through fence_redfish.
 */
const CLAIMS_OFF = `#!/bin/sh
input=$(cat)
case "$input" in
  *action=off*) echo "Success: Powered OFF"; exit 0 ;;
esac
printf '%s\\n' "$input" | exec /usr/sbin/fence_redfish
`;

async function setup(agent: 'fence_redfish' | 'fence_claims_off') {
  const world = smallWorld();
  const sim = await startSimServer({ world, log, bmc: { username: 'admin', password: 'bmc-Pa55' } });
  const dir = mkdtempSync(join(tmpdir(), 'rsr-claims-'));
  writeFileSync(join(dir, 'fence_claims_off'), CLAIMS_OFF);
  chmodSync(join(dir, 'fence_claims_off'), 0o755);
  const device = (host: string) => [[{
    agent, options: { ip: '127.0.0.1', ipport: String(sim.redfish.port), username: 'admin', password: 'bmc-Pa55', ssl_insecure: '1', systems_uri: sim.redfish.systemsUri(host) },
  }]];
  const fencing = await createAgentsFencing(
    { defaults: { timeoutMs: 15_000, searchPath: `${dir}:/usr/sbin` }, hosts: { 'compute-1': device('compute-1'), 'compute-2': device('compute-2') } },
    { log, clock: systemClock },
  );
  return { world, sim, fencing };
}

test('fence_redfish against the served BMCs: the host is fenced for real, read back off, and its VMs evacuated', async (t) => {
  const { world, sim, fencing } = await setup('fence_redfish');
  t.teardown(() => sim.close());
  const h = await startEngine(redis, { world, fencing });
  t.teardown(() => h.close());
  world.failHost('compute-1', 'network'); // isolated, still running: only a real power-off makes it safe
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id, 60_000);
  t.is(closed.outcome, 'recovered', closed.reason);
  t.false(world.hostState('compute-1').running);
  t.is(world.count('evacuate', 'vm-a', 'accepted'), 1);
  t.deepEqual(world.splitBrains(), []);
});

test('a fence agent that says "off" while the BMC still reports on ⇒ no evacuation, escalated with the reason', async (t) => {
  const { world, sim, fencing } = await setup('fence_claims_off');
  t.teardown(() => sim.close());
  const h = await startEngine(redis, { world, fencing });
  t.teardown(() => h.close());
  world.failHost('compute-1', 'network');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id, 60_000);
  t.is(closed.outcome, 'escalated');
  t.regex(closed.reason ?? '', /fencing failed, no instance evacuated/);
  t.is(world.count('evacuate'), 0);
  t.true(world.hostState('compute-1').running);
  t.deepEqual(world.splitBrains(), []);
});
