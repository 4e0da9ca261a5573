import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import {
  ERROR_CODES,
  errorToJSON,
  InputError,
  isRetryable,
  nonRetryable,
  PluginLoadError,
  ResurrectError,
  retryable,
  rootCause,
  toResurrectError,
} from '../../../src/domain';
import type { ErrorCode } from '../../../src/domain';

const DOC = path.resolve(__dirname, '../../../docs/reference/errors.md');
const codes = Object.keys(ERROR_CODES) as ErrorCode[];

/** The first cell of every table row that documents a code: | `RSR_X` | … */
function documentedCodes(): string[] {
  return readFileSync(DOC, 'utf8')
    .split('\n')
    .map((line) => /^\|\s*`(RSR_[A-Z_]+)`\s*\|/.exec(line)?.[1])
    .filter((code): code is string => code !== undefined);
}

test('errors.md: every code in ERROR_CODES has a row in docs/reference/errors.md', (t) => {
  const documented = new Set(documentedCodes());
  const missing = codes.filter((code) => !documented.has(code));
  t.deepEqual(missing, [], `add a row to docs/reference/errors.md for: ${missing.join(', ')}`);
});

test('errors.md: every code the doc lists (table or prose) exists in ERROR_CODES, each row once', (t) => {
  const rows = documentedCodes();
  t.true(rows.length > 0, 'the table was found');
  const duplicates = rows.filter((code, i) => rows.indexOf(code) !== i);
  t.deepEqual(duplicates, [], 'one row per code');
  const mentioned = readFileSync(DOC, 'utf8').match(/\bRSR_[A-Z_]+\b/g) ?? [];
  const unknown = [...new Set(mentioned)].filter((code) => !(code in ERROR_CODES));
  t.deepEqual(unknown, [], `the doc names codes that do not exist: ${unknown.join(', ')}`);
});

test('ERROR_CODES: codes are unique, follow RSR_[A-Z_]+ and each has a meaning', (t) => {
  t.is(new Set(codes).size, codes.length);
  for (const code of codes) {
    t.regex(code, /^RSR_[A-Z_]+$/, code);
    t.false(code.endsWith('_'), code);
    t.true(typeof ERROR_CODES[code] === 'string' && ERROR_CODES[code].length > 0, `${code} has a meaning`);
  }
  t.is(new Set(codes.map((c) => c.toLowerCase())).size, codes.length, 'no two codes differ only by case');
});

test('ResurrectError: code, flag, details, cause; retryable()/nonRetryable() set the flag', (t) => {
  const cause = new Error('socket hang up');
  const error = retryable('RSR_DRIVER_UNAVAILABLE', 'bmc unreachable', { details: { host: 'compute-3' }, cause });
  t.true(error instanceof Error);
  t.is(error.name, 'ResurrectError');
  t.is(error.code, 'RSR_DRIVER_UNAVAILABLE');
  t.true(error.retryable);
  t.deepEqual(error.details, { host: 'compute-3' });
  t.is(error.cause, cause);
  t.false(nonRetryable('RSR_FENCE_FAILED', 'no level').retryable);
  t.false(new ResurrectError('RSR_INTERNAL', 'default').retryable, 'not retryable unless said so');
  t.deepEqual(new ResurrectError('RSR_INTERNAL', 'x').details, {});
});

test('toResurrectError: keeps a ResurrectError (and its subclasses) as it is', (t) => {
  const error = nonRetryable('RSR_NOT_FENCED', 'refusing');
  t.is(toResurrectError(error), error);
  const input = new InputError('invalid event: kind: bad', [{ path: 'kind', message: 'bad' }]);
  t.is(toResurrectError(input), input);
  const load = new PluginLoadError('/x/plugin.ts', 'exports no plugin');
  t.is(toResurrectError(load), load);
  t.is(load.code, 'RSR_PLUGIN_LOAD');
  t.is(load.message, '/x/plugin.ts: exports no plugin');
});

