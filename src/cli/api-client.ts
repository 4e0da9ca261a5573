/**
 * The CLI's side of the REST API (docs/api.md): a small typed client over Node's global fetch.
 *
 * Where the API is, in this order (`resolveEndpoint`):
 *   1. `--url` / `--token`;
 *   2. RESURRECT_URL / RESURRECT_TOKEN;
 *   3. the runtime file of a running `resurrect start` (`apiUrl`, and `apiToken` when it made one for the run);
 *   4. the configuration's `api.host:api.port` (http://127.0.0.1:8790 by default).
 * URL and token are found separately, but the runtime file's token is only ever sent to the runtime file's URL.
 *
 * Every answer that is not a success becomes an `ApiClientError` carrying the API's code
 * (`{error: {code, message, path?, paths?}}`) and the exit code the CLI ends with (`EXIT`). The token is sent in
 * the Authorization header only: it is never printed, never part of a message, never put in a URL.
 */
import { isIP } from 'node:net';
import { createParser } from 'eventsource-parser';
import type { Config } from '../config/config';
import type { AuditRecord, ErrorCode, FailureEvent, FieldProblem, Incident, Recovery } from '../domain';
import { ERROR_CODES, ResurrectError } from '../domain';
import type { RecoveryPlan } from '../plan/plan-codec';
import { readRuntimeFile, type RuntimeInfo } from './runtime-file';

/** The exit codes of every command (main.ts's header, `--help`, docs/operator-guide.md). */
export const EXIT = {
  ok: 0,
  /** Anything else: an unexpected error, the demo did not recover, no Redis for a command that reads it. */
  failure: 1,
  /** Invalid input or configuration: a usage error, an API 400/413/414/415, a refused file. */
  invalid: 2,
  /** No such incident, recovery or route (404). */
  notFound: 3,
  /** No token, an unknown token (401), or a role too low for the request (403). */
  auth: 4,
  /** Not in this state: not retryable, a subject held by another incident, no policy file (409). */
  conflict: 5,
  /** The API or a backend is unavailable: connection refused, timeout, 429, any 5xx. */
  unavailable: 6,
} as const;

/** The exit code for an HTTP status that is not a success. */
export function exitCodeOf(status: number): number {
  if (status === 400 || status === 413 || status === 414 || status === 415 || status === 422) return EXIT.invalid;
  if (status === 404) return EXIT.notFound;
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 409) return EXIT.conflict;
  if (status === 429 || status >= 500) return EXIT.unavailable;
  return EXIT.failure;
}

/** A code of the client's own, for an API that does not answer at all (not one the server sends). */
export const UNREACHABLE = 'RSR_API_UNREACHABLE';

/** What the API refused, or that it did not answer. `apiCode` is the server's code as sent. */
export class ApiClientError extends ResurrectError {
  readonly apiCode: string;
  readonly status: number | undefined;
  readonly exitCode: number;
  readonly paths: readonly FieldProblem[];
  constructor(apiCode: string, message: string, options: { status?: number; exitCode: number; paths?: readonly FieldProblem[]; cause?: unknown }) {
    super(apiCode in ERROR_CODES ? (apiCode as ErrorCode) : 'RSR_INTERNAL', message, { retryable: options.exitCode === EXIT.unavailable, cause: options.cause });
    this.name = 'ApiClientError';
    this.apiCode = apiCode;
    this.status = options.status;
    this.exitCode = options.exitCode;
    this.paths = options.paths ?? [];
  }
}

/** The options every command takes (program-level): where the API is and the token. */
export interface ApiOptions {
  readonly url?: string;
  readonly token?: string;
}

export type EndpointSource = 'flag' | 'env' | 'runtime' | 'config';

