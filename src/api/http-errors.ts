/**
 * One error shape for every answer that is not a success, whoever raised it (a codec, the auth hook, fastify's
 * body parser, the rate limiter, the engine):
 *
 *   {"error": {"code": "RSR_INPUT_INVALID", "message": "...", "path": "body.kind", "paths": [...]}}
 *
 * The HTTP status follows the code (`statusOf`). Anything unexpected is a 500 with a generic message and the
 * request id; its detail goes to the log only, never to the client.
 */
import * as t from 'io-ts';
import type { Logger } from 'pino';
import type { ErrorCode, FieldProblem } from '../domain';
import { ERROR_CODES, InputError, ResurrectError } from '../domain';

export const ErrorBodyCodec = t.type({
  error: t.intersection([
    t.type({ code: t.string, message: t.string }),
    t.partial({
      /** The first failing field: `body.kind`, `params.id`, `query.limit`. */
      path: t.string,
      /** Every failing field with its reason when there are several (the first 50). */
      paths: t.array(t.type({ path: t.string, message: t.string })),
    }),
  ]),
}, 'Error');
export type ErrorBody = t.TypeOf<typeof ErrorBodyCodec>;

/** An error the API raises itself, with its HTTP status. */
export class ApiError extends ResurrectError {
  readonly status: number;
  readonly paths: readonly FieldProblem[];
  /** Extra response headers (`WWW-Authenticate`, `Retry-After`). */
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, code: ErrorCode, message: string, options: { paths?: readonly FieldProblem[]; headers?: Record<string, string> } = {}) {
    super(code, message, { retryable: false });
    this.name = 'ApiError';
    this.status = status;
    this.paths = options.paths ?? [];
    this.headers = options.headers ?? {};
  }
}

/** Codes that say "not in this state": strings, so a code added or renamed elsewhere does not break the build. */
const CONFLICTS: ReadonlySet<string> = new Set([
  'RSR_API_CONFLICT', 'RSR_RECOVERY_BUSY', 'RSR_CLOUD_CONFLICT', 'RSR_WORKFLOW_UNKNOWN', 'RSR_RECOVERY_NOT_RETRYABLE', 'RSR_RECOVERY_CANCELLED', 'RSR_SUBJECT_BUSY',
  'RSR_NOTHING_TO_RETURN',
]);
const UNAVAILABLE: ReadonlySet<string> = new Set(['RSR_DRIVER_UNAVAILABLE', 'RSR_DRIVER_TIMEOUT', 'RSR_REDIS_UNAVAILABLE']);
const API_STATUS: Partial<Record<ErrorCode, number>> = {
  RSR_API_NOT_FOUND: 404,
  RSR_API_UNAUTHENTICATED: 401,
  RSR_API_FORBIDDEN: 403,
  RSR_API_BODY_TOO_LARGE: 413,
  RSR_API_UNSUPPORTED_MEDIA_TYPE: 415,
  RSR_API_RATE_LIMITED: 429,
};

/** The HTTP status of an error code: input 400, not found 404, conflict 409, backend down 503, else 500. */
export function statusOf(code: ErrorCode): number {
  const api = API_STATUS[code];
  if (api !== undefined) return api;
  if (code === 'RSR_INPUT_INVALID' || code === 'RSR_CONFIG_INVALID') return 400;
  if (code.endsWith('_NOT_FOUND')) return 404;
  if (CONFLICTS.has(code)) return 409;
  if (UNAVAILABLE.has(code)) return 503;
  return 500;
}

/**
 * Moves the field paths of an InputError raised below the API to where the client sent them (`scope` →
 * `params.scope`, `failedHosts[1]` → `body.failedHosts[1]`); other errors pass through.
 */
export function relocate(err: unknown, where: (path: string) => string): unknown {
  if (!(err instanceof InputError)) return err;
  return new InputError(err.message, err.paths.map((p) => ({ ...p, path: where(p.path) })), err.code);
}

/** fastify's own errors (body parser, content type, limits) that are the client's doing. */
interface FastifyLikeError {
  readonly code?: string;
  readonly statusCode?: number;
  readonly message?: string;
}

const FASTIFY_CODES: Readonly<Record<string, { status: number; code: ErrorCode; message: string }>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'RSR_API_BODY_TOO_LARGE', message: 'request body is larger than the limit' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'RSR_API_UNSUPPORTED_MEDIA_TYPE', message: 'request body must be application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'RSR_INPUT_INVALID', message: 'Content-Length does not match the body' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'RSR_INPUT_INVALID', message: 'request body is empty' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'RSR_INPUT_INVALID', message: 'request body is not valid JSON' },
  FST_ERR_CTP_INVALID_TYPE: { status: 415, code: 'RSR_API_UNSUPPORTED_MEDIA_TYPE', message: 'request Content-Type is not valid' },
  FST_ERR_BAD_URL: { status: 400, code: 'RSR_INPUT_INVALID', message: 'the URL is not valid (bad percent-encoding)' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, code: 'RSR_INPUT_INVALID', message: 'a path parameter is too long' },
};

/** An answer lists at most this many failing fields (a list of 10,000 bad hosts needs not be echoed whole). */
export const MAX_PATHS = 50;

export interface HttpError {
  readonly status: number;
  readonly body: ErrorBody;
  readonly headers: Readonly<Record<string, string>>;
}

function shape(status: number, code: string, message: string, paths: readonly FieldProblem[] = [], headers: Readonly<Record<string, string>> = {}): HttpError {
  const first = paths[0];
  return {
    status,
    headers,
    body: {
      error: {
        code,
        message,
        ...(first ? { path: first.path } : {}),
        ...(paths.length > 1 ? { paths: paths.slice(0, MAX_PATHS).map((p) => ({ path: p.path, message: p.message })) } : {}),
      },
    },
  };
}

/**
 * The answer for any error. Client errors keep their message (it describes the client's own input); server
 * errors get a generic one naming the request id, and the error itself is logged.
 */
export function toHttpError(err: unknown, log: Logger, requestId: string): HttpError {
  if (err instanceof ApiError) return shape(err.status, err.code, err.message, err.paths, err.headers);
  if (err instanceof ResurrectError) {
    const status = statusOf(err.code);
    if (status < 500) return shape(status, err.code, err.message, err instanceof InputError ? err.paths : []);
    log.error({ err, code: err.code }, `request ${requestId} failed: ${err.code}: ${err.message}`);
    return shape(status, err.code, `${ERROR_CODES[err.code]} (request ${requestId}; the server log has the detail)`);
  }
  const e = (err ?? {}) as FastifyLikeError;
  const known = e.code ? FASTIFY_CODES[e.code] : undefined;
  if (known) return shape(known.status, known.code, known.message);
  // A JSON syntax error (or proto poisoning) from the body parser, or any other 4xx fastify raises.
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const code: ErrorCode = e.statusCode === 404 ? 'RSR_API_NOT_FOUND' : e.statusCode === 413 ? 'RSR_API_BODY_TOO_LARGE' : e.statusCode === 415 ? 'RSR_API_UNSUPPORTED_MEDIA_TYPE' : 'RSR_INPUT_INVALID';
    return shape(e.statusCode, code, e.statusCode === 400 ? 'request is not valid (malformed body, header or URL)' : ERROR_CODES[code]);
  }
  log.error({ err }, `request ${requestId} failed: ${e.message ?? String(err)}`);
  return shape(500, 'RSR_INTERNAL', `an unexpected error (request ${requestId}; the server log has the detail)`);
}