test('toResurrectError: rebuilds an error-like object with a known code after its prototype was lost (JSON round trip)', (t) => {
  for (const original of [
    retryable('RSR_CLOUD_CONFLICT', 'instance busy', { details: { instance: 'vm-1' } }),
    nonRetryable('RSR_FENCE_UNCONFIRMED', 'still heartbeats', { details: { host: 'compute-3' } }),
  ]) {
    const travelled = JSON.parse(JSON.stringify(original)) as unknown;
    t.false(travelled instanceof ResurrectError, 'the prototype is gone');
    const rebuilt = toResurrectError(travelled);
    t.true(rebuilt instanceof ResurrectError);
    t.is(rebuilt.code, original.code);
    t.is(rebuilt.message, original.message);
    t.is(rebuilt.retryable, original.retryable, `${original.code} keeps retryable=${original.retryable}`);
    t.deepEqual(rebuilt.details, original.details);
    t.is(isRetryable(travelled), original.retryable);
  }
  // A bare object of the same shape, as bull stores a failed job's reason or another process sends it.
  const plain = { name: 'ResurrectError', code: 'RSR_NO_CAPACITY', message: 'No valid host was found', retryable: true };
  const rebuilt = toResurrectError(plain);
  t.is(rebuilt.code, 'RSR_NO_CAPACITY');
  t.true(rebuilt.retryable);
  t.false(toResurrectError({ code: 'RSR_IMAGE_GONE', message: 'gone' }).retryable, 'a missing flag is not retryable');
});

test('toResurrectError: a foreign error becomes a retryable RSR_INTERNAL that keeps the original as cause', (t) => {
  const foreign = new TypeError("Cannot read properties of undefined (reading 'host')");
  const wrapped = toResurrectError(foreign);
  t.is(wrapped.code, 'RSR_INTERNAL');
  t.true(wrapped.retryable, 'better one retry too many than a lost VM');
  t.is(wrapped.message, foreign.message);
  t.is(wrapped.cause, foreign);

  const unknownCode = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
  const fromNode = toResurrectError(unknownCode);
  t.is(fromNode.code, 'RSR_INTERNAL', 'a code outside ERROR_CODES is not trusted');
  t.is(fromNode.cause, unknownCode);

  const thrownString = toResurrectError('boom');
  t.is(thrownString.code, 'RSR_INTERNAL');
  t.is(thrownString.message, 'boom');
  t.is(thrownString.cause, 'boom');
});

test('errorToJSON: walks the cause chain, foreign causes included', (t) => {
  const root = new Error('EHOSTUNREACH');
  const middle = retryable('RSR_DRIVER_UNAVAILABLE', 'bmc-compute-3 is unreachable', { details: { device: 'bmc-compute-3' }, cause: root });
  const top = nonRetryable('RSR_FENCE_FAILED', 'could not fence compute-3', { cause: middle });
  const json = errorToJSON(top);
  t.deepEqual(json, {
    name: 'ResurrectError',
    code: 'RSR_FENCE_FAILED',
    message: 'could not fence compute-3',
    retryable: false,
    cause: {
      name: 'ResurrectError',
      code: 'RSR_DRIVER_UNAVAILABLE',
      message: 'bmc-compute-3 is unreachable',
      retryable: true,
      details: { device: 'bmc-compute-3' },
      cause: { name: 'Error', code: 'RSR_INTERNAL', message: 'EHOSTUNREACH', retryable: true },
    },
  });
  t.false('details' in json, 'empty details are left out');
  t.deepEqual(top.toJSON(), json, 'JSON.stringify uses the same form');
  t.deepEqual(errorToJSON('plain'), { name: 'Error', code: 'RSR_INTERNAL', message: 'plain', retryable: true });
});

test('errorToJSON: a cyclic cause chain is cut off instead of recursing forever', (t) => {
  const a = new Error('a') as Error & { cause?: unknown };
  const b = new Error('b', { cause: a });
  a.cause = b;
  let depth = 0;
  for (let node: { cause?: unknown } | undefined = errorToJSON(a); node; node = node.cause as { cause?: unknown } | undefined) depth++;
  t.true(depth > 1 && depth <= 10, `depth ${depth}`);
});

test('rootCause: the innermost cause, or the error itself', (t) => {
  const root = new Error('disk full');
  const chain = nonRetryable('RSR_INTERNAL', 'persist failed', { cause: retryable('RSR_DRIVER_UNAVAILABLE', 'redis', { cause: root }) });
  t.is(rootCause(chain), root);
  const alone = new Error('alone');
  t.is(rootCause(alone), alone);
  t.is(rootCause('text'), 'text');
  t.is(rootCause(undefined), undefined);
});