export interface Endpoint {
  /** Base URL without a trailing slash (`http://127.0.0.1:8790`). */
  readonly url: string;
  readonly token?: string;
  /** Where the URL came from: `flag` and `env` are explicit (no fallback to Redis when it does not answer). */
  readonly source: EndpointSource;
  /** Where the token came from, if any (for the hint of a 401). */
  readonly tokenSource?: EndpointSource;
}

const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[?::1\]?)$/i;

/** A base URL as given by a person: http(s) only, no credentials in it (they would show in every message). */
export function normalizeUrl(raw: string, where: string): string {
  let parsed: URL;
  try {
    parsed = new URL(raw.trim());
  } catch {
    throw new ApiClientError('RSR_INPUT_INVALID', `${where}: not a URL: expected http://host:port`, { exitCode: EXIT.invalid, paths: [{ path: where, message: 'not a URL' }] });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ApiClientError('RSR_INPUT_INVALID', `${where}: expected an http:// or https:// URL, got ${parsed.protocol}`, { exitCode: EXIT.invalid, paths: [{ path: where, message: 'not http(s)' }] });
  }
  if (parsed.username || parsed.password) {
    throw new ApiClientError('RSR_INPUT_INVALID', `${where}: no credentials in the URL; give the token with --token or RESURRECT_TOKEN`, { exitCode: EXIT.invalid, paths: [{ path: where, message: 'credentials in the URL' }] });
  }
  if (parsed.search || parsed.hash) {
    throw new ApiClientError('RSR_INPUT_INVALID', `${where}: expected a base URL without query or fragment`, { exitCode: EXIT.invalid, paths: [{ path: where, message: 'query or fragment' }] });
  }
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
}

/** The API's address from the configuration: `api.host` as a client reaches it (a wildcard means this machine). */
export function configuredUrl(api: Pick<Config['api'], 'host' | 'port'>): string {
  const host = api.host === '0.0.0.0' || api.host === '' ? '127.0.0.1' : api.host === '::' ? '::1' : api.host;
  return `http://${isIP(host) === 6 ? `[${host}]` : host}:${api.port}`;
}

/** Where the API is and the token for it (see the header). */
export function resolveEndpoint(
  options: ApiOptions,
  env: NodeJS.ProcessEnv = process.env,
  config?: Pick<Config, 'api'>,
  runtime: RuntimeInfo | undefined = readRuntimeFile(env),
): Endpoint {
  const envUrl = env.RESURRECT_URL?.trim() ? env.RESURRECT_URL : undefined;
  const envToken = env.RESURRECT_TOKEN?.trim() ? env.RESURRECT_TOKEN.trim() : undefined;
  const runtimeUrl = runtime?.apiUrl ? normalizeUrl(runtime.apiUrl, 'runtime file apiUrl') : undefined;
  let url: string;
  let source: EndpointSource;
  if (options.url !== undefined) [url, source] = [normalizeUrl(options.url, '--url'), 'flag'];
  else if (envUrl !== undefined) [url, source] = [normalizeUrl(envUrl, 'RESURRECT_URL'), 'env'];
  else if (runtimeUrl !== undefined) [url, source] = [runtimeUrl, 'runtime'];
  else [url, source] = [configuredUrl(config?.api ?? { host: '127.0.0.1', port: 8790 }), 'config'];

  let token: string | undefined;
  let tokenSource: EndpointSource | undefined;
  if (options.token !== undefined && options.token.trim() !== '') [token, tokenSource] = [options.token.trim(), 'flag'];
  else if (envToken !== undefined) [token, tokenSource] = [envToken, 'env'];
  // The engine's token for this run goes to the engine that made it, never to another server.
  else if (runtime?.apiToken && runtimeUrl === url) [token, tokenSource] = [runtime.apiToken, 'runtime'];
  return { url, source, ...(token !== undefined ? { token, tokenSource } : {}) };
}

/** Query parameters: undefined and empty values are left out. */
export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface RequestOptions {
  readonly query?: Query;
  readonly body?: unknown;
  /** Milliseconds before the request is abandoned (exit 6); default 30 s. */
  readonly timeoutMs?: number;
}

