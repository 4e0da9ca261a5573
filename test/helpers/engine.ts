import type { ExecutionContext } from 'ava';
import pino from 'pino';
import type { Logger } from 'pino';
import { buildApp } from '../../src/container';
import type { App } from '../../src/container';
import { DEFAULT_CONFIG } from '../../src/config/config';
import type { Config } from '../../src/config/config';
import type { Incident } from '../../src/domain';
import { SimWorld } from '../../src/drivers/cloud/sim/world';
import type { SimWorldOptions } from '../../src/drivers/cloud/sim/world';
import type { PluginDefinition } from '../../src/plugins/api';
import { definePlugin } from '../../src/plugins/api';
import type { FencingDriver } from '../../src/drivers/fencing/port';
import type { Notification, Notifier } from '../../src/drivers/notify/port';
import type { RedisFixture } from './redis';

/** Settings that make the engine fast on an instant simulated cloud, without changing what it does. */
export function testConfig(prefix: string, overrides: Partial<Config> = {}): Config {
  return {
    ...DEFAULT_CONFIG,
    redis: { prefix },
    cloud: { driver: 'sim', options: {}, sim: { seed: 7, timeScale: 0, inventory: 'demo' } },
    params: { pollIntervalMs: 10, activeTimeoutSeconds: 5, serviceWaitSeconds: 0.3, livenessWaitSeconds: 0.01 },
    worker: { embedded: true, concurrency: 8, lockDurationMs: 2_000, stalledIntervalMs: 1_000, maxStalledCount: 5, shutdownGraceMs: 1_000, pollsPerSecond: 0 },
    retry: { attempts: 4, backoffMs: 50 },
    log: { level: 'warn' },
    ...overrides,
  };
}

export const testLog = (): Logger => pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/**
 * A small cloud whose numbers are easy to reason about: four hosts in one zone, three instances on
 * compute-1 (shared storage, local storage with an image, boot from volume), one on compute-2.
 */
export function smallWorld(options: SimWorldOptions = {}): SimWorld {
  const world = new SimWorld({ seed: 1, timeScale: 0, ...options });
  for (const name of ['compute-1', 'compute-2', 'compute-3', 'compute-4']) world.addHost({ name, zone: 'az-1', vcpus: 16, ramMb: 32_768 });
  world.addImage('img-cirros');
  const flavor = { name: 'm1.small', vcpus: 1, ramMb: 2048, extraSpecs: {} };
  world.addInstance({ id: 'vm-a', host: 'compute-1', flavor, sharedStorage: true, image: 'img-cirros', metadata: { HA_Enabled: 'True' } });
  world.addInstance({ id: 'vm-b', host: 'compute-1', flavor, sharedStorage: false, image: 'img-cirros' });
  world.addInstance({ id: 'vm-c', host: 'compute-1', flavor, sharedStorage: false, image: '' });
  world.addInstance({ id: 'vm-d', host: 'compute-2', flavor, sharedStorage: true, image: 'img-cirros' });
  return world;
}

export interface EngineHarness {
  readonly app: App;
  readonly world: SimWorld;
  /** Closes the app (and its worker) unless already closed. */
  close(options?: { abrupt?: boolean }): Promise<void>;
  waitClosed(incidentId: string, timeoutMs?: number): Promise<Incident>;
  /** The audit messages of a recovery or incident, in order. */
  trail(id: string): Promise<string[]>;
}

export async function startEngine(
  redis: RedisFixture,
  options: {
    world?: SimWorld; config?: Partial<Config>; plugins?: PluginDefinition[]; worker?: boolean; workerName?: string; prefix?: string;
    /** Fencing other than the world's simulated devices (e.g. real fence agents against the served sim). */
    fencing?: FencingDriver;
    /** Jobs the worker runs at once (default 8). */
    concurrency?: number;
    /** Replaces the configured notifiers (e.g. one that records what it was told). */
    notifier?: Notifier;
  } = {},
): Promise<EngineHarness> {
  const world = options.world ?? smallWorld();
  const prefix = options.prefix ?? redis.newPrefix();
  const app = await buildApp({
    config: testConfig(prefix, options.config),
    redisUrl: redis.url,
    log: testLog(),
    overrides: { world, ...(options.fencing ? { fencing: options.fencing } : {}), ...(options.notifier ? { notifier: options.notifier } : {}) },
    plugins: options.plugins,
    workerName: options.workerName ?? 'test-worker',
  });
  if (options.worker !== false) app.worker().start(options.concurrency ?? 8);
  let closed = false;
  return {
    app,
    world,
    async close(closeOptions) {
      if (closed) return;
      closed = true;
      await app.close(closeOptions);
    },
    waitClosed: (incidentId, timeoutMs = 20_000) => app.engine.waitForIncident(incidentId, { timeoutMs, pollMs: 20 }),
    async trail(id) {
      return (await app.engine.audit(id)).map((row) => row.record.message);
    },
  };
}

export function registerTeardown(t: ExecutionContext, harness: EngineHarness): void {
  t.teardown(() => harness.close());
}

/** A notifier that keeps what it was told, for assertions. */
export class RecordingNotifier implements Notifier {
  readonly name = 'recording';
  readonly sent: Notification[] = [];
  async notify(notification: Notification): Promise<void> {
    this.sent.push(notification);
  }
  topics(): string[] {
    return this.sent.map((n) => n.topic);
  }
}

/**
 * A notifier plugin (`notifiers: [{ type: 'plugin', name: 'gated' }]`) whose notifications matching `pattern`
 * hang until `letGo()`: the recovery sending one holds whatever it holds (a slot) meanwhile.
 */
export function gatedNotifier(pattern: RegExp): { readonly plugin: PluginDefinition; readonly letGo: () => void } {
  let letGo!: () => void;
  const blocked = new Promise<void>((resolve) => { letGo = resolve; });
  const plugin = definePlugin({
    name: 'gated-pager',
    notifiers: [{
      kind: 'notifier', name: 'gated',
      create: () => ({ name: 'gated', notify: async (n: Notification) => { if (pattern.test(JSON.stringify(n))) await blocked; } }),
    }],
  });
  return { plugin, letGo };
}
