import test from 'ava';
import pino from 'pino';
import { ApiError, statusOf, toHttpError } from '../../../src/api/http-errors';
import type { ErrorCode } from '../../../src/domain';
import { ERROR_CODES, InputError, nonRetryable } from '../../../src/domain';

const silent = pino({ level: 'silent' });

test('every error code has an HTTP status; input 400, not found 404, conflicts 409, backends 503', (t) => {
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) t.true(statusOf(code) >= 400 && statusOf(code) < 600, code);
  t.is(statusOf('RSR_INPUT_INVALID'), 400);
  t.is(statusOf('RSR_CONFIG_INVALID'), 400);
  t.is(statusOf('RSR_INCIDENT_NOT_FOUND'), 404);
  t.is(statusOf('RSR_API_NOT_FOUND'), 404);
  t.is(statusOf('RSR_API_UNAUTHENTICATED'), 401);
  t.is(statusOf('RSR_API_FORBIDDEN'), 403);
  t.is(statusOf('RSR_API_BODY_TOO_LARGE'), 413);
  t.is(statusOf('RSR_API_UNSUPPORTED_MEDIA_TYPE'), 415);
  t.is(statusOf('RSR_API_RATE_LIMITED'), 429);
  t.is(statusOf('RSR_API_CONFLICT'), 409);
  t.is(statusOf('RSR_REDIS_UNAVAILABLE'), 503);
  t.is(statusOf('RSR_FENCE_FAILED'), 500);
});

test('toHttpError: client errors keep their message and paths; server errors say only the code and the request id', (t) => {
  const input = toHttpError(new InputError('invalid body: body.a: bad; body.b: bad', [{ path: 'body.a', message: 'bad' }, { path: 'body.b', message: 'bad' }]), silent, 'req-1');
  t.is(input.status, 400);
  t.deepEqual(input.body.error, { code: 'RSR_INPUT_INVALID', message: 'invalid body: body.a: bad; body.b: bad', path: 'body.a', paths: [{ path: 'body.a', message: 'bad' }, { path: 'body.b', message: 'bad' }] });
  const internal = toHttpError(nonRetryable('RSR_FENCE_FAILED', 'bmc 10.0.0.5 refused user admin'), silent, 'req-7');
  t.is(internal.status, 500);
  t.false(internal.body.error.message.includes('10.0.0.5'), 'the detail stays in the log');
  t.regex(internal.body.error.message, /request req-7/);
  const foreign = toHttpError(new TypeError('x is undefined'), silent, 'req-8');
  t.deepEqual(foreign.body.error.code, 'RSR_INTERNAL');
  t.false(foreign.body.error.message.includes('undefined'));
  const api = toHttpError(new ApiError(401, 'RSR_API_UNAUTHENTICATED', 'no token', { headers: { 'www-authenticate': 'Bearer' } }), silent, 'req-9');
  t.deepEqual(api.headers, { 'www-authenticate': 'Bearer' });
  t.is(toHttpError({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }, silent, 'r').body.error.code, 'RSR_API_BODY_TOO_LARGE');
  t.is(toHttpError({ statusCode: 400, message: 'Unexpected token' }, silent, 'r').status, 400);
});
