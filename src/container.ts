/**
 * The composition root: the only module that names implementations and picks the simulated cloud or a real
 * one. Entry points (the CLI commands, tests) call `buildApp` and take what they need from the container.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Container } from 'inversify';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config/config';
import type { Clock } from './domain';
import { systemClock } from './domain';
import type { CloudDriver } from './drivers/cloud/port';
import { CLOUD_DRIVER } from './drivers/cloud/port';
import { connectCloud } from './drivers/cloud/connect';
import { PollPacer } from './engine/poll-pacer';
import { RateLimitedCloud } from './drivers/cloud/rate-limited-cloud';
import type { SimWorld } from './drivers/cloud/sim/world';
import { createSimCloud } from './drivers/cloud/sim/sim-cloud';
import type { FencingDriver } from './drivers/fencing/port';
import { FENCING_DRIVER } from './drivers/fencing/port';
import { FanoutNotifier } from './drivers/notify/fanout-notifier';
import { LogNotifier } from './drivers/notify/log-notifier';
import type { Notifier } from './drivers/notify/port';
import { NOTIFIER } from './drivers/notify/port';
import { WebhookNotifier } from './drivers/notify/webhook-notifier';
import { TokenBucket } from './drivers/redis/token-bucket';
import { AuditLog } from './engine/audit-log';
import { Engine } from './engine/engine';
import { IncidentStore } from './engine/incident-store';
import { Keys } from './engine/keys';
import { RecoveryQueue } from './engine/recovery-queue';
import { RecoveryStore } from './engine/recovery-store';
import { Admission } from './engine/admission';
import { MassFailureBreaker } from './engine/breaker';
import { Escalation } from './engine/escalation';
import { SlaCompliance } from './engine/sla-compliance';
import type { RecoveryGate } from './engine/gates';
import { jobOptionsFor } from './engine/sla-job-options';
import { RecoveryRunner } from './engine/runner';
import { RecoveryWorker } from './engine/worker';
import type { PluginDefinition } from './plugins/api';
import { PolicyStore } from './policy/policy-store';
import type { LoadReport } from './plugins/loader';
import { loadPlugins } from './plugins/loader';
import { Registry } from './plugins/registry';
import { builtinDriversPlugin } from './drivers/builtin';
import { builtinStepsPlugin } from './steps';
import { builtinWorkflowDirs } from './workflow-dirs';

export const TOKENS = {
  config: Symbol.for('resurrect.Config'),
  log: Symbol.for('resurrect.Logger'),
  clock: Symbol.for('resurrect.Clock'),
  redis: Symbol.for('resurrect.Redis'),
  redisUrl: Symbol.for('resurrect.RedisUrl'),
  keys: Symbol.for('resurrect.Keys'),
  registry: Symbol.for('resurrect.Registry'),
  simWorld: Symbol.for('resurrect.SimWorld'),
  workerName: Symbol.for('resurrect.WorkerName'),
} as const;

export interface AppOptions {
  readonly config: Config;
  readonly redisUrl: string;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Replace a port's implementation (tests, what-if runs). */
  readonly overrides?: { readonly cloud?: CloudDriver; readonly fencing?: FencingDriver; readonly notifier?: Notifier; readonly world?: SimWorld };
  /** Extra plugins registered after the built-in steps (tests). */
  readonly plugins?: readonly PluginDefinition[];
  readonly workerName?: string;
}

export interface App {
  readonly container: Container;
  readonly engine: Engine;
  readonly registry: Registry;
  readonly loadReport: LoadReport;
  readonly world?: SimWorld;
  readonly redis: Redis;
  /** The mass-failure breaker's operator side (status, approve, close); it counts and holds only when `breaker.enabled`. */
  readonly breaker: MassFailureBreaker;
  /** Reaches the cloud once at start (log in, API version), logging what it reached or why not; never throws. */
  connectCloud(): Promise<boolean>;
  /** Creates (once) the worker of this process; `start` it to process recoveries. */
  worker(): RecoveryWorker;
  close(options?: { abrupt?: boolean }): Promise<void>;
}

