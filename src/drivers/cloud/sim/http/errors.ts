import { toResurrectError, type ResurrectError } from '../../../../domain';

/*
 * How failures look on the wire. The sim throws ResurrectErrors carrying Nova's status in
 * `details.httpStatus` where Nova's answer is not implied by the code (400 "still in use" vs 409); the HTTP
 * layer raises HttpFault for what only it checks (schemas, microversions, routing).
 */

/** An HTTP error raised by the HTTP layer itself, with the status and message the real service gives. */
export class HttpFault extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpFault';
  }
}

/** Nova's fault names by status (nova/api/openstack/wsgi.py); anything else is a computeFault. */
const NOVA_FAULT_NAMES: Readonly<Record<number, string>> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
};

export function novaFaultBody(status: number, message: string): Record<string, { code: number; message: string }> {
  return { [NOVA_FAULT_NAMES[status] ?? 'computeFault']: { code: status, message } };
}

/** Keystone's (and keystonemiddleware's) error body. */
export function keystoneErrorBody(status: number, message: string, title: string): { error: { code: number; message: string; title: string } } {
  return { error: { code: status, message, title } };
}

export const UNAUTHORIZED_MESSAGE = 'The request you have made requires authentication.';

/** The HTTP status Nova answers for a sim error: `details.httpStatus` when the sim says, else by code. */
export function httpStatusOf(error: ResurrectError): number {
  const given = error.details.httpStatus;
  if (typeof given === 'number' && given >= 400 && given <= 599) return given;
  switch (error.code) {
    case 'RSR_CLOUD_NOT_FOUND':
      return 404;
    case 'RSR_CLOUD_CONFLICT':
      return 409;
    case 'RSR_CLOUD_REJECTED':
    case 'RSR_INPUT_INVALID':
    // Only live migration refuses at once for lack of room (an evacuation is accepted and fails in the
    // conductor, as in Nova); Nova's synchronous answer for it is 400 "No valid host was found."
    case 'RSR_NO_CAPACITY':
      return 400;
    case 'RSR_DRIVER_UNAVAILABLE':
      return 503;
    case 'RSR_DRIVER_TIMEOUT':
      return 504;
    default:
      return 500;
  }
}

/** Status and message for any error thrown while serving a Nova or Glance call. */
export function describeFailure(error: unknown): { status: number; message: string; headers: Readonly<Record<string, string>> } {
  if (error instanceof HttpFault) return { status: error.status, message: error.message, headers: error.headers };
  const fastifyStatus = fastifyClientError(error);
  if (fastifyStatus) return fastifyStatus;
  const e = toResurrectError(error);
  const status = httpStatusOf(e);
  if (e.code === 'RSR_NO_CAPACITY') return { status, message: `No valid host was found. ${e.message}`, headers: {} };
  if (status === 500) {
    return { status, message: `Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.\n${e.message}`, headers: {} };
  }
  return { status, message: e.message, headers: {} };
}

/** Fastify's own 4xx (bad JSON, body too large, bad media type). */
function fastifyClientError(error: unknown): { status: number; message: string; headers: Readonly<Record<string, string>> } | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof e.code !== 'string' || !e.code.startsWith('FST_') || typeof e.statusCode !== 'number' || e.statusCode >= 500) return undefined;
  return { status: e.statusCode, message: typeof e.message === 'string' ? e.message : 'Bad request', headers: {} };
}