export interface Page<T> {
  readonly items: T[];
  readonly nextCursor?: string | null;
}

export interface AuditEntry {
  readonly id: string;
  readonly record: AuditRecord;
}

export interface ChildSummary {
  readonly id: string;
  readonly status: Recovery['status'];
  readonly subject: Recovery['subject'];
  readonly state?: string;
  readonly outcome?: string;
  readonly reason?: string;
}

export interface IncidentView {
  readonly incident: Incident;
  readonly recovery: Recovery | null;
  readonly children: { readonly total: number; readonly byStatus: Record<string, number>; readonly byOutcome: Record<string, number>; readonly items: ChildSummary[] };
  readonly audit: AuditEntry[];
}

export interface RecoveryView {
  readonly recovery: Recovery;
  readonly children: Recovery[];
  readonly audit: AuditEntry[];
}

export interface ReportAnswer {
  readonly incident: Incident;
  readonly created: boolean;
}

export interface DecisionAnswer {
  readonly recoveryId: string;
  readonly decision: string;
  readonly by: string;
}

export interface CancelAnswer {
  readonly recoveryId: string;
  readonly state: 'cancelling' | 'already-requested' | 'finished';
  readonly descendants: string[];
  readonly outcome?: string;
}

export interface RetryAnswer {
  readonly recoveryId: string;
  readonly from: string | null;
  readonly status: 'queued' | 'waiting';
  readonly children: string[];
  readonly reopened: string[];
  readonly incidentReopened: boolean;
}

export interface WorkflowItem {
  readonly name: string;
  readonly description: string;
  readonly handles: string[];
  readonly source: string | null;
  readonly machine: Record<string, unknown>;
}

export interface PolicyView {
  readonly configured: boolean;
  readonly workflows: Record<string, string>;
  readonly file?: string;
  readonly version?: string;
  readonly document?: Record<string, unknown>;
}

export interface PolicyReloadAnswer {
  readonly version: string;
  readonly previous: string;
  readonly changed: boolean;
}

export interface ReleaseAnswer {
  readonly scope: string;
  readonly approved: string[];
  readonly released: string[];
  readonly wasOpen?: boolean;
}

/** One server-sent event. */
export interface SseEvent {
  readonly id?: string;
  readonly event: string;
  readonly data: string;
  /** A `retry:` field: the server's reconnection delay (ms). */
  readonly retry?: number;
}

export interface FollowOptions {
  /** Resume after this event id (`Last-Event-ID`); absent: `replay` decides. */
  readonly lastEventId?: string;
  /** Without `lastEventId`: true = the whole trail first, then live; false = only what comes from now on. */
  readonly replay?: boolean;
  /** Ends the stream (Ctrl-C). */
  readonly signal: AbortSignal;
  /** Told when a dropped connection is being re-opened (for a line on stderr). */
  readonly onReconnect?: (attempt: number, reason: string) => void;
  /** Longest wait between two reconnections (ms); default 10 s. */
  readonly maxBackoffMs?: number;
}

export interface EventsFilter {
  readonly incident?: string;
  readonly recovery?: string;
  readonly types?: readonly string[];
}

const DEFAULT_TIMEOUT_MS = 30_000;

export class ApiClient {
  readonly url: string;
  readonly #token: string | undefined;
  readonly #endpoint: Endpoint;
  readonly #fetch: typeof fetch;

  constructor(endpoint: Endpoint, options: { fetch?: typeof fetch } = {}) {
    this.url = endpoint.url;
    this.#token = endpoint.token;
    this.#endpoint = endpoint;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  get source(): EndpointSource {
    return this.#endpoint.source;
  }

  get hasToken(): boolean {
    return this.#token !== undefined;
  }

