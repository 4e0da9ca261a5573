/**
 * One HTTP exchange with an OpenStack service, and what its failures mean. Transport only: no tokens are
 * chosen here (the session adds the header) and no header value ever reaches a message, a detail or a log.
 *
 * - Every attempt has its own timeout, combined with the caller's signal (`AbortSignal.any`). The caller's
 *   abort rejects with the caller's reason, untouched; our timeout is a retryable RSR_DRIVER_TIMEOUT.
 * - Bounded retries with exponential backoff, only for requests marked `idempotent` (GETs, PUTs that set a
 *   state, token requests), and only on 502/503/504 or when the connection failed. A POST that starts work
 *   (evacuate, live migration, start/stop/reboot) is sent once: a second one could act twice.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { nonRetryable, retryable, type Clock, type IsoTime, type ResurrectError } from '../../../domain';

export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE';

export interface HttpSettings {
  /** Per attempt. */
  readonly timeoutMs: number;
  /** Extra attempts for idempotent requests. */
  readonly retries: number;
  /** First backoff; doubles per attempt (with jitter), capped at 5 s. */
  readonly retryBaseMs: number;
  readonly clock: Clock;
  readonly log?: Logger;
}

export interface HttpRequest {
  /** Catalog type of the service (`identity`, `compute`, `image`): for messages and logs. */
  readonly service: string;
  readonly method: HttpMethod;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  readonly idempotent: boolean;
  readonly signal?: AbortSignal;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  /** Parsed JSON, else the text (undefined when empty). */
  readonly body: unknown;
  /** `X-OpenStack-Request-Id` (or Nova's older `X-Compute-Request-Id`) of the answer. */
  readonly requestId?: string;
  /** The `X-OpenStack-Request-ID` we sent (Nova logs it as the global request id). */
  readonly globalRequestId: string;
}

const RETRY_STATUSES = new Set([502, 503, 504]);
const MAX_BACKOFF_MS = 5000;

/** Path and query of a URL: what messages and logs show of a request (never its origin's userinfo). */
export function pathOf(url: string): string {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
}

/** Sends `request`, retrying where that is safe. Returns every HTTP answer, error statuses included. */
export async function send(request: HttpRequest, settings: HttpSettings): Promise<HttpAnswer> {
  const globalRequestId = `req-${randomUUID()}`;
  for (let attempt = 0; ; attempt++) {
    const canRetry = request.idempotent && attempt < settings.retries;
    try {
      const answer = await sendOnce(request, settings, globalRequestId);
      if (canRetry && RETRY_STATUSES.has(answer.status)) {
        await backoff(request, settings, attempt, `${answer.status}`, answer.headers.get('retry-after'));
        continue;
      }
      return answer;
    } catch (error) {
      const transport = (error as Partial<ResurrectError>).code === 'RSR_DRIVER_UNAVAILABLE';
      if (canRetry && transport) {
        await backoff(request, settings, attempt, String((error as ResurrectError).details.reason), null);
        continue;
      }
      throw error;
    }
  }
}

async function backoff(request: HttpRequest, settings: HttpSettings, attempt: number, why: string, retryAfter: string | null): Promise<void> {
  const exponential = Math.min(MAX_BACKOFF_MS, settings.retryBaseMs * 2 ** attempt);
  let delay = Math.round(exponential * (0.5 + Math.random() / 2));
  const asked = retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : 0;
  if (asked > delay) delay = Math.min(asked, MAX_BACKOFF_MS);
  settings.log?.warn({ service: request.service, method: request.method, path: pathOf(request.url), why, attempt: attempt + 1, delayMs: delay }, `${request.service} ${request.method} ${pathOf(request.url)} failed (${why}); retrying`);
  await settings.clock.sleep(delay, request.signal);
}

