/**
 * Resurrect as an operator runs it against the lab: `resurrect serve --worker` as its own process, on the
 * configuration `npm run lab:up` wrote (the OpenStack driver on the lab's clouds.yaml, fence_ipmilan per host),
 * with a Redis key prefix of its own and an operator token, stopped by pid. `overrides` is merged over that
 * configuration (a wrong BMC password, shorter SLA clocks …).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { findFreePort } from '../../src/drivers/redis/locate-redis';
import type { AuditRecord, Incident } from '../../src/domain';
import { BIN } from '../helpers/cli';
import type { LabState } from './lab';

export interface ServedEngine {
  readonly url: string;
  readonly token: string;
  readonly output: () => string;
  readonly config: string;
  api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }>;
  /** Reports the event the way a host monitor would, and returns the incident it opened or joined. */
  report(kind: string, host: string): Promise<Incident>;
  /** Waits until the incident is no longer open and returns it. */
  settle(incidentId: string, timeoutMs?: number): Promise<Incident>;
  trail(incidentId: string): Promise<AuditRecord[]>;
  stop(): Promise<number | null>;
}

/** Deep merge of plain objects: `over` wins, arrays are replaced. */
function merge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (base && over && typeof base === 'object' && typeof over === 'object' && !Array.isArray(base) && !Array.isArray(over)) {
    const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
    for (const [key, value] of Object.entries(over as Record<string, unknown>)) out[key] = merge(out[key], value);
    return out;
  }
  return over;
}

export async function startServedEngine(lab: LabState, redisUrl: string, prefix: string, overrides: Record<string, unknown> = {}): Promise<ServedEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'rsr-lab-engine-'));
  const config = join(dir, 'resurrect.yaml');
  const base = parse(readFileSync(lab.resurrectConfig, 'utf8')) as Record<string, unknown>;
  writeFileSync(config, stringify(merge(base, { redis: { prefix }, log: { level: 'info' }, ...overrides })), { mode: 0o600 });
  const token = randomBytes(24).toString('base64url');
  const port = await findFreePort();
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--worker', '--concurrency', '20'], {
    env: { ...process.env, REDIS_URL: redisUrl, RESURRECT_CONFIG: config, RESURRECT_API_TOKENS: `lab-operator:operator:${token}`, RESURRECT_RUNTIME_DIR: dir, RESURRECT_URL: '', RESURRECT_TOKEN: '' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c) => { output += String(c); });
  child.stderr.on('data', (c) => { output += String(c); });
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600 && !output.includes(`API listening on ${url}`); i++) {
    if (child.exitCode !== null) throw new Error(`resurrect serve exited ${child.exitCode}:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!output.includes(`API listening on ${url}`)) throw new Error(`resurrect serve did not listen on ${url} in 30 s:\n${output}`);

  const api = async <T>(method: string, path: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, json: (await response.json()) as T };
  };

  return {
    url, token, config, output: () => output, api,
    async report(kind, host) {
      const answer = await api<{ incident: Incident }>('POST', '/api/v1/incidents', { kind, host, source: 'lab-monitor' });
      if (answer.status >= 300) throw new Error(`POST /api/v1/incidents answered ${answer.status}: ${JSON.stringify(answer.json)}`);
      return answer.json.incident;
    },
    async settle(incidentId, timeoutMs = 180_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { json } = await api<{ incident: Incident }>('GET', `/api/v1/incidents/${incidentId}`);
        if (json.incident.status !== 'open') return json.incident;
        if (Date.now() > deadline) throw new Error(`incident ${incidentId} still open after ${timeoutMs} ms:\n${output.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    },
    async trail(incidentId) {
      const { json } = await api<{ audit: { record: AuditRecord }[] }>('GET', `/api/v1/incidents/${incidentId}`);
      return json.audit.map((a) => a.record);
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<'timeout'>((done) => setTimeout(() => done('timeout'), 30_000))]);
      if (code === 'timeout') {
        child.kill('SIGKILL');
        return exited;
      }
      return code;
    },
  };
}