  /** Never the token: what `console.log(client)` or an error report would show. */
  toJSON(): { url: string; source: EndpointSource; token: string | undefined } {
    return { url: this.url, source: this.#endpoint.source, token: this.#token === undefined ? undefined : '[redacted]' };
  }

  /** A request; the decoded JSON body of a success, an ApiClientError otherwise. */
  async request<T>(method: 'GET' | 'POST', path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.#send(method, path, options.query, options.body, AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS), {});
    const text = await response.text();
    try {
      return (text === '' ? undefined : JSON.parse(text)) as T;
    } catch (cause) {
      throw new ApiClientError('RSR_INTERNAL', `${method} ${path}: the answer is not JSON (is ${this.url} a Resurrect API?)`, { status: response.status, exitCode: EXIT.failure, cause });
    }
  }

  /** Does anything answer /healthz within `timeoutMs`? (No token needed.) */
  async answers(timeoutMs = 1_500): Promise<boolean> {
    try {
      const response = await this.#fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
      await response.body?.cancel();
      return response.ok;
    } catch {
      return false;
    }
  }

  // The routes (docs/api.md). Each returns exactly the API's JSON.
  listIncidents(query: Query): Promise<Page<Incident>> { return this.request('GET', '/api/v1/incidents', { query }); }
  listRecoveries(query: Query): Promise<Page<Recovery>> { return this.request('GET', '/api/v1/recoveries', { query }); }
  incident(id: string): Promise<IncidentView> { return this.request('GET', `/api/v1/incidents/${encodeURIComponent(id)}`); }
  recovery(id: string): Promise<RecoveryView> { return this.request('GET', `/api/v1/recoveries/${encodeURIComponent(id)}`); }
  report(event: { kind: FailureEvent['kind']; host: string; instance?: string; source?: string; details?: Record<string, string> }): Promise<ReportAnswer> { return this.request('POST', '/api/v1/incidents', { body: event }); }
  decide(id: string, decision: 'approve' | 'deny' | 'resolve', comment?: string): Promise<DecisionAnswer> {
    return this.request('POST', `/api/v1/recoveries/${encodeURIComponent(id)}/decision`, { body: { decision, ...(comment !== undefined ? { comment } : {}) } });
  }
  cancel(id: string, reason?: string): Promise<CancelAnswer> {
    return this.request('POST', `/api/v1/recoveries/${encodeURIComponent(id)}/cancel`, { body: reason !== undefined ? { reason } : {} });
  }
  retry(id: string): Promise<RetryAnswer> { return this.request('POST', `/api/v1/recoveries/${encodeURIComponent(id)}/retry`); }
  returnHost(host: string, body: { reenable?: boolean; comment?: string }): Promise<ReportAnswer> {
    return this.request('POST', `/api/v1/hosts/${encodeURIComponent(host)}/return`, { body });
  }
  workflows(): Promise<{ items: WorkflowItem[] }> { return this.request('GET', '/api/v1/workflows'); }
  policy(): Promise<PolicyView> { return this.request('GET', '/api/v1/policy'); }
  reloadPolicy(): Promise<PolicyReloadAnswer> { return this.request('POST', '/api/v1/policy/reload'); }
  plan(body: { failedHosts: readonly string[]; kind?: string }, timeoutMs = 130_000): Promise<RecoveryPlan> { return this.request('POST', '/api/v1/plans', { body, timeoutMs }); }
  breaker(): Promise<unknown> { return this.request('GET', '/api/v1/breaker'); }
  breakerApprove(scope: string, body: { hosts?: string[] | 'all'; comment?: string }): Promise<ReleaseAnswer> {
    return this.request('POST', `/api/v1/breaker/${encodeURIComponent(scope)}/approve`, { body });
  }
  breakerClose(scope: string, body: { comment?: string }): Promise<ReleaseAnswer> {
    return this.request('POST', `/api/v1/breaker/${encodeURIComponent(scope)}/close`, { body });
  }

  /**
   * Follows `GET /api/v1/events` (server-sent events) until `signal` aborts: calls `onEvent` for each event. A
   * connection that drops (or a server that restarts) is re-opened with `Last-Event-ID` set to the last id seen,
   * so nothing is missed or repeated. The first connection's refusal is thrown (an unreachable API: exit 6); a
   * 4xx at any time is thrown; after a first success, unavailability is waited out with a growing delay.
   */
  async follow(filter: EventsFilter, options: FollowOptions, onEvent: (event: SseEvent) => void): Promise<void> {
    let last = options.lastEventId;
    // Reconnecting, Last-Event-ID says where to resume (and wins over `replay`): the query stays the same otherwise.
    const query = (): Query => ({
      incident: filter.incident,
      recovery: filter.recovery,
      types: filter.types && filter.types.length > 0 ? filter.types.join(',') : undefined,
      replay: last === undefined && options.replay ? true : undefined,
    });
    let connected = false;
    let attempt = 0;
    let serverRetry: number | undefined;
    const { signal } = options;
    while (!signal.aborted) {
      let reason: string;
      try {
        const response = await this.#send('GET', '/api/v1/events', query(), undefined, signal, {
          accept: 'text/event-stream',
          ...(last !== undefined ? { 'last-event-id': last } : {}),
        });
        connected = true;
        attempt = 0;
        for await (const event of parseSse(response.body, signal)) {
          if (event.retry !== undefined) serverRetry = event.retry;
          if (event.id !== undefined) last = event.id;
          if (event.data !== '' || event.event !== 'message') onEvent(event);
        }
        reason = 'the server closed the stream';
      } catch (err) {
        if (signal.aborted) return;
        const retryable = err instanceof ApiClientError ? err.exitCode === EXIT.unavailable : true;
        if (!connected || !retryable) throw err instanceof ApiClientError ? err : toClientError(err, this.url);
        reason = err instanceof Error ? err.message : String(err);
      }
      if (signal.aborted) return;
      attempt += 1;
      options.onReconnect?.(attempt, reason);
      const delay = Math.min(options.maxBackoffMs ?? 10_000, (serverRetry ?? 500) * 2 ** Math.min(attempt - 1, 5));
      await sleep(delay, signal);
    }
  }

  async #send(method: string, path: string, query: Query | undefined, body: unknown, signal: AbortSignal, headers: Record<string, string>): Promise<Response> {
    const target = `${this.url}${path}${queryString(query)}`;
    let response: Response;
    try {
      response = await this.#fetch(target, {
        method,
        // A redirect could carry the token elsewhere: a Resurrect API never redirects.
        redirect: 'error',
        signal,
        headers: {
          accept: 'application/json',
          ...headers,
          ...(this.#token !== undefined ? { authorization: `Bearer ${this.#token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw toClientError(err, this.url);
    }
    if (response.ok) return response;
    throw await errorOf(response, `${method} ${path}`, this.#endpoint);
  }
}

function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === '') continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

