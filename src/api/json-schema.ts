/**
 * io-ts codec → JSON Schema, for documentation only: the OpenAPI document of the API is generated from the
 * same codecs the routes decode with (validation itself stays io-ts). No maintained library does this (the
 * two on npm are single releases with a couple of thousand downloads a month, and neither knows our own
 * `t.Type`s), so this walks the io-ts tags the domain uses:
 *
 *   string number boolean null unknown/any   → type (or {} for unknown)
 *   literal, keyof, union of literals          → enum
 *   union                                      → anyOf
 *   type (interface), partial                  → object with properties (+ required)
 *   intersection                               → one merged object when every member is one, else allOf
 *   exact / strict                             → the object with additionalProperties: false
 *   array, readonlyArray, UnknownArray         → array (+ items)
 *   record / dictionary, UnknownRecord         → object with additionalProperties (finite keys: properties)
 *   refinement, brand                          → the base type, the codec's name as description
 *   readonly                                   → the inner type
 *   tuple                                      → array with min/max items
 *
 * Codecs built with `new t.Type(...)` have no tag: they are described by their name, unless an exact schema
 * was attached with `withJsonSchema` (which also overrides any tagged codec). The output uses only keywords
 * OpenAPI 3.0 and 3.1 share (`enum`, never `const`; `type: 'null'` is turned into `nullable` by
 * @fastify/swagger for 3.0).
 */
import * as t from 'io-ts';

export interface JsonSchema {
  [keyword: string]: unknown;
}

const attached = new WeakMap<t.Mixed, JsonSchema>();

/** Gives a codec an exact schema (its own `t.Type`, or a tagged codec whose schema should say more). */
export function withJsonSchema<C extends t.Mixed>(codec: C, schema: JsonSchema): C {
  attached.set(codec, schema);
  return codec;
}

/** How deep nested codecs are followed; a recursive codec is described by name below this. */
const MAX_DEPTH = 32;

export function toJsonSchema(codec: t.Mixed): JsonSchema {
  return convert(codec, 0);
}

type Tagged = t.Mixed & { readonly _tag?: string };

function convert(codec: Tagged, depth: number): JsonSchema {
  const given = attached.get(codec);
  if (given) return structuredClone(given);
  if (depth > MAX_DEPTH) return { description: codec.name };
  const next = (inner: t.Mixed) => convert(inner, depth + 1);
  switch (codec._tag) {
    case 'StringType':
      return { type: 'string' };
    case 'NumberType':
      return { type: 'number' };
    case 'BooleanType':
      return { type: 'boolean' };
    case 'NullType':
      return { type: 'null' };
    case 'UnknownType':
    case 'AnyType':
    case 'FunctionType':
      return {};
    case 'UndefinedType':
    case 'VoidType':
    case 'NeverType':
      return { not: {} };
    case 'LiteralType':
      return literal([(codec as unknown as t.LiteralType<string | number | boolean>).value]);
    case 'KeyofType':
      return withName({ type: 'string', enum: Object.keys((codec as unknown as t.KeyofType<Record<string, unknown>>).keys) }, codec);
    case 'UnionType':
      return union((codec as unknown as t.UnionType<t.Mixed[]>).types, codec, next);
    case 'IntersectionType':
      return intersection((codec as unknown as t.IntersectionType<t.Mixed[]>).types.map(next));
    case 'InterfaceType':
    case 'StrictType':
      return object((codec as unknown as t.InterfaceType<t.Props>).props, true, next, codec._tag === 'StrictType');
    case 'PartialType':
      return object((codec as unknown as t.PartialType<t.Props>).props, false, next, false);
    case 'ExactType':
      return closeObject(next((codec as unknown as t.ExactType<t.Mixed>).type));
    case 'ReadonlyType':
      return next((codec as unknown as t.ReadonlyType<t.Mixed>).type);
    case 'ArrayType':
    case 'ReadonlyArrayType':
      return { type: 'array', items: next((codec as unknown as t.ArrayType<t.Mixed>).type) };
    case 'AnyArrayType':
      return { type: 'array' };
    case 'AnyDictionaryType':
      return { type: 'object' };
    case 'DictionaryType':
      return dictionary(codec as unknown as t.DictionaryType<t.Mixed, t.Mixed>, next);
    case 'TupleType': {
      const types = (codec as unknown as t.TupleType<t.Mixed[]>).types;
      return { type: 'array', items: types.length === 1 ? next(types[0]!) : { anyOf: types.map(next) }, minItems: types.length, maxItems: types.length };
    }
    case 'RefinementType':
      return refinement(codec as unknown as t.RefinementType<t.Mixed>, next);
    default:
      // A hand-written t.Type (or a recursive one): all we know is its name.
      return { description: codec.name };
  }
}

