import test from 'ava';
import * as t from 'io-ts';
import { toJsonSchema, withJsonSchema } from '../../../src/api/json-schema';
import { FailureEvent, HostName } from '../../../src/domain';

test('string, number, boolean, null, unknown', (t_) => {
  t_.deepEqual(toJsonSchema(t.string), { type: 'string' });
  t_.deepEqual(toJsonSchema(t.number), { type: 'number' });
  t_.deepEqual(toJsonSchema(t.boolean), { type: 'boolean' });
  t_.deepEqual(toJsonSchema(t.null), { type: 'null' });
  t_.deepEqual(toJsonSchema(t.unknown), {});
});

test('literal → a one-value enum of its type', (t_) => {
  t_.deepEqual(toJsonSchema(t.literal('all')), { type: 'string', enum: ['all'] });
  t_.deepEqual(toJsonSchema(t.literal(1)), { type: 'number', enum: [1] });
});

test('keyof → a string enum, named when the codec is', (t_) => {
  t_.deepEqual(toJsonSchema(t.keyof({ a: null, b: null }, 'Letter')), { type: 'string', enum: ['a', 'b'], description: 'Letter' });
  t_.deepEqual(toJsonSchema(t.keyof({ a: null })), { type: 'string', enum: ['a'] }, 'io-ts made-up names are not descriptions');
});

test('union → anyOf; a union of literals → one enum', (t_) => {
  t_.deepEqual(toJsonSchema(t.union([t.string, t.null])), { anyOf: [{ type: 'string' }, { type: 'null' }] });
  t_.deepEqual(toJsonSchema(t.union([t.literal('a'), t.literal('b')])), { type: 'string', enum: ['a', 'b'] });
  t_.deepEqual(toJsonSchema(t.union([t.literal('a'), t.literal(1)])), { enum: ['a', 1] });
});

test('type (interface) → object with every key required; partial → none required', (t_) => {
  t_.deepEqual(toJsonSchema(t.type({ a: t.string, b: t.number })), { type: 'object', properties: { a: { type: 'string' }, b: { type: 'number' } }, required: ['a', 'b'] });
  t_.deepEqual(toJsonSchema(t.partial({ a: t.string })), { type: 'object', properties: { a: { type: 'string' } } });
});

test('intersection of objects → one merged object; of anything else → allOf', (t_) => {
  t_.deepEqual(toJsonSchema(t.intersection([t.type({ a: t.string }), t.partial({ b: t.boolean })])), {
    type: 'object', properties: { a: { type: 'string' }, b: { type: 'boolean' } }, required: ['a'],
  });
  t_.deepEqual(toJsonSchema(t.intersection([t.type({ a: t.string }), t.record(t.string, t.number)])), {
    allOf: [{ type: 'object', properties: { a: { type: 'string' } }, required: ['a'] }, { type: 'object', additionalProperties: { type: 'number' } }],
  });
});

test('exact and strict → additionalProperties: false', (t_) => {
  const closed = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false };
  t_.deepEqual(toJsonSchema(t.exact(t.type({ a: t.string }))), closed);
  t_.deepEqual(toJsonSchema(t.strict({ a: t.string })), closed);
});

test('array and readonlyArray → items; UnknownArray → array', (t_) => {
  t_.deepEqual(toJsonSchema(t.array(t.string)), { type: 'array', items: { type: 'string' } });
  t_.deepEqual(toJsonSchema(t.readonlyArray(t.number)), { type: 'array', items: { type: 'number' } });
  t_.deepEqual(toJsonSchema(t.UnknownArray), { type: 'array' });
});

test('record / dictionary → additionalProperties; over finite keys → every key; UnknownRecord → object', (t_) => {
  t_.deepEqual(toJsonSchema(t.record(t.string, t.string)), { type: 'object', additionalProperties: { type: 'string' } });
  t_.deepEqual(toJsonSchema(t.record(t.string, t.unknown)), { type: 'object' });
  t_.deepEqual(toJsonSchema(t.record(t.keyof({ x: null, y: null }), t.number)), {
    type: 'object', properties: { x: { type: 'number' }, y: { type: 'number' } }, required: ['x', 'y'], additionalProperties: false,
  });
  t_.deepEqual(toJsonSchema(t.UnknownRecord), { type: 'object' });
});

test('refinement and brand → the base type, the name as description; Int → integer', (t_) => {
  t_.deepEqual(toJsonSchema(t.refinement(t.string, (s) => s.length > 0, 'NonEmpty')), { type: 'string', description: 'NonEmpty' });
  t_.deepEqual(toJsonSchema(HostName), { type: 'string', description: 'HostName' });
  t_.deepEqual(toJsonSchema(t.Int), { type: 'integer', description: 'Int' });
});

test('readonly → the inner type; tuple → a fixed-length array', (t_) => {
  t_.deepEqual(toJsonSchema(t.readonly(t.type({ a: t.string }))), { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] });
  t_.deepEqual(toJsonSchema(t.tuple([t.string, t.number])), { type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'number' }] }, minItems: 2, maxItems: 2 });
});

test('a hand-written t.Type is described by name, or by the schema attached to it', (t_) => {
  const custom = new t.Type<string, string, unknown>('Custom', (u): u is string => typeof u === 'string', (u, c) => (typeof u === 'string' ? t.success(u) : t.failure(u, c)), t.identity);
  t_.deepEqual(toJsonSchema(custom), { description: 'Custom' });
  const annotated = withJsonSchema(new t.Type<string, string, unknown>('Annotated', custom.is, custom.validate, t.identity), { type: 'string', maxLength: 3 });
  t_.deepEqual(toJsonSchema(t.type({ a: annotated })), { type: 'object', properties: { a: { type: 'string', maxLength: 3 } }, required: ['a'] });
});

test('a domain codec end to end: FailureEvent (refinement over an intersection)', (t_) => {
  const schema = toJsonSchema(FailureEvent);
  t_.is(schema.type, 'object');
  t_.deepEqual(schema.required, ['kind', 'host']);
  t_.deepEqual(Object.keys(schema.properties as object), ['kind', 'host', 'instance', 'source', 'observedAt', 'details']);
  t_.regex(String(schema.description), /^FailureEvent/);
});
