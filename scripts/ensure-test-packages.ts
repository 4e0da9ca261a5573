/**
 * `npm test` on a fresh machine: the fence-agent tests run Debian's real fence agents (fence_dummy,
 * fence_redfish). Install them when we may (root on Debian, RESURRECT_NO_INSTALL unset), as the engine does
 * for redis-server; otherwise say in one sentence what to install. Redis itself is found or installed by the
 * test harness.
 */
import { existsSync } from 'node:fs';
import pino from 'pino';
import { aptInstall, aptInstaller } from '../src/drivers/debian-packages';

const AGENTS = ['/usr/sbin/fence_dummy', '/usr/sbin/fence_redfish'];

async function main(): Promise<number> {
  if (AGENTS.every((agent) => existsSync(agent))) return 0;
  const log = pino({ level: 'warn' });
  const aptGet = aptInstaller(process.env);
  if (aptGet === undefined) {
    process.stderr.write("npm test needs Debian's fence-agents (fence_dummy, fence_redfish): sudo apt-get install fence-agents\n");
    return 1;
  }
  await aptInstall(aptGet, ['fence-agents'], { env: process.env, log, fail: (message, cause) => new Error(`could not install fence-agents: ${message}`, { cause }) });
  return AGENTS.every((agent) => existsSync(agent)) ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
});
