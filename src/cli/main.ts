import { Command, Option } from 'commander';
import { ResurrectError } from '../domain';
import { audit } from './commands/audit';
import { breakerApprove, breakerClose, breakerStatus } from './commands/breaker';
import { decide } from './commands/decide';
import { demo } from './commands/demo';
import { fenceConfirm, fencePending } from './commands/fence';
import { plan } from './commands/plan';
import { serve } from './commands/serve';
import { simFail, simFault, simRecover } from './commands/sim';
import { simServe } from './commands/sim-serve';
import { sla } from './commands/sla';
import { start } from './commands/start';
import { trigger } from './commands/trigger';
import { validate } from './commands/validate';
import { worker } from './commands/worker';

/**
 * Exit codes: 0 ok; 1 failed (the demo's incident did not recover, or an unexpected error);
 * 2 invalid input or a refused file (validate); 3 not found.
 */
export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = new Command('resurrect')
    .description('Policy-driven recovery engine for OpenStack compute hosts and VMs')
    .option('-c, --config <file>', 'configuration file (YAML); also RESURRECT_CONFIG')
    .option('--prefix <prefix>', 'Redis key prefix')
    .option('--json', 'machine-readable output')
    .showHelpAfterError()
    .exitOverride();
  const globals = () => program.opts<{ config?: string; prefix?: string; json?: boolean }>();
  const run = (fn: () => Promise<number>) => async () => { code = await fn(); };

  program.command('start').description('run the engine with its embedded worker on the simulated cloud')
    .option('--concurrency <n>', 'jobs processed at once')
    .option('--no-worker', 'no embedded worker: run `resurrect worker` processes instead')
    .action((opts: { concurrency?: string; worker: boolean }) => run(() => start({ ...globals(), ...opts }))());

  program.command('worker').description('take recovery jobs from the shared Redis (run several)')
    .option('--concurrency <n>', 'jobs processed at once')
    .option('--name <name>', 'worker name in the audit trail (default host:pid)')
    .action((opts: { concurrency?: string; name?: string }) => run(() => worker({ ...globals(), ...opts }))());

  program.command('serve').description('serve the REST API (docs/api.md) over the running engine\'s Redis')
    .option('--port <n>', 'listen port (default api.port, 8790; 0 = any free port)')
    .option('--host <address>', 'listen address (default api.host, 127.0.0.1)')
    .option('--worker', 'also run a worker in this process')
    .option('--concurrency <n>', 'jobs processed at once by that worker')
    .action((opts: { port?: string; host?: string; worker?: boolean; concurrency?: string }) => run(() => serve({ ...globals(), ...opts }))());

  program.command('trigger').description('report a failure event (what a host monitor does)')
    .addArgument(new Command().createArgument('<kind>', 'failure kind').choices(['host-down', 'service-down', 'instance-down', 'host-degraded']))
    .argument('<host>', 'compute host')
    .option('--instance <id>', 'instance (for instance-down)')
    .option('--source <name>', 'who reports it', 'cli')
    .action((kind, host, opts) => run(() => trigger(kind, host, { ...globals(), ...opts }))());

  const sim = program.command('sim').description('drive the simulated cloud of a running engine');
  sim.command('fail').description('make a simulated host or instance fail, and report it as a monitor would')
    .argument('<target>', 'host (or instance with --mode vm)')
    .addOption(new Option('--mode <mode>', 'failure mode').choices(['power', 'network', 'service', 'vm', 'degraded']).default('power'))
    .option('--instance <id>', 'the instance to crash (mode vm); default: one running on the host')
    .option('--no-emit', 'do not report the failure event')
    .action((target, opts) => run(() => simFail(target, { ...globals(), ...opts }))());
  sim.command('recover').description('repair a simulated host and power it on').argument('<host>')
    .action((host) => run(() => simRecover(host, globals()))());
  sim.command('fault').description('inject a fault, given as JSON (e.g. \'{"kind":"bmc-stuck-on","host":"compute-3"}\')').argument('<spec>')
    .action((spec) => run(() => simFault(spec, globals()))());
  sim.command('serve').description('serve a simulated cloud on loopback: Keystone, Nova, Glance and a Redfish BMC per host')
    .option('--port <n>', 'Keystone/Nova/Glance port (0 = any free port)', '0')
    .option('--redfish-port <n>', 'Redfish (HTTPS) port (0 = any free port)', '0')
    .option('--bind <address>', 'listen address: loopback only', '127.0.0.1')
    .option('--seed <n>', 'simulator seed', '1')
    .option('--time-scale <x>', 'simulated latency scale (1 = realistic, 0 = instant)', '1')
    .option('--service-down-time <s>', "Nova's service_down_time in seconds (0: down as soon as heartbeats stop)", '0')
    .option('--inventory <demo|file>', 'the demo world, or a world spec (JSON/YAML)', 'demo')
    .option('--clouds-yaml <file>', 'write the clouds.yaml entry to this file instead of printing it')
    .option('--log-level <level>', 'log level (logs go to stderr)', 'info')
    .action((opts) => run(() => simServe({ ...globals(), ...opts }))());

  program.command('demo').description('run a self-contained host failure scenario and print a summary')
    .option('--host <host>', 'host to fail', 'compute-3')
    .option('--time-scale <n>', 'simulated latency scale (1 = realistic)', '0.05')
    .option('--seed <n>', 'simulator seed', '42')
    .action((opts) => run(() => demo({ ...globals(), ...opts }))());

  program.command('plan').description('dry run: what a failure of these hosts would do now (order, targets, predicted times); changes nothing')
    .requiredOption('--fail <hosts>', 'the failed host(s), comma-separated')
    .addOption(new Option('--kind <kind>', 'failure kind').choices(['host-down', 'service-down', 'host-degraded']).default('host-down'))
    .action((opts) => run(() => plan({ ...globals(), ...opts }))());

  program.command('decide').description("give an operator's decision to a recovery waiting for one")
    .argument('<recovery>', 'recovery id')
    .addArgument(new Command().createArgument('<decision>', 'the decision').choices(['approve', 'deny', 'resolve']))
    .option('--by <name>', 'who decides (default: $USER)')
    .option('--comment <text>', 'recorded in the audit trail')
    .action((recovery, decision, opts) => run(() => decide(recovery, decision, { ...globals(), ...opts }))());

  const breaker = program.command('breaker').description('the mass-failure breaker: see what it holds, approve hosts, close it');
  breaker.command('status').description('per scope: open or closed, failed, held and approved hosts, held recoveries')
    .action(() => run(() => breakerStatus(globals()))());
  breaker.command('approve').description('let the held recoveries of some (or all) hosts of an open breaker go on; it stays open')
    .argument('<scope>', 'the zone, aggregate or segment')
    .option('--hosts <hosts>', 'comma-separated hosts to approve (default: every held host)')
    .option('--by <name>', 'who approves (default: $USER)')
    .option('--comment <text>', 'recorded in the audit trail')
    .action((scope, opts) => run(() => breakerApprove(scope, { ...globals(), ...opts }))());
  breaker.command('close').description('close the breaker of a scope: release every held recovery, count failures afresh')
    .argument('<scope>', 'the zone, aggregate or segment')
    .option('--by <name>', 'who closes it (default: $USER)')
    .option('--comment <text>', 'recorded in the audit trail')
    .action((scope, opts) => run(() => breakerClose(scope, { ...globals(), ...opts }))());

  const fence = program.command('fence').description('manual fencing: confirm that a host is powered off');
  fence.command('confirm').description('confirm the power-off of a host a manual fencing device waits for').argument('<host>')
    .requiredOption('--by <name>', 'who powered it off (recorded)')
    .option('--comment <text>', 'recorded with the confirmation')
    .action((host, opts) => run(() => fenceConfirm(host, { ...globals(), ...opts }))());
  fence.command('pending').description('list the manual fencing requests waiting for an operator')
    .action(() => run(() => fencePending(globals()))());

  program.command('audit').description('print the ordered audit trail of a recovery or incident').argument('<id>')
    .action((id) => run(() => audit(id, globals()))());

  program.command('sla').description('SLA compliance per SLA: recoveries within deadline, breaches, time to recover')
    .action(() => run(() => sla(globals()))());

  program.command('validate').description('check workflow and plugin files; non-zero exit on a refused file').argument('[paths...]')
    .action((paths: string[]) => run(() => validate(paths, globals()))());

  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) return 2;
    process.stderr.write(`resurrect: ${e.message ?? String(err)}\n`);
    if (err instanceof ResurrectError) return err.code === 'RSR_INPUT_INVALID' || err.code === 'RSR_CONFIG_INVALID' ? 2 : err.code.endsWith('NOT_FOUND') ? 3 : 1;
    return 1;
  }
}
