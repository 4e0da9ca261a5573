/**
 * The fencing contract against a FencingTopology of FenceAgentDevices running the real /usr/sbin/fence_dummy.
 * Each host's real power is a status file both its devices point at (level 1 "BMC", level 2 "PDU");
 * faults reconfigure a device the way a broken one behaves:
 *   bmc-stuck-on    --type=fail: status says on, off times out inside the agent (power_timeout=1)
 *   bmc-unreachable status file that holds garbage: every call exits 1
 *   bmc-unknown     the same (an agent's status has no "unknown": it exits 1)
 *   bmc-hangs       delay=30: the off action sleeps; the topology's per-call timeout kills it
 *   bmc-lies-off    a status file of its own that says off while the host's stays on
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { FenceAgentDevice } from '../../../src/drivers/fencing/fence-agent/fence-agent-device';
import { FencingTopology } from '../../../src/drivers/fencing/topology';
import type { DeviceFaultKind } from '../../contracts/fencing-driver';
import { FENCING_CONTRACT_HOSTS, fencingDriverContract } from '../../contracts/fencing-driver';

type Kind = 'bmc' | 'pdu';

function harness() {
  const dir = mkdtempSync(join(tmpdir(), 'rsr-fence-dummy-'));
  const power = (host: string) => join(dir, `${host}.power`);
  for (const host of FENCING_CONTRACT_HOSTS) writeFileSync(power(host), 'on');
  const faults = new Map<string, Record<string, string | number>>();

  const device = (host: string, kind: Kind) => new FenceAgentDevice({
    agent: 'fence_dummy',
    id: `${kind}-${host}`,
    hosts: [host],
    parameters: { status_file: power(host), ...faults.get(`${host}:${kind}`) },
  });
  // Room for a python agent to start on 2 busy cores (1.5 s was seen running out); a hung one still fails its level.
  const driver = new FencingTopology({
    timeoutMs: 5000,
    levels: (host) => ((FENCING_CONTRACT_HOSTS as readonly string[]).includes(host) ? [[device(host, 'bmc')], [device(host, 'pdu')]] : []),
  });

  const faultParameters = (kind: DeviceFaultKind, host: string, on: Kind): Record<string, string | number> => {
    switch (kind) {
      case 'bmc-stuck-on': return { type: 'fail', power_timeout: 1, stonith_status_sleep: 0 };
      case 'bmc-unreachable':
      case 'bmc-unknown': {
        const garbage = join(dir, `${host}.${on}.garbage`);
        writeFileSync(garbage, 'no route to host');
        return { status_file: garbage };
      }
      case 'bmc-hangs': return { delay: 30 };
      case 'bmc-lies-off': {
        const lie = join(dir, `${host}.${on}.lie`);
        writeFileSync(lie, 'off');
        return { status_file: lie };
      }
    }
  };

  return {
    driver,
    unknownIsAnError: true,
    deviceTimeoutMs: 5000,
    world: {
      hostPower: (host: string) => (readFileSync(power(host), 'utf8').trim() === 'off' ? 'off' as const : 'on' as const),
      powerOff: (host: string) => writeFileSync(power(host), 'off'),
      injectFault: ({ kind, host, device: on = 'bmc' }: { kind: DeviceFaultKind; host: string; device?: Kind }) => {
        faults.set(`${host}:${on}`, faultParameters(kind, host, on));
        return `${kind}@${on}-${host}`;
      },
    },
    teardown: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

fencingDriverContract(test, 'fence_dummy agents', async () => harness());

test('bmc-lies-off: the agent reads off while the host still runs; fencing takes its word (catching that is the engine\'s job)', async (t) => {
  const h = harness();
  t.teardown(() => h.teardown());
  h.world.injectFault({ kind: 'bmc-lies-off', host: 'node-1' });
  const report = await h.driver.fence('node-1');
  t.like(report, { level: 1, alreadyOff: true });
  t.is(h.world.hostPower('node-1'), 'on');
});
