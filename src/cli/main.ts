import { Command, Option } from 'commander';
import { statusOf } from '../api/http-errors';
import { IncidentKind, IncidentStatus, Outcome, RecoveryStatus, ResurrectError } from '../domain';
import { ApiClientError } from './api-client';
import { approve, deny, resolve } from './commands/approve';
import { audit } from './commands/audit';
import { breakerApprove, breakerClose, breakerStatus } from './commands/breaker';
import { cancel } from './commands/cancel';
import { decide } from './commands/decide';
import { demo } from './commands/demo';
import { fenceConfirm, fencePending } from './commands/fence';
import { hostReturn } from './commands/host';
import { incidents } from './commands/incidents';
import { plan } from './commands/plan';
import { policyReload, policyShow, policyValidate } from './commands/policy';
import { recoveries } from './commands/recoveries';
import { retry } from './commands/retry';
import { serve } from './commands/serve';
import { show } from './commands/show';
import { simFail, simFault, simRecover } from './commands/sim';
import { simServe } from './commands/sim-serve';
import { sla } from './commands/sla';
import { start } from './commands/start';
import { trigger } from './commands/trigger';
import { validate } from './commands/validate';
import { worker } from './commands/worker';
import { workflows } from './commands/workflows';

/**
 * The `resurrect` command. Commands that read or change the state of a running engine go through its REST API
 * (docs/api.md, src/cli/api-client.ts): --url/--token, else RESURRECT_URL/RESURRECT_TOKEN, else the runtime file
 * of `npm start` (URL and a token made for the run), else `api.host:api.port`. Human tables by default, --json
 * prints the API's JSON exactly. A few commands can also reach Redis directly (trigger, plan, audit, decide,
 * breaker: when no API is known, or with --prefix) and some only do (sim, fence, sla, worker, demo).
 *
 * Exit codes (also in `--help` and docs/operator-guide.md), for scripts:
 *   0  success
 *   1  failure: an unexpected error, the demo's incident did not fully recover, no Redis found (Redis commands)
 *   2  invalid input or configuration: a usage error, API 400/413/414/415, a refused file (validate, policy),
 *      `start`'s API port in use
 *   3  not found: no such incident, recovery or audit trail (404)
 *   4  unauthenticated (401: no token, an unknown token) or forbidden (403: the token's role is too low)
 *   5  conflict (409): not possible in the current state (not retryable, no policy file to reload …)
 *   6  unavailable: no API answers (connection refused, unknown host, timeout), 429, any 5xx
 */
export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  failure: an unexpected error, the demo did not fully recover, no Redis found (commands that read Redis)
  2  invalid input or configuration: a usage error, API 400/413/414/415, a refused file (validate, policy validate/reload),
     start's API port in use
  3  not found: no such incident, recovery or audit trail (API 404)
  4  unauthenticated or forbidden: no token or an unknown one (401), a role too low (403)
  5  conflict: not possible in the current state, e.g. not retryable, no policy file to reload (409)
  6  unavailable: no API answers (connection refused, unknown host, timeout), rate limited (429), server or backend error (5xx)

The API: --url / RESURRECT_URL and --token / RESURRECT_TOKEN; without them the runtime file \`npm start\` writes
(its URL and a token made for the run), then api.host:api.port. The token is never printed.
Guide: docs/operator-guide.md`;

