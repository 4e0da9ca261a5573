import type { Logger } from 'pino';
import { InputError, redact, retryable } from '../../domain';
import type { CallOptions } from '../cloud/port';
import type { Notification, Notifier } from './port';

export interface WebhookNotifierOptions {
  readonly url: string;
  /** Sent with every request (e.g. Authorization). Values are never logged nor put in errors. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Whole-request budget. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Default `webhook:<origin>`. */
  readonly name?: string;
  readonly log?: Logger;
}

/** The JSON body posted for each notification. */
export interface WebhookPayload {
  readonly severity: Notification['severity'];
  readonly topic: string;
  readonly summary: string;
  readonly incidentId?: string;
  readonly recoveryId?: string;
  readonly details?: Record<string, unknown>;
  readonly sentAt: string;
}

/**
 * POSTs each notification as JSON. Any answer but 2xx, a transport error or the timeout is a retryable
 * RSR_NOTIFY_FAILED. Only the URL's origin ever appears in messages and logs: webhook URLs (Slack, Teams)
 * carry their secret in the path, and headers carry tokens.
 */
export class WebhookNotifier implements Notifier {
  readonly name: string;
  private readonly url: URL;
  private readonly origin: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: WebhookNotifierOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new InputError('webhook url is not a valid URL', [{ path: 'url', message: 'not a valid URL' }], 'RSR_CONFIG_INVALID');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new InputError(`webhook url must be http(s), got ${url.protocol}`, [{ path: 'url', message: 'must be http or https' }], 'RSR_CONFIG_INVALID');
    }
    this.url = url;
    this.origin = url.origin;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.name = options.name ?? `webhook:${this.origin}`;
  }

  async notify(notification: Notification, options?: CallOptions): Promise<void> {
    const caller = options?.signal;
    if (caller?.aborted) throw caller.reason;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = caller ? AbortSignal.any([caller, timeout]) : timeout;
    const body = JSON.stringify(payload(notification));
    this.options.log?.debug({ notifier: this.name, topic: notification.topic, headers: Object.keys(this.options.headers ?? {}) }, 'posting notification');
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'resurrect-notifier', ...this.options.headers },
        body,
        signal,
      });
    } catch (error) {
      if (caller?.aborted) throw caller.reason;
      if (timeout.aborted) {
        throw retryable('RSR_NOTIFY_FAILED', `${this.name} did not answer within ${this.timeoutMs} ms`, {
          details: { notifier: this.name, target: this.origin, timeoutMs: this.timeoutMs, reason: 'timeout' },
        });
      }
      throw retryable('RSR_NOTIFY_FAILED', `${this.name} could not be reached: ${causeOf(error)}`, {
        details: { notifier: this.name, target: this.origin, reason: 'transport' },
      });
    }
    // Free the connection whatever the answer; the body is of no use to us.
    await response.body?.cancel().catch(() => undefined);
    if (!response.ok) {
      throw retryable('RSR_NOTIFY_FAILED', `${this.name} answered ${response.status} ${response.statusText}`.trim(), {
        details: { notifier: this.name, target: this.origin, status: response.status },
      });
    }
  }
}

function payload(n: Notification): WebhookPayload {
  return {
    severity: n.severity,
    topic: n.topic,
    summary: n.summary,
    ...(n.incidentId ? { incidentId: n.incidentId } : {}),
    ...(n.recoveryId ? { recoveryId: n.recoveryId } : {}),
    ...(n.details ? { details: redact(n.details) } : {}),
    sentAt: new Date().toISOString(),
  };
}

/** fetch wraps socket errors in a TypeError("fetch failed"); the useful part is the cause's code. */
function causeOf(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  return error instanceof Error ? error.message : String(error);
}
