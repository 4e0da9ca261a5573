import test from 'ava';
import * as t from 'io-ts';
import { decodeInput, strayKeys } from '../../../src/api/decode-input';
import { FailureEvent, InputError } from '../../../src/domain';

const Body = t.intersection([t.type({ a: t.string, nested: t.type({ b: t.number }) }), t.partial({ list: t.array(t.type({ c: t.string })), map: t.record(t.string, t.string) })]);

test('unknown keys are reported at every depth of the codec, never inside free-form maps', (t_) => {
  const value = { a: 'x', nested: { b: 1, bb: 2 }, list: [{ c: 'y', cc: 3 }], map: { anything: 'goes' }, extra: true };
  t_.deepEqual(strayKeys(Body, value, '').sort(), ['extra', 'list[0].cc', 'nested.bb']);
  t_.deepEqual(strayKeys(FailureEvent, { kind: 'host-down', host: 'h', details: { any: 'key' } }, ''), []);
  t_.deepEqual(strayKeys(FailureEvent, { kind: 'host-down', host: 'h', constructor: 1, toString: 'x' }, ''), ['constructor', 'toString'], 'inherited names are unknown keys too');
});

test('decodeInput: every problem with its location; the first in the order io-ts reports', (t_) => {
  const error = t_.throws(() => decodeInput('body', Body, { a: 1, nested: {}, junk: 0 }), { instanceOf: InputError })!;
  t_.deepEqual(error.paths.map((p) => p.path), ['body.a', 'body.nested.b', 'body.junk']);
  t_.regex(error.message, /^invalid body: body\.a: expected string, got 1; /);
  const root = t_.throws(() => decodeInput('body', Body, 'text'), { instanceOf: InputError })!;
  t_.is(root.paths[0]!.path, 'body');
});

test('decodeInput: no body reads as {}, so missing fields are named', (t_) => {
  const error = t_.throws(() => decodeInput('body', Body, undefined), { instanceOf: InputError })!;
  t_.is(error.paths[0]!.path, 'body.a');
  t_.deepEqual(decodeInput('body', t.partial({ comment: t.string }), undefined), {});
});

test('decodeInput: a route without a codec for a part refuses anything sent in it', (t_) => {
  t_.is(decodeInput('query', undefined, {}), undefined);
  t_.is(decodeInput('body', undefined, undefined), undefined);
  const error = t_.throws(() => decodeInput('query', undefined, { verbose: '1' }), { instanceOf: InputError })!;
  t_.is(error.paths[0]!.path, 'query.verbose');
  t_.is(t_.throws(() => decodeInput('body', undefined, [1]), { instanceOf: InputError })!.paths[0]!.path, 'body');
});