const choices = (codec: { keys: Record<string, unknown> }) => Object.keys(codec.keys);

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = new Command('resurrect')
    .description('Policy-driven recovery engine for OpenStack compute hosts and VMs')
    .option('-c, --config <file>', 'configuration file (YAML); also RESURRECT_CONFIG')
    .option('--prefix <prefix>', 'Redis key prefix (commands that read Redis directly)')
    .option('--json', 'machine-readable output (the API\'s JSON)')
    .option('--url <url>', 'the API (default: RESURRECT_URL, the runtime file of `npm start`, api.host:api.port)')
    .option('--token <token>', 'the API bearer token (default: RESURRECT_TOKEN, the runtime file); prefer the variable: flags show in `ps`')
    .showHelpAfterError()
    .addHelpText('after', EXIT_CODES_HELP)
    .exitOverride();
  const globals = () => program.opts<{ config?: string; prefix?: string; json?: boolean; url?: string; token?: string }>();
  const run = (fn: () => Promise<number>) => async () => { code = await fn(); };

  program.command('start').description('run the engine with its embedded worker on the simulated cloud, and serve the API')
    .option('--concurrency <n>', 'jobs processed at once')
    .option('--no-worker', 'no embedded worker: run `resurrect worker` processes instead')
    .option('--api-port <n>', 'API port (default api.port, 8790; 0 = any free port)')
    .option('--no-api', 'do not serve the REST API')
    .action((opts: { concurrency?: string; worker: boolean; apiPort?: string; api: boolean }) => run(() => start({ ...globals(), ...opts }))());

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

  program.command('trigger').description('report a failure event (what a host monitor does); over the API when one is known')
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

  const listFilters = (command: Command, statuses: string[]) => command
    .addOption(new Option('--status <status>', 'only this status').choices(statuses))
    .option('--host <host>', 'only this compute host')
    .option('--instance <id>', 'only this instance')
    .option('--workflow <name>', 'only this workflow')
    .option('--sla <name>', 'only this SLA')
    .option('--since <time>', 'from this time: ISO 8601 or a span before now (15m, 2h, 7d)')
    .option('--until <time>', 'up to this time: ISO 8601 or a span before now')
    .option('--limit <n>', 'at most this many (1–500; default 50); with --all, the page size')
    .option('--all', 'every page (follows nextCursor)');

  listFilters(program.command('incidents').description('list incidents, newest first (GET /api/v1/incidents)'), choices(IncidentStatus))
    .addOption(new Option('--kind <kind>', 'only this kind (a failure, or host-return)').choices(choices(IncidentKind)))
    .action((opts) => run(() => incidents({ ...globals(), ...opts }))());

  listFilters(program.command('recoveries').description('list recoveries, newest first (GET /api/v1/recoveries)'), choices(RecoveryStatus))
    .addOption(new Option('--outcome <outcome>', 'only this outcome').choices(choices(Outcome)))
    .option('--incident <id>', 'only the recoveries of this incident')
    .option('--parent <id>', 'only the children of this recovery')
    .addOption(new Option('--roots', 'only root recoveries (one per incident)').conflicts('children'))
    .option('--children', 'only child recoveries')
    .action((opts) => run(() => recoveries({ ...globals(), ...opts }))());

  program.command('show').description('an incident or a recovery: state, context, children, the last audit lines')
    .argument('<id>', 'incident (inc-…) or recovery (rec-…) id')
    .option('--lines <n>', 'audit lines shown (default 10)')
    .action((id, opts) => run(() => show(id, { ...globals(), ...opts }))());

  const decision = (name: 'approve' | 'deny' | 'resolve', what: string, fn: typeof approve) => program.command(name)
    .description(`${what} (over the API; recorded under your token's name)`)
    .argument('<recovery>', 'recovery id')
    .option('--comment <text>', 'recorded in the audit trail')
    .action((recovery, opts) => run(() => fn(recovery, { ...globals(), ...opts }))());
  decision('approve', 'approve what a recovery waits for', approve);
  decision('deny', 'deny it: a notify-only recovery is dismissed', deny);
  decision('resolve', 'mark a recovery waiting for an operator as resolved by hand', resolve);

  program.command('retry').description('run a failed, escalated, cancelled or partial recovery again from where it failed (exit 5 when it cannot be)')
    .argument('<recovery>', 'recovery id')
    .action((recovery) => run(() => retry(recovery, globals()))());

  program.command('cancel').description('stop a recovery and its descendants')
    .argument('<recovery>', 'recovery id')
    .option('--reason <text>', 'recorded in the audit trail')
    .action((recovery, opts) => run(() => cancel(recovery, { ...globals(), ...opts }))());

  const policy = program.command('policy').description('the policy file: show the running one, validate a file, reload');
  policy.command('show').description('the running policy: file, version, rules (GET /api/v1/policy)')
    .action(() => run(() => policyShow(globals()))());
  policy.command('validate').description('check a policy file here against the SLAs and workflows this configuration loads (exit 2 with paths)')
    .argument('<file>')
    .action((file) => run(() => policyValidate(file, globals()))());
  policy.command('reload').description('make the engine re-read its policy file (POST /api/v1/policy/reload; admin)')
    .action(() => run(() => policyReload(globals()))());

  program.command('workflows').description('the loaded workflows: name, kinds, source (--json: with statecharts)')
    .action(() => run(() => workflows(globals()))());

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

  const host = program.command('host').description('operator actions on a compute host');
  host.command('return').description('bring a host Resurrect fenced back into service: power on, lift forced_down once Nova allows it, heartbeat, enable (exit 5 when refused)')
    .argument('<host>', 'compute host')
    .option('--reenable', "enable its compute service at the end, whatever the host's policy params say")
    .option('--no-reenable', 'keep its compute service disabled at the end (with a reason naming you)')
    .option('--comment <text>', 'recorded in the audit trail (and in the disabled reason with --no-reenable)')
    .action((name, opts: { reenable?: boolean; comment?: string }) => run(() => hostReturn(name, { ...globals(), ...opts }))());

  const fence = program.command('fence').description('manual fencing: confirm that a host is powered off');
  fence.command('confirm').description('confirm the power-off of a host a manual fencing device waits for').argument('<host>')
    .requiredOption('--by <name>', 'who powered it off (recorded)')
    .option('--comment <text>', 'recorded with the confirmation')
    .action((host, opts) => run(() => fenceConfirm(host, { ...globals(), ...opts }))());
  fence.command('pending').description('list the manual fencing requests waiting for an operator')
    .action(() => run(() => fencePending(globals()))());

  program.command('audit').description('print the ordered audit trail of a recovery or incident (--follow: then live, until Ctrl-C)').argument('<id>')
    .option('-f, --follow', 'go on printing records as they are written (Ctrl-C ends, exit 0)')
    .action((id, opts) => run(() => audit(id, { ...globals(), ...opts }))());

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
    if (err instanceof ApiClientError) {
      const paths = err.paths.filter((p) => !err.message.includes(p.path));
      process.stderr.write(`resurrect: ${err.message} [${err.apiCode}]\n${paths.map((p) => `  ${p.path}: ${p.message}\n`).join('')}`);
      return err.exitCode;
    }
    process.stderr.write(`resurrect: ${e.message ?? String(err)}\n`);
    if (err instanceof ResurrectError) return exitCodeOfError(err);
    return 1;
  }
}

/** The exit code of an error raised in this process (not by the API): see the header. */
function exitCodeOfError(err: ResurrectError): number {
  if (err.code === 'RSR_INPUT_INVALID' || err.code === 'RSR_CONFIG_INVALID') return 2;
  if (err.code.endsWith('NOT_FOUND')) return 3;
  if (statusOf(err.code) === 409) return 5;
  return 1;
}
