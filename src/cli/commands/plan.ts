import { Redis } from 'ioredis';
import Table from 'cli-table3';
import { buildApp } from '../../container';
import type { Config } from '../../config/config';
import { createLogger } from '../../config/logger';
import { decodeOrThrow, InputError, ResurrectError, type FailureKind } from '../../domain';
import { sendSimCommand, type PlanRequest } from '../../engine/control-channel';
import { RecoveryPlanCodec, type PlanEntry, type RecoveryPlan } from '../../plan/plan-codec';
import { planForApp } from '../../plan/plan-for-app';
import type { GlobalOptions } from '../connect';
import { apiIfAvailable, configFrom, locateRunningRedis } from '../connect';

/** A plan of 10,000 hosts reads every nova-compute service: give the running engine time. */
const ENGINE_PLAN_TIMEOUT_SECONDS = 120;
/**
 * `buildApp` wants a Redis URL; a dry run needs none and must write nothing. Nothing listens on this
 * loopback port, so the app built for a local plan never touches a Redis.
 */
const NO_REDIS_URL = 'redis://127.0.0.1:1';

/** Moved to src/plan/plan-for-app.ts (the API uses it too); still exported here for the CLI's other commands. */
export { planForApp };

/**
 * `resurrect plan --fail HOST[,HOST…] [--kind K] [--json]`: what a failure of these hosts would do now —
 * per VM its SLA, workflow, order, target and predicted completion, the VMs that will not fit and those at
 * risk — without touching the cloud. Asks the running engine (its world, policy and SLAs) when one answers:
 * over the API when one is known (see `apiIfAvailable`), else through its control channel on Redis; otherwise
 * plans against a local build of the configuration (for the simulated cloud: its demo world).
 */
export async function plan(options: GlobalOptions & { fail: string; kind?: FailureKind }): Promise<number> {
  const failedHosts = options.fail.split(',').map((h) => h.trim()).filter((h) => h !== '');
  if (failedHosts.length === 0) throw new InputError('--fail: name at least one host (--fail compute-3,compute-4)', [{ path: 'fail', message: 'no host given' }]);
  const request: PlanRequest = { failedHosts, kind: options.kind ?? 'host-down' };
  const config = configFrom(options);
  // Over the API (POST /api/v1/plans) when one is known; else the engine's control channel; else locally.
  const api = await apiIfAvailable(options);
  if (api) {
    const answer = await api.plan({ failedHosts: request.failedHosts, kind: request.kind ?? 'host-down' });
    if (options.json) process.stdout.write(`${JSON.stringify(answer)}\n`);
    else printPlan(decodeOrThrow(RecoveryPlanCodec, answer, 'plan'), `the running engine (API ${api.url})`);
    return 0;
  }
  let source = 'the running engine';
  let result = await askRunningEngine(config, request);
  if (result === undefined) {
    source = 'a local build of the configuration (no running engine answered)';
    result = await planLocally(config, request);
  }
  const planned = decodeOrThrow(RecoveryPlanCodec, result, 'plan');
  if (options.json) process.stdout.write(`${JSON.stringify(planned)}\n`);
  else printPlan(planned, source);
  return 0;
}

/** The running engine's plan, or undefined when no engine listens (then the plan is computed here). */
async function askRunningEngine(config: Config, request: PlanRequest): Promise<unknown> {
  let located: { url: string; prefix: string };
  try {
    located = await locateRunningRedis(config, createLogger({ level: 'silent' }));
  } catch {
    return undefined;
  }
  const redis = new Redis(located.url, { maxRetriesPerRequest: 1, lazyConnect: true, enableOfflineQueue: false });
  redis.on('error', () => undefined); // an unreachable Redis means "no engine": answered below
  try {
    await redis.connect();
    return await sendSimCommand(redis, located.prefix, { op: 'plan', ...request }, ENGINE_PLAN_TIMEOUT_SECONDS);
  } catch (err) {
    // The engine's own refusal (an unknown host) or its silence is the answer; no listener or no Redis is not.
    if (err instanceof ResurrectError && err.code !== 'RSR_DRIVER_UNAVAILABLE') throw err;
    return undefined;
  } finally {
    redis.disconnect();
  }
}

async function planLocally(config: Config, request: PlanRequest): Promise<RecoveryPlan> {
  // Bull and ioredis report the Redis they cannot reach at warn/error: silence them, say plugin refusals here.
  const app = await buildApp({ config, redisUrl: NO_REDIS_URL, log: createLogger({ level: 'silent' }) });
  try {
    for (const error of app.loadReport.errors) process.stderr.write(`resurrect: plugin refused: ${error.message}\n`);
    return await planForApp(app, config, request);
  } finally {
    await app.close();
  }
}

const seconds = (ms: number | null, from: number) => (ms === null ? '-' : ((ms - from) / 1000).toFixed(1));

function status(e: PlanEntry): string {
  if (e.reason !== undefined) return 'WILL NOT FIT';
  if (e.action === 'operator') return e.withinDeadline ? 'operator' : 'operator, AT RISK';
  return e.withinDeadline ? 'ok' : 'LATE';
}

function printPlan(p: RecoveryPlan, source: string): void {
  const tty = Boolean(process.stdout.isTTY);
  const out: string[] = [];
  const moving = p.entries.filter((e) => e.target !== null).length;
  out.push(`Plan: ${p.kind} of ${p.failedHosts.join(', ')}: ${p.entries.length} VM${p.entries.length === 1 ? '' : 's'}, ${moving} with a target, ${p.wontFit.length} will not fit, ${p.atRisk.length} at risk`);
  out.push(`From ${source}; ${p.policyVersion ? `policy ${p.policyVersion}` : 'no policy (workflows from the configuration, no SLA)'}; nothing was changed.`);
  const limit = (n: number) => (n > 0 ? String(n) : 'no limit');
  out.push(`Limits: ${limit(p.limits.global)} at once, ${limit(p.limits.perTargetHost)} per target host. Model: fencing ${(p.latency.fenceMs / 1000).toFixed(1)} s, evacuation ${((p.latency.acceptMs.evacuate + p.latency.completeMs.evacuate) / 1000).toFixed(1)} s each. Times in seconds from the failure.`);
  const table = new Table({
    head: ['#', 'instance', 'name', 'SLA', 'workflow', 'target', 'done', 'deadline', 'status'],
    style: { head: tty ? ['cyan'] : [], border: tty ? ['grey'] : [] },
  });
  for (const e of p.entries) {
    table.push([String(e.order), e.instance, e.name, e.sla ?? '-', e.workflow, e.target ?? '-', seconds(e.predictedDoneAt, p.openedAt), seconds(e.deadlineAt, p.openedAt), status(e)]);
  }
  out.push(table.toString());
  if (p.wontFit.length > 0) {
    out.push(`Will not fit (${p.wontFit.length}):`);
    for (const w of p.wontFit) out.push(`  - ${w.reason}`);
  }
  if (p.atRisk.length > 0) {
    const names = new Map(p.entries.map((e) => [e.instance, e.name]));
    const shown = p.atRisk.slice(0, 10).map((id) => names.get(id) ?? id);
    out.push(`At risk (${p.atRisk.length}, past their deadline or not recovered automatically): ${shown.join(', ')}${p.atRisk.length > shown.length ? `, and ${p.atRisk.length - shown.length} more` : ''}`);
  }
  out.push(p.predictedDoneAt === null ? 'Nothing is predicted to be recovered automatically.' : `Last VM predicted back at +${seconds(p.predictedDoneAt, p.openedAt)} s.`);
  process.stdout.write(`${out.join('\n')}\n`);
}
