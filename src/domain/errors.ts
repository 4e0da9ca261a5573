/**
 * One failure vocabulary for the whole engine. Decisions (retry or not, which HTTP status) are taken from
 * `code` and `retryable`, never from `instanceof` alone: an error rebuilt from a job's stored failure in
 * another process has lost its prototype but not its fields.
 */

export const ERROR_CODES = {
  RSR_INPUT_INVALID: 'input failed validation',
  RSR_CONFIG_INVALID: 'configuration failed validation',
  RSR_PLUGIN_LOAD: 'a plugin or workflow file was refused at load',
  RSR_WORKFLOW_UNKNOWN: 'no workflow registered under that name',
  RSR_STEP_UNKNOWN: 'no step registered under that name',
  RSR_STEP_TIMEOUT: 'a step did not finish within its timeout',
  RSR_DRIVER_TIMEOUT: 'a driver call did not answer in time',
  RSR_DRIVER_UNAVAILABLE: 'a driver could not reach its backend',
  RSR_CLOUD_CONFLICT: 'the cloud refused the action in the current state (retry later)',
  RSR_CLOUD_REJECTED: 'the cloud refused the action and will keep refusing it',
  RSR_CLOUD_NOT_FOUND: 'the cloud does not know that object',
  RSR_NO_CAPACITY: 'no host has room for the instance',
  RSR_IMAGE_GONE: 'the image needed to rebuild the instance no longer exists',
  RSR_FENCE_FAILED: 'every fencing level failed',
  RSR_FENCE_UNCONFIRMED: 'power-off could not be confirmed',
  RSR_NOT_FENCED: 'refused to act on an instance whose host is not confirmed fenced',
  RSR_INSTANCE_NOT_ACTIVE: 'the instance did not become ACTIVE in time',
  RSR_MIGRATION_FAILED: 'live migration failed',
  RSR_RECOVERY_BUSY: 'the recovery is being run by another job',
  RSR_RECOVERY_NOT_FOUND: 'no such recovery',
  RSR_RECOVERY_NOT_RETRYABLE: 'the recovery cannot be retried in its current state',
  RSR_RECOVERY_CANCELLED: 'an operator cancelled the recovery',
  RSR_SUBJECT_BUSY: 'another open incident holds the subject',
  RSR_NOTHING_TO_RETURN: 'the host is not forced down: there is nothing to return to service',
  RSR_INCIDENT_NOT_FOUND: 'no such incident',
  RSR_REDIS_UNAVAILABLE: 'no Redis could be found or started',
  RSR_NOTIFY_FAILED: 'a notifier could not deliver its message',
  RSR_API_NOT_FOUND: 'no such API route',
  RSR_API_UNAUTHENTICATED: 'the API request carries no valid bearer token',
  RSR_API_FORBIDDEN: "the token's role does not allow this API request",
  RSR_API_BODY_TOO_LARGE: 'the API request body is larger than the configured limit',
  RSR_API_UNSUPPORTED_MEDIA_TYPE: 'the API request body is not JSON',
  RSR_API_RATE_LIMITED: 'too many API requests for this token (or client address) in the window',
  RSR_API_CONFLICT: 'the API request conflicts with the current state or configuration',
  RSR_INTERNAL: 'an unexpected error',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorJSON {
  readonly name: string;
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
  readonly details?: Record<string, unknown>;
  readonly cause?: ErrorJSON;
}

export interface ResurrectErrorOptions {
  readonly retryable?: boolean;
  readonly details?: Record<string, unknown>;
  readonly cause?: unknown;
}

export class ResurrectError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: ResurrectErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ResurrectError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }

  toJSON(): ErrorJSON {
    return errorToJSON(this);
  }
}

/** Input that did not decode: carries every failing field path, for 4xx bodies and CLI messages. */
export class InputError extends ResurrectError {
  readonly paths: readonly { path: string; message: string }[];
  constructor(message: string, paths: readonly { path: string; message: string }[], code: ErrorCode = 'RSR_INPUT_INVALID') {
    super(code, message, { retryable: false, details: { paths } });
    this.name = 'InputError';
    this.paths = paths;
  }
}

/** A plugin or workflow file refused at load: names the file and the reason. */
export class PluginLoadError extends ResurrectError {
  readonly file: string;
  readonly reason: string;
  constructor(file: string, reason: string, cause?: unknown) {
    super('RSR_PLUGIN_LOAD', `${file}: ${reason}`, { retryable: false, details: { file, reason }, cause });
    this.name = 'PluginLoadError';
    this.file = file;
    this.reason = reason;
  }
}

export const retryable = (code: ErrorCode, message: string, options: Omit<ResurrectErrorOptions, 'retryable'> = {}) =>
  new ResurrectError(code, message, { ...options, retryable: true });

export const nonRetryable = (code: ErrorCode, message: string, options: Omit<ResurrectErrorOptions, 'retryable'> = {}) =>
  new ResurrectError(code, message, { ...options, retryable: false });

/** Anything we did not throw ourselves is treated as transient: better one retry too many than a lost VM. */
export function toResurrectError(err: unknown): ResurrectError {
  if (err instanceof ResurrectError) return err;
  if (isErrorLike(err) && typeof err.code === 'string' && err.code in ERROR_CODES) {
    const rebuilt = new ResurrectError(err.code as ErrorCode, String(err.message), {
      retryable: Boolean(err.retryable),
      details: (err.details as Record<string, unknown> | undefined) ?? {},
      cause: err.cause,
    });
    return rebuilt;
  }
  const message = isErrorLike(err) ? String(err.message) : String(err);
  return new ResurrectError('RSR_INTERNAL', message, { retryable: true, cause: err });
}

export function isRetryable(err: unknown): boolean {
  return toResurrectError(err).retryable;
}

function isErrorLike(err: unknown): err is { message: unknown; code?: unknown; retryable?: unknown; details?: unknown; cause?: unknown; name?: unknown } {
  return typeof err === 'object' && err !== null && 'message' in err;
}

/** A JSON form for audit records and job failures; walks the cause chain down to the root. */
export function errorToJSON(err: unknown, depth = 0): ErrorJSON {
  if (!isErrorLike(err)) {
    return { name: 'Error', code: 'RSR_INTERNAL', message: String(err), retryable: true };
  }
  const json: { -readonly [K in keyof ErrorJSON]: ErrorJSON[K] } = {
    name: typeof err.name === 'string' ? err.name : 'Error',
    code: typeof err.code === 'string' ? err.code : 'RSR_INTERNAL',
    message: String(err.message),
    retryable: typeof err.retryable === 'boolean' ? err.retryable : true,
  };
  if (err.details && typeof err.details === 'object' && Object.keys(err.details).length > 0) {
    json.details = err.details as Record<string, unknown>;
  }
  if (err.cause !== undefined && depth < 8) json.cause = errorToJSON(err.cause, depth + 1);
  return json;
}

export function rootCause(err: unknown): unknown {
  let current = err;
  for (let i = 0; i < 16 && isErrorLike(current) && current.cause !== undefined; i++) current = current.cause;
  return current;
}