/** fetch's own failures: nothing answered (refused, unknown host, reset, timeout) → exit 6. */
function toClientError(err: unknown, url: string): ApiClientError {
  if (err instanceof ApiClientError) return err;
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return new ApiClientError(UNREACHABLE, `the API at ${url} did not answer in time`, { exitCode: EXIT.unavailable, cause: err });
  const code = e.cause?.code;
  const why = code === 'ECONNREFUSED' ? 'connection refused'
    : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'unknown host'
      : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' ? 'the connection was closed'
        : code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT' ? 'connection timed out'
          : code ?? e.cause?.message ?? e.message ?? 'no answer';
  const hint = code === 'ECONNREFUSED'
    ? ': is the engine running? (`npm start` serves the API; or `resurrect serve`; or pass --url / set RESURRECT_URL)'
    : '';
  return new ApiClientError(UNREACHABLE, `no Resurrect API answers at ${url} (${why})${hint}`, { exitCode: EXIT.unavailable, cause: err });
}

interface ErrorShape {
  readonly error?: { readonly code?: unknown; readonly message?: unknown; readonly path?: unknown; readonly paths?: unknown };
}

async function errorOf(response: Response, what: string, endpoint: Endpoint): Promise<ApiClientError> {
  const status = response.status;
  let shape: ErrorShape | undefined;
  try {
    shape = JSON.parse(await response.text()) as ErrorShape;
  } catch {
    shape = undefined;
  }
  const error = shape?.error;
  const apiCode = typeof error?.code === 'string' ? error.code : fallbackCode(status);
  let message = typeof error?.message === 'string' ? error.message : `${what}: HTTP ${status} ${response.statusText}`.trim();
  const paths: FieldProblem[] = Array.isArray(error?.paths)
    ? (error.paths as { path?: unknown; message?: unknown }[]).filter((p) => typeof p.path === 'string').map((p) => ({ path: String(p.path), message: String(p.message ?? '') }))
    : typeof error?.path === 'string' ? [{ path: error.path, message }] : [];
  if (status === 401) {
    message += endpoint.token === undefined
      ? ` — no token was sent: pass --token or set RESURRECT_TOKEN${endpoint.source === 'runtime' ? ' (the running engine has configured tokens)' : ''}`
      : ` — the token (from ${describeSource(endpoint.tokenSource)}) is not one ${endpoint.url} knows`;
  }
  if (status === 429) {
    const after = response.headers.get('retry-after');
    if (after) message += ` (retry after ${after} s)`;
  }
  return new ApiClientError(apiCode, message, { status, exitCode: exitCodeOf(status), paths });
}

