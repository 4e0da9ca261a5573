import { buildApp } from '../../container';
import type { App } from '../../container';
import { createLogger } from '../../config/logger';
import type { BreakerStatus, ReleaseResult, ScopeStatus } from '../../engine/breaker';
import type { GlobalOptions } from '../connect';
import { apiIfAvailable, configFrom, locateRunningRedis } from '../connect';
import { refuseByOverApi } from './decide';

/**
 * `resurrect breaker status|approve|close`: the operator's side of the mass-failure breaker, typed in a second
 * terminal. Over the API (GET /api/v1/breaker, POST /api/v1/breaker/:scope/approve|close) when one is known and
 * no `--by` is given (the API records the token's name); otherwise on the running engine's Redis (found like
 * `decide` finds it). The engine's workers pick up the recoveries it releases.
 */
async function withApp<T>(options: GlobalOptions, fn: (app: App) => Promise<T>): Promise<T> {
  const config = configFrom(options);
  const log = createLogger({ level: 'warn' });
  const { url, prefix } = await locateRunningRedis(config, log);
  const app = await buildApp({ config: { ...config, redis: { ...config.redis, prefix } }, redisUrl: url, log, workerName: `cli:${process.pid}` });
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

export async function breakerStatus(options: GlobalOptions): Promise<number> {
  const api = await apiIfAvailable(options);
  if (api) {
    const status = await api.breaker();
    process.stdout.write(options.json ? `${JSON.stringify(status)}\n` : formatStatus(status as BreakerStatus));
    return 0;
  }
  return withApp(options, async (app) => {
    const status = await app.breaker.status();
    process.stdout.write(options.json ? `${JSON.stringify(status)}\n` : formatStatus(status));
    return 0;
  });
}

export async function breakerApprove(scope: string, options: GlobalOptions & { hosts?: string; by?: string; comment?: string }): Promise<number> {
  refuseByOverApi(options);
  const hosts = options.hosts === undefined ? 'all' : options.hosts.split(',').map((h) => h.trim()).filter((h) => h.length > 0);
  const api = options.by === undefined ? await apiIfAvailable(options) : undefined;
  if (api) {
    const result = await api.breakerApprove(scope, { hosts, ...(options.comment !== undefined ? { comment: options.comment } : {}) });
    process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : formatRelease('approved', result));
    return 0;
  }
  return withApp(options, async (app) => {
    const result = await app.breaker.approve(scope, hosts, by(options), options.comment);
    process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : formatRelease('approved', result));
    return 0;
  });
}

export async function breakerClose(scope: string, options: GlobalOptions & { by?: string; comment?: string }): Promise<number> {
  refuseByOverApi(options);
  const api = options.by === undefined ? await apiIfAvailable(options) : undefined;
  if (api) {
    const result = await api.breakerClose(scope, options.comment !== undefined ? { comment: options.comment } : {});
    process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : `breaker of ${scope} closed${result.wasOpen ? '' : ' (it was not open)'}; ${formatRelease('released', result)}`);
    return 0;
  }
  return withApp(options, async (app) => {
    const result = await app.breaker.close(scope, by(options), options.comment);
    process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : `breaker of ${scope} closed${result.wasOpen ? '' : ' (it was not open)'}; ${formatRelease('released', result)}`);
    return 0;
  });
}

function by(options: { by?: string }): string {
  return options.by ?? process.env.USER ?? 'operator';
}

function formatRelease(verb: string, result: ReleaseResult): string {
  const hosts = result.approved.length > 0 ? result.approved.join(', ') : 'no host';
  const released = result.released.length > 0 ? `: ${result.released.join(', ')}` : '';
  return `${verb} ${hosts} (${result.scope}); ${result.released.length} held recover${result.released.length === 1 ? 'y' : 'ies'} released${released}\n`;
}

export function formatStatus(status: BreakerStatus): string {
  const limits = [
    status.maxHosts > 0 ? `more than ${status.maxHosts} hosts` : undefined,
    status.maxShare > 0 ? `more than ${Math.round(status.maxShare * 100)}% of a ${status.scopeKind} of at least ${status.minScopeHosts} hosts` : undefined,
  ].filter(Boolean).join(' or ') || 'never (no threshold set)';
  const lines = [`breaker ${status.enabled ? 'enabled' : 'DISABLED'}: per ${status.scopeKind}, opens at ${limits} failed within ${status.windowSeconds} s`];
  if (status.scopes.length === 0) lines.push('no failure counted yet');
  for (const scope of status.scopes) lines.push(...formatScope(scope));
  return `${lines.join('\n')}\n`;
}

function formatScope(scope: ScopeStatus): string[] {
  const list = (items: readonly string[]) => (items.length > 0 ? items.join(', ') : '-');
  const head = scope.open
    ? `${scope.scope}: OPEN since ${scope.openedAt ?? '?'}${scope.reason ? ` — ${scope.reason}` : ''}`
    : `${scope.scope}: closed${scope.closedAt ? ` (closed ${scope.closedAt} by ${scope.closedBy ?? '?'})` : ''}`;
  return [
    head,
    `  failed in window: ${list(scope.failedHosts.map((f) => `${f.host} (${f.at})`))}`,
    ...(scope.open ? [`  held hosts:       ${list(scope.heldHosts)}`, `  approved hosts:   ${list(scope.approvedHosts)}`] : []),
    `  held recoveries:  ${list(scope.heldRecoveries.map((r) => `${r.recoveryId} (${r.host})`))}`,
  ];
}