export async function buildApp(options: AppOptions): Promise<App> {
  const { config, log } = options;
  const clock = options.clock ?? systemClock;
  const registry = new Registry();
  const loadReport = await loadPlugins({
    builtin: [builtinStepsPlugin, builtinDriversPlugin, ...(options.plugins ?? [])],
    dirs: [...builtinWorkflowDirs(), ...config.plugins.dirs],
    registry,
    log,
  });

  const container = new Container({ defaultScope: 'Singleton' });
  container.bind(TOKENS.config).toConstantValue(config);
  container.bind(TOKENS.log).toConstantValue(log);
  container.bind(TOKENS.clock).toConstantValue(clock);
  container.bind(TOKENS.redisUrl).toConstantValue(options.redisUrl);
  container.bind(TOKENS.registry).toConstantValue(registry);
  container.bind(TOKENS.workerName).toConstantValue(options.workerName ?? `${hostname()}:${process.pid}`);
  container.bind(TOKENS.keys).toConstantValue(new Keys(config.redis.prefix ?? 'rsr'));
  container.bind(TOKENS.redis).toDynamicValue(() => {
    const client = new Redis(options.redisUrl, { maxRetriesPerRequest: 3, lazyConnect: false });
    // ioredis reconnects by itself; say so once per outage instead of once per retry.
    let down = false;
    client.on('error', (err: Error) => {
      if (!down) log.warn({ err: err.message }, `Redis unreachable (${err.message}); reconnecting`);
      down = true;
    });
    client.on('ready', () => {
      if (down) log.info('Redis reachable again');
      down = false;
    });
    return client;
  });

  // The simulated cloud is built when anything uses it; plugin drivers replace either port by name.
  const usesSim = config.cloud.driver === 'sim' || config.fencing.driver === 'sim';
  const sim = usesSim && (!options.overrides?.cloud || !options.overrides?.fencing)
    ? createSimCloud({ ...config.cloud.sim, clock, log, world: options.overrides?.world })
    : undefined;
  const world = sim?.world ?? options.overrides?.world;
  const pluginDriver = async <T>(kind: 'cloud' | 'fencing', name: string, driverOptions: Record<string, unknown>): Promise<T> =>
    (await registry.driver<T>(kind, name).create(driverOptions, {
      log: log.child({ driver: `${kind}:${name}` }), clock, redis: container.get<Redis>(TOKENS.redis), keys: container.get<Keys>(TOKENS.keys),
    })) as T;
  const chosenCloud = options.overrides?.cloud
    ?? (config.cloud.driver === 'sim' ? sim!.cloud : await pluginDriver<CloudDriver>('cloud', config.cloud.driver, config.cloud.options));
  // Every user of the cloud (steps, policy facts) goes through the shared rate limit when one is set.
  const cloud = config.limits.cloudApi.ratePerSecond > 0
    ? new RateLimitedCloud(
      chosenCloud,
      new TokenBucket(container.get<Redis>(TOKENS.redis), container.get<Keys>(TOKENS.keys).tokenBucket('cloud-api'), config.limits.cloudApi),
      log.child({ driver: 'cloud-api-limit' }),
    )
    : chosenCloud;
  const fencing = options.overrides?.fencing
    ?? (config.fencing.driver === 'sim' ? sim!.fencing : await pluginDriver<FencingDriver>('fencing', config.fencing.driver, config.fencing.options));
  container.bind(CLOUD_DRIVER).toConstantValue(cloud);
  container.bind(FENCING_DRIVER).toConstantValue(fencing);
  if (world) container.bind(TOKENS.simWorld).toConstantValue(world);
  const notifiers: Notifier[] = [];
  for (const n of config.notifiers) {
    if (n.type === 'log') notifiers.push(new LogNotifier(log));
    else if (n.type === 'webhook') notifiers.push(new WebhookNotifier({ url: n.url, headers: n.headers, timeoutMs: n.timeoutMs, log }));
    else notifiers.push(await registry.notifier(n.name).create(n.options ?? {}, { log: log.child({ notifier: n.name }), clock, redis: container.get<Redis>(TOKENS.redis), keys: container.get<Keys>(TOKENS.keys) }));
  }
  container.bind(NOTIFIER).toConstantValue(options.overrides?.notifier ?? new FanoutNotifier(notifiers));

  container.bind(AuditLog).toDynamicValue((ctx) => new AuditLog(ctx.get(TOKENS.redis), ctx.get(TOKENS.keys)));
  container.bind(RecoveryStore).toDynamicValue((ctx) => new RecoveryStore(ctx.get(TOKENS.redis), ctx.get(TOKENS.keys)));
  container.bind(IncidentStore).toDynamicValue((ctx) => new IncidentStore(ctx.get(TOKENS.redis), ctx.get(TOKENS.keys)));
  container.bind(RecoveryQueue).toDynamicValue((ctx) => new RecoveryQueue(options.redisUrl, ctx.get(TOKENS.keys), {
    lockDurationMs: config.worker.lockDurationMs,
    stalledIntervalMs: config.worker.stalledIntervalMs,
    maxStalledCount: config.worker.maxStalledCount,
    attempts: config.retry.attempts,
    backoffMs: config.retry.backoffMs,
  }, log));
  // A policy that does not validate stops the start with its file, rule and field path (PolicyError).
  const policy = config.policy.file
    ? {
      file: config.policy.file,
      store: PolicyStore.load(readFileSync(config.policy.file, 'utf8'), config.policy.file, {
        slas: new Set(registry.listSlas().map((sla) => sla.name)),
        workflows: new Set(registry.listWorkflows().map((workflow) => workflow.name)),
        slaWorkflows: new Map(registry.listSlas().map((sla) => [sla.name, sla.workflows])),
        handles: new Map(registry.listWorkflows().map((workflow) => [workflow.name, workflow.handles])),
      }),
      cloud,
    }
    : undefined;
  // Built even when disabled: an operator must still be able to release what it held before it was turned off.
  container.bind(MassFailureBreaker).toDynamicValue((ctx) => new MassFailureBreaker({
    redis: ctx.get(TOKENS.redis), keys: ctx.get(TOKENS.keys), queue: ctx.get(RecoveryQueue), audit: ctx.get(AuditLog), notifier: ctx.get(NOTIFIER),
    cloud: ctx.get(CLOUD_DRIVER), clock, log, settings: config.breaker, node: ctx.get<string>(TOKENS.workerName),
  }));
  container.bind(Engine).toDynamicValue((ctx) => new Engine({
    redis: ctx.get(TOKENS.redis), keys: ctx.get(TOKENS.keys), incidents: ctx.get(IncidentStore), store: ctx.get(RecoveryStore),
    queue: ctx.get(RecoveryQueue), audit: ctx.get(AuditLog), registry, clock, log,
    settings: { workflows: config.workflows, params: config.params, paramsByKind: config.paramsByKind, dedupeWindowSeconds: config.incidents.dedupeWindowSeconds },
    node: ctx.get<string>(TOKENS.workerName),
    cloud: ctx.get(CLOUD_DRIVER),
    ...(policy ? { policy } : {}),
    ...(config.breaker.enabled ? { breaker: ctx.get(MassFailureBreaker) } : {}),
  }));
  // Checked, in this order, before any job runs a recovery: the mass-failure breaker, then the concurrency limits.
  const gates: RecoveryGate[] = [];
  if (config.breaker.enabled) gates.push(container.get(MassFailureBreaker));
  const admission = new Admission({
    redis: container.get<Redis>(TOKENS.redis), keys: container.get<Keys>(TOKENS.keys), incidents: container.get(IncidentStore), registry, log,
    enqueue: async (id) => {
      const waiting = await container.get(RecoveryStore).get(id);
      // Never claimed: its first job is still on its way (it was put in line at fan-out).
      if (waiting?.status !== 'queued' || !(await container.get<Redis>(TOKENS.redis).hexists(container.get<Keys>(TOKENS.keys).recovery(id), 'job'))) return;
      await container.get(RecoveryQueue).enqueueAgain(id, `admit-${Date.now()}`, jobOptionsFor(waiting.params, registry));
    },
  }, { global: config.limits.global, perTargetHost: config.limits.perTargetHost });
  gates.push(admission);
  const compliance = new SlaCompliance(container.get<Redis>(TOKENS.redis), container.get<Keys>(TOKENS.keys));
  const escalation = new Escalation({
    redis: container.get<Redis>(TOKENS.redis), keys: container.get<Keys>(TOKENS.keys), store: container.get(RecoveryStore),
    incidents: container.get(IncidentStore), queue: container.get(RecoveryQueue), audit: container.get(AuditLog),
    notifier: container.get<Notifier>(NOTIFIER), registry, clock, log, worker: container.get<string>(TOKENS.workerName),
    onBreach: async (recovery, sla) => {
      if (!recovery.subject.instance) return;
      await compliance.recordBreach(container.get<Redis>(TOKENS.redis).multi(), { recoveryId: recovery.id, sla: sla.name, workflow: recovery.workflow }).exec();
    },
  });
  container.bind(RecoveryRunner).toDynamicValue((ctx) => new RecoveryRunner({
    redis: ctx.get(TOKENS.redis), keys: ctx.get(TOKENS.keys), store: ctx.get(RecoveryStore), incidents: ctx.get(IncidentStore),
    queue: ctx.get(RecoveryQueue), audit: ctx.get(AuditLog), registry, clock, log: log.child({ worker: ctx.get<string>(TOKENS.workerName) }),
    drivers: { cloud: ctx.get(CLOUD_DRIVER), fencing: ctx.get(FENCING_DRIVER), notifier: ctx.get(NOTIFIER) },
    worker: ctx.get(TOKENS.workerName), dedupeWindowSeconds: config.incidents.dedupeWindowSeconds,
    gates,
    escalation,
    compliance,
    pacer: new PollPacer(config.worker.pollsPerSecond, clock),
    ...(policy ? { policy } : {}),
  }));
  container.bind(RecoveryWorker).toDynamicValue((ctx) => new RecoveryWorker(
    ctx.get(RecoveryQueue), ctx.get(RecoveryRunner), { redis: ctx.get(TOKENS.redis), keys: ctx.get(TOKENS.keys) }, log, ctx.get(TOKENS.workerName),
    [{ start: () => admission.startSweeping(), stop: () => admission.stopSweeping() }],
  ));

  const redis = container.get<Redis>(TOKENS.redis);
  let worker: RecoveryWorker | undefined;
  return {
    container,
    engine: container.get(Engine),
    registry,
    loadReport,
    world,
    redis,
    breaker: container.get(MassFailureBreaker),
    connectCloud: () => connectCloud(container.get<CloudDriver>(CLOUD_DRIVER), log.child({ driver: 'cloud' })),
    worker: () => (worker ??= container.get(RecoveryWorker)),
    async close(closeOptions = {}) {
      container.get(Engine).close(); // live event feeds hold their own connections
      if (worker) await worker.close(closeOptions);
      await container.get(RecoveryQueue).close(Boolean(closeOptions.abrupt));
      redis.disconnect();
      if (!options.overrides?.world) world?.dispose();
    },
  };
}
