/**
 * The FencingDriver contract (test/contracts/fencing-driver.ts) against Debian's real `fence_ipmilan` and the
 * lab's `ipmi_sim` BMCs, whose power really kills and restarts a nova-compute. The contract's node-1 and node-2
 * are the lab's compute-1 and compute-2. Level 1 is the BMC over IPMI 2.0 (lanplus, cipher 3), level 2 the same
 * BMC over IPMI 1.5: two independent paths, so a fault injected into one leaves the other working. Faults are
 * real on the wire: an unreachable BMC is a UDP port nobody answers, a hung one a socket that reads and never
 * replies, an "unknown" one a BMC refusing the login, a stuck one a BMC whose host ignores the next power-off
 * (the lab's host-power script, told by a flag file; ipmi_sim reads the power from that process, so it reads
 * "on"). Both levels reach the same BMC, so the stuck fault holds for one power-off, whichever level sends it:
 * the first level that tries fails. What a real BMC cannot be told to do (claim off while on) is covered by the
 * simulator and fence_dummy suites.
 */
import { createSocket, type Socket } from 'node:dgram';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { FenceAgentDevice } from '../../src/drivers/fencing/fence-agent/fence-agent-device';
import { FencingTopology } from '../../src/drivers/fencing/topology';
import { fencingDriverContract, type DeviceFaultKind } from '../contracts/fencing-driver';
import { labPaths } from './lab';
import { LabCloud } from './lab-cloud';

const lab = LabCloud.open();
/** The flag the lab's host-power script reads: present, it ignores one power-off. */
const stuckFlag = (host: string) => join(labPaths(lab.lab.dir).run, `${host}.stuck`);
const LAB_HOST: Record<string, string> = { 'node-1': 'compute-1', 'node-2': 'compute-2' };
/** fence_ipmilan spends ~1.2 s on an off with power_wait 0; the budget leaves room for a busy machine. */
const DEVICE_TIMEOUT_MS = 5000;

type Path = 'bmc' | 'pdu';

async function harness() {
  for (const host of Object.values(LAB_HOST)) await lab.powerOn(host);
  const sockets: Socket[] = [];
  const faults = new Map<string, Record<string, string>>();

  /** A UDP port on loopback; `answer` false: it reads what is sent and never replies (a hung BMC). */
  const deadPort = async (): Promise<number> => {
    const socket = createSocket('udp4');
    socket.on('message', () => undefined);
    await new Promise<void>((done) => socket.bind(0, '127.0.0.1', done));
    sockets.push(socket);
    return socket.address().port;
  };

  const device = (node: string, path: Path) => {
    const { bmc } = lab.host(LAB_HOST[node]!);
    return new FenceAgentDevice({
      agent: 'fence_ipmilan',
      id: `${path}-${node}`,
      hosts: [node],
      // One BMC per host: fence_ipmilan needs no plug.
      hostArgument: 'none',
      timeoutMs: DEVICE_TIMEOUT_MS,
      parameters: {
        ip: bmc.address, ipport: String(bmc.port), username: bmc.username, password: bmc.password, power_wait: '0',
        ...(path === 'bmc' ? { lanplus: '1', cipher: '3' } : {}),
        ...faults.get(`${node}:${path}`),
      },
    });
  };

  const driver = new FencingTopology({
    timeoutMs: DEVICE_TIMEOUT_MS,
    levels: (node) => (LAB_HOST[node] ? [[device(node, 'bmc')], [device(node, 'pdu')]] : []),
  });

  return {
    driver,
    unknownIsAnError: true,
    deviceTimeoutMs: DEVICE_TIMEOUT_MS,
    world: {
      hostPower: (node: string) => lab.power(LAB_HOST[node]!),
      powerOff: async (node: string) => { await lab.powerOff(LAB_HOST[node]!); },
      injectFault: async ({ kind, host: node, device: path = 'bmc' }: { kind: DeviceFaultKind; host: string; device?: Path }) => {
        if (kind === 'bmc-unknown') faults.set(`${node}:${path}`, { password: 'not-the-password' });
        else if (kind === 'bmc-unreachable') faults.set(`${node}:${path}`, { ipport: String(await deadPort()), ipmitool_timeout: '1', retry_on: '1' });
        else if (kind === 'bmc-hangs') faults.set(`${node}:${path}`, { ipport: String(await deadPort()), ipmitool_timeout: '60', login_timeout: '60', shell_timeout: '60' });
        else if (kind === 'bmc-stuck-on') writeFileSync(stuckFlag(LAB_HOST[node]!), `${path}\n`);
        else throw new Error(`the lab's BMCs cannot be made ${kind}`);
        return `${kind}@${path}-${node}`;
      },
    },
    teardown: async () => {
      for (const socket of sockets) socket.close();
      for (const host of Object.values(LAB_HOST)) rmSync(stuckFlag(host), { force: true });
      for (const host of Object.values(LAB_HOST)) await lab.powerOn(host);
    },
  };
}

fencingDriverContract(test, 'fence_ipmilan → lab ipmi_sim', harness);