async function sendOnce(request: HttpRequest, settings: HttpSettings, globalRequestId: string): Promise<HttpAnswer> {
  const caller = request.signal;
  if (caller?.aborted) throw caller.reason;
  const timeout = AbortSignal.timeout(settings.timeoutMs);
  const signal = caller ? AbortSignal.any([caller, timeout]) : timeout;
  const path = pathOf(request.url);
  const started = Date.now();
  const headers: Record<string, string> = {
    accept: 'application/json',
    'user-agent': 'resurrect-openstack-driver',
    'x-openstack-request-id': globalRequestId,
    ...request.headers,
  };
  if (request.body !== undefined) headers['content-type'] = 'application/json';
  try {
    const response = await fetch(request.url, {
      method: request.method,
      headers,
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      signal,
      redirect: 'manual',
    });
    const text = await response.text();
    const requestId = response.headers.get('x-openstack-request-id') ?? response.headers.get('x-compute-request-id') ?? undefined;
    settings.log?.debug(
      { service: request.service, method: request.method, path, status: response.status, requestId, globalRequestId, ms: Date.now() - started },
      `${request.service} ${request.method} ${path} → ${response.status}`,
    );
    return { status: response.status, headers: response.headers, body: parseBody(text, response.headers.get('content-type')), globalRequestId, ...(requestId ? { requestId } : {}) };
  } catch (error) {
    if (caller?.aborted) throw caller.reason;
    const details = { service: request.service, method: request.method, path, globalRequestId };
    if (timeout.aborted) {
      throw retryable('RSR_DRIVER_TIMEOUT', `${request.service} did not answer ${request.method} ${path} within ${settings.timeoutMs} ms`, {
        details: { ...details, timeoutMs: settings.timeoutMs },
      });
    }
    const reason = transportReason(error);
    throw retryable('RSR_DRIVER_UNAVAILABLE', `${request.service} could not be reached for ${request.method} ${path} (${reason})`, {
      details: { ...details, reason },
    });
  }
}

const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * An HTTP `Date` header (RFC 9110's IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`, what every server sends) as
 * an ISO time; undefined when missing or not exactly that (the obsolete formats, a garbled or impossible date:
 * its weekday must match). Whole seconds: servers truncate, so it is never later than the moment it names.
 */
export function httpDate(header: string | null | undefined): IsoTime | undefined {
  const text = header?.trim();
  if (!text || !IMF_FIXDATE.test(text)) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms) || new Date(ms).toUTCString() !== text) return undefined;
  return new Date(ms).toISOString() as IsoTime;
}

function parseBody(text: string, contentType: string | null): unknown {
  if (text === '') return undefined;
  if ((contentType ?? '').includes('json') || /^\s*[{[]/.test(text)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

function transportReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

// ---- errors ------------------------------------------------------------------------------------------

/**
 * The `message` of an OpenStack error body: Nova's `{"<faultName>": {"code", "message"}}`, Keystone's
 * `{"error": {"code", "message", "title"}}`, or the text of an HTML/plain answer (Glance, proxies), cut short.
 */
export function faultMessage(body: unknown): string | undefined {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const record = body as Record<string, unknown>;
    if (typeof record.message === 'string') return record.message;
    for (const value of Object.values(record)) {
      if (value && typeof value === 'object' && typeof (value as { message?: unknown }).message === 'string') return (value as { message: string }).message;
    }
    return undefined;
  }
  if (typeof body === 'string') {
    const text = body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
    return text === '' ? undefined : text.length > 300 ? `${text.slice(0, 297)}...` : text;
  }
  return undefined;
}

/** Nova's 400 for an evacuation from a host it still sees up: not a refusal for good, a "not yet". */
const STILL_IN_USE = /is still in use/i;
/** Nova's 400 for lifting forced_down while evacuations from the host are not cleaned up (Xena+). */
const FORCE_UP_BLOCKED = /Unable to force up host|evacuation migration records remain/i;
const NO_VALID_HOST = /No valid host was found/i;

/** An HTTP error answer as a typed error: message = the service's fault message; the rest in details. */
export function httpError(request: HttpRequest, answer: HttpAnswer): ResurrectError {
  const path = pathOf(request.url);
  const fault = faultMessage(answer.body);
  const message = fault ?? `${request.service} answered ${answer.status} to ${request.method} ${path}`;
  const details: Record<string, unknown> = {
    service: request.service,
    httpStatus: answer.status,
    method: request.method,
    path,
    ...(answer.requestId ? { requestId: answer.requestId } : {}),
    ...(fault ? { fault } : {}),
  };
  const s = answer.status;
  if (s >= 400 && s < 500 && fault && NO_VALID_HOST.test(fault)) return retryable('RSR_NO_CAPACITY', message, { details });
  if (s === 400 && fault && (STILL_IN_USE.test(fault) || FORCE_UP_BLOCKED.test(fault))) return retryable('RSR_CLOUD_CONFLICT', message, { details });
  if (s === 404) return nonRetryable('RSR_CLOUD_NOT_FOUND', message, { details });
  if (s === 409) return retryable('RSR_CLOUD_CONFLICT', message, { details });
  if (s === 408 || s === 413 || s === 429 || s >= 500) return retryable('RSR_DRIVER_UNAVAILABLE', message, { details });
  return nonRetryable('RSR_CLOUD_REJECTED', message, { details });
}