function literal(values: readonly unknown[]): JsonSchema {
  const types = [...new Set(values.map((v) => (v === null ? 'null' : typeof v)))];
  return types.length === 1 ? { type: types[0], enum: [...values] } : { enum: [...values] };
}

/** A name the author gave (io-ts makes up names such as `"a" | "b"` otherwise). */
function withName(schema: JsonSchema, codec: t.Mixed): JsonSchema {
  return /^[A-Za-z][\w-]*$/.test(codec.name) ? { ...schema, description: codec.name } : schema;
}

function union(members: readonly t.Mixed[], codec: t.Mixed, next: (c: t.Mixed) => JsonSchema): JsonSchema {
  const converted = members.map(next);
  // A union of literals (or keyofs) is one enum.
  if (converted.every((s) => Array.isArray(s.enum) && Object.keys(s).every((k) => k === 'enum' || k === 'type' || k === 'description'))) {
    return withName(literal(converted.flatMap((s) => s.enum as unknown[])), codec);
  }
  return withName({ anyOf: converted }, codec);
}

const isPlainObject = (s: JsonSchema) =>
  s.type === 'object' && Object.keys(s).every((k) => k === 'type' || k === 'properties' || k === 'required' || k === 'description');

function intersection(members: readonly JsonSchema[]): JsonSchema {
  if (members.length > 0 && members.every(isPlainObject)) {
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const member of members) {
      Object.assign(properties, member.properties ?? {});
      for (const key of (member.required as string[] | undefined) ?? []) if (!required.includes(key)) required.push(key);
    }
    return required.length > 0 ? { type: 'object', properties, required } : { type: 'object', properties };
  }
  return { allOf: [...members] };
}

function object(props: t.Props, required: boolean, next: (c: t.Mixed) => JsonSchema, closed: boolean): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const [key, codec] of Object.entries(props)) properties[key] = next(codec);
  const schema: JsonSchema = { type: 'object', properties };
  const keys = Object.keys(props);
  if (required && keys.length > 0) schema.required = keys;
  if (closed) schema.additionalProperties = false;
  return schema;
}

/** `t.exact` / `t.strict`: the keys not listed are stripped on decode; documented as not accepted. */
function closeObject(schema: JsonSchema): JsonSchema {
  return schema.type === 'object' ? { ...schema, additionalProperties: false } : schema;
}

function dictionary(codec: t.DictionaryType<t.Mixed, t.Mixed>, next: (c: t.Mixed) => JsonSchema): JsonSchema {
  const domain = next(codec.domain);
  const values = next(codec.codomain);
  // A record over a finite set of keys (`t.record(t.keyof({...}), X)`) has every one of them.
  if (Array.isArray(domain.enum) && domain.enum.every((k) => typeof k === 'string')) {
    const keys = domain.enum as string[];
    return { type: 'object', properties: Object.fromEntries(keys.map((k) => [k, values])), required: keys, additionalProperties: false };
  }
  return Object.keys(values).length === 0 ? { type: 'object' } : { type: 'object', additionalProperties: values };
}

/** A refinement or a brand: what it refines, with its name (`HostName`, `NonNegativeInt`) as the description. */
function refinement(codec: t.RefinementType<t.Mixed>, next: (c: t.Mixed) => JsonSchema): JsonSchema {
  const base = next(codec.type);
  if (codec.name === 'Int' && base.type === 'number') base.type = 'integer';
  const description = typeof base.description === 'string' && base.description !== codec.name ? `${codec.name} (${base.description})` : codec.name;
  return { ...base, description };
}