function describeSource(source: EndpointSource | undefined): string {
  return source === 'flag' ? '--token' : source === 'env' ? 'RESURRECT_TOKEN' : source === 'runtime' ? 'the runtime file' : 'nowhere';
}

function fallbackCode(status: number): string {
  if (status === 400 || status === 414) return 'RSR_INPUT_INVALID';
  if (status === 401) return 'RSR_API_UNAUTHENTICATED';
  if (status === 403) return 'RSR_API_FORBIDDEN';
  if (status === 404) return 'RSR_API_NOT_FOUND';
  if (status === 409) return 'RSR_API_CONFLICT';
  if (status === 413) return 'RSR_API_BODY_TOO_LARGE';
  if (status === 415) return 'RSR_API_UNSUPPORTED_MEDIA_TYPE';
  if (status === 429) return 'RSR_API_RATE_LIMITED';
  return 'RSR_INTERNAL';
}

/**
 * Parses a text/event-stream body with eventsource-parser (the WHATWG rules: comments are heartbeats, several
 * `data:` lines join with newlines, an event not ended by a blank line is dropped). A `retry:` field is handed
 * on with the next event. Ends when the body ends or `signal` aborts.
 */
export async function* parseSse(body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | null, signal?: AbortSignal): AsyncGenerator<SseEvent> {
  if (!body) return;
  const decoder = new TextDecoder('utf-8');
  let ready: SseEvent[] = [];
  let retry: number | undefined;
  const parser = createParser({
    onEvent: (message) => {
      ready.push({ ...(message.id !== undefined ? { id: message.id } : {}), event: message.event ?? 'message', data: message.data, ...(retry !== undefined ? { retry } : {}) });
      retry = undefined;
    },
    onRetry: (ms) => { retry = ms; },
  });
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    if (signal?.aborted) return;
    parser.feed(decoder.decode(chunk, { stream: true }));
    const events = ready;
    ready = [];
    yield* events;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** True for loopback hosts: the token may travel in clear there. */
export function isLoopbackUrl(url: string): boolean {
  try {
    return LOOPBACK_HOST.test(new URL(url).hostname);
  } catch {
    return false;
  }
}
