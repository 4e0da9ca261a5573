/**
 * The routes around the API rather than of it: liveness, readiness, the OpenAPI document and the metrics.
 * Health and readiness are public and exempt from the rate limit (probes call them every few seconds).
 */
import * as t from 'io-ts';
import type { Redis } from 'ioredis';
import { TOKENS } from '../../container';
import type { Keys } from '../../engine/keys';
import { RecoveryQueue } from '../../engine/recovery-queue';
import { SlaCompliance } from '../../engine/sla-compliance';
import { createMetrics, type Metrics } from '../metrics';
import { Health, Readiness } from '../codecs';
import type { ApiDeps } from '../route';
import { defineRoute } from '../route';

const PING_TIMEOUT_MS = 1_000;

export const healthz = defineRoute({
  method: 'GET',
  url: '/healthz',
  summary: 'Liveness: the process answers',
  tags: ['health'],
  access: 'public',
  mutates: false,
  unlimited: true,
  input: {},
  response: { codec: Health, statuses: { 200: 'the process is up' } },
  async handler() {
    return { status: 200, body: { status: 'ok' as const, uptimeSeconds: Math.round(process.uptime()) } };
  },
});

export const readyz = defineRoute({
  method: 'GET',
  url: '/readyz',
  summary: 'Readiness: Redis answers, workflows are loaded, at least one worker is connected',
  description: 'Every check is listed with its result; 503 when any fails. Workers are the connections bull names for this queue (`CLIENT LIST`); '
    + 'where the Redis forbids CLIENT LIST the worker check passes with detail "unknown".',
  tags: ['health'],
  access: 'public',
  mutates: false,
  unlimited: true,
  input: {},
  response: { codec: Readiness, statuses: { 200: 'ready', 503: 'not ready: the failing checks say why' } },
  async handler({ deps }) {
    const checks = await Promise.all([redisCheck(deps), pluginsCheck(deps), workersCheck(deps)]);
    const ready = checks.every((c) => c.ok);
    return { status: ready ? 200 : 503, body: { ready, checks } };
  },
});

type Check = { name: string; ok: boolean; detail?: string };

async function redisCheck(deps: ApiDeps): Promise<Check> {
  try {
    const answer = await withTimeout(deps.app.redis.ping(), PING_TIMEOUT_MS);
    return { name: 'redis', ok: answer === 'PONG' };
  } catch (err) {
    return { name: 'redis', ok: false, detail: `no answer to PING: ${(err as Error).message}` };
  }
}

async function pluginsCheck(deps: ApiDeps): Promise<Check> {
  const workflows = deps.app.registry.listWorkflows().length;
  const refused = deps.app.loadReport.errors.length;
  const detail = `${workflows} workflow${workflows === 1 ? '' : 's'} loaded${refused > 0 ? `, ${refused} file${refused === 1 ? '' : 's'} refused (GET /api/v1/plugins/errors)` : ''}`;
  return { name: 'plugins', ok: workflows > 0, detail };
}

async function workersCheck(deps: ApiDeps): Promise<Check> {
  try {
    const queue = deps.app.container.get(RecoveryQueue).queue;
    const workers = await withTimeout(queue.getWorkers() as Promise<unknown[] | undefined>, PING_TIMEOUT_MS);
    if (workers === undefined) return { name: 'workers', ok: true, detail: 'unknown (CLIENT LIST not allowed)' };
    return workers.length > 0
      ? { name: 'workers', ok: true, detail: `${workers.length} connected` }
      : { name: 'workers', ok: false, detail: 'no worker connected: start `resurrect worker` (or `serve --worker`)' };
  } catch (err) {
    return { name: 'workers', ok: false, detail: `cannot list workers: ${(err as Error).message}` };
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const openapi = defineRoute({
  method: 'GET',
  url: '/openapi.json',
  summary: 'This OpenAPI 3 document, generated from the route definitions',
  tags: ['meta'],
  access: 'public',
  mutates: false,
  input: {},
  response: { codec: t.UnknownRecord, statuses: { 200: 'the OpenAPI document' } },
  async handler({ deps }) {
    return { status: 200, body: deps.openapi() as Record<string, unknown> };
  },
});

const metricsByApp = new WeakMap<object, Metrics>();

export const metrics = defineRoute({
  method: 'GET',
  url: '/metrics',
  summary: 'Prometheus metrics (text exposition format)',
  description: 'Needs a viewer token: give Prometheus one (`authorization: {type: Bearer, credentials_file: …}` in its scrape config).',
  tags: ['meta'],
  access: 'viewer',
  mutates: false,
  input: {},
  response: { codec: t.string, statuses: { 200: 'the metrics' }, contentType: 'text/plain; version=0.0.4; charset=utf-8' },
  async handler({ deps }) {
    let rendering = metricsByApp.get(deps.app);
    if (!rendering) {
      const redis = deps.app.redis as Redis;
      const keys = deps.app.container.get<Keys>(TOKENS.keys);
      rendering = createMetrics({
        redis, keys, queue: deps.app.container.get(RecoveryQueue), breaker: deps.app.breaker, compliance: new SlaCompliance(redis, keys),
      });
      metricsByApp.set(deps.app, rendering);
    }
    return { status: 200, body: await rendering.render(), contentType: rendering.contentType };
  },
});
