/**
 * Decoding a request's params, query string and body with the route's io-ts codecs. A refusal is an
 * InputError (400) naming every failing field from where the client sent it (`body.kind`,
 * `params.id`, `query.limit`). Keys the codec does not know are refused too, at every depth of the
 * codec's objects: io-ts would ignore them, and a misspelt optional field (`commment`) would silently do
 * nothing. Free-form maps (`details`, a record) accept any key.
 */
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/Either';
import type { FieldProblem } from '../domain';
import { describeErrors, InputError } from '../domain';

export type InputPart = 'params' | 'query' | 'body' | 'headers';

/** No input of ours nests deeper than a few levels; deeper JSON is refused before it is parsed. */
export const MAX_JSON_DEPTH = 32;

/**
 * How deep the arrays and objects of a JSON text nest (brackets inside strings do not count). Checked before
 * parsing: decoding and describing a value nested thousands deep would exhaust the stack (a 5xx for junk).
 */
export function jsonDepth(text: string, stopAbove = Infinity): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) {
      inString = true;
    } else if (c === 91 || c === 123) {
      if (++depth > deepest) deepest = depth;
      if (deepest > stopAbove) return deepest;
    } else if (c === 93 || c === 125) {
      depth--;
    }
  }
  return deepest;
}

/** How many problems the message lists (every one is in `paths`). */
const MESSAGE_PROBLEMS = 5;

export function decodeInput(part: InputPart, codec: t.Mixed | undefined, raw: unknown): unknown {
  // Every request carries headers: only those the route declares are read, the others are not its input.
  if (part === 'headers') {
    if (!codec) return undefined;
    raw = pick(raw, Object.keys(propsOf(codec as Tagged) ?? {}));
  }
  if (!codec) {
    if (isEmpty(raw)) return undefined;
    const keys = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? Object.keys(raw) : [];
    const paths = keys.length > 0 ? keys.slice(0, 20).map((k) => ({ path: join(part, k), message: 'not accepted: this route takes no ' + part })) : [{ path: part, message: `this route takes no ${part}` }];
    throw new InputError(`invalid ${part}: this route takes no ${part === 'query' ? 'query parameters' : part}`, paths);
  }
  // No body at all reads as an empty object, so a missing field is reported by name rather than "expected an object".
  const value = part === 'body' && raw === undefined ? {} : raw;
  const result = codec.decode(value);
  const problems: FieldProblem[] = isLeft(result) ? describeErrors(result.left) : [];
  problems.push(...strayKeys(codec, value, '').map((path) => ({ path, message: 'unknown key' })));
  if (problems.length > 0) {
    const located = problems.map((p) => ({ path: join(part, p.path), message: p.message }));
    const shown = located.slice(0, MESSAGE_PROBLEMS).map((p) => `${p.path}: ${p.message}`).join('; ');
    throw new InputError(`invalid ${part}: ${shown}${located.length > MESSAGE_PROBLEMS ? `; and ${located.length - MESSAGE_PROBLEMS} more` : ''}`, located);
  }
  return isLeft(result) ? undefined : result.right;
}

function pick(raw: unknown, keys: readonly string[]): Record<string, unknown> {
  const from = typeof raw === 'object' && raw !== null ? raw as Record<string, unknown> : {};
  const out: Record<string, unknown> = {};
  for (const key of keys) if (Object.hasOwn(from, key) && from[key] !== undefined) out[key] = from[key];
  return out;
}

function isEmpty(raw: unknown): boolean {
  if (raw === undefined || raw === null) return true;
  return typeof raw === 'object' && !Array.isArray(raw) && Object.keys(raw).length === 0;
}

/** `body` + `kind` → `body.kind`; `body` + `(root)` → `body`; `body` + `[2]` → `body[2]`. */
function join(part: InputPart, path: string): string {
  if (path === '(root)' || path === '') return part;
  return path.startsWith('[') ? `${part}${path}` : `${part}.${path}`;
}

type Tagged = t.Mixed & { readonly _tag?: string };

/** The paths of keys no object codec declares, at every depth of `value` the codec describes. */
export function strayKeys(codec: t.Mixed, value: unknown, path: string): string[] {
  const c = codec as Tagged;
  switch (c._tag) {
    case 'RefinementType':
    case 'ReadonlyType':
    case 'ExactType':
      return strayKeys((c as unknown as { type: t.Mixed }).type, value, path);
    case 'ArrayType':
    case 'ReadonlyArrayType': {
      if (!Array.isArray(value)) return [];
      const item = (c as unknown as { type: t.Mixed }).type;
      return value.flatMap((v, i) => strayKeys(item, v, `${path}[${i}]`));
    }
    case 'InterfaceType':
    case 'PartialType':
    case 'StrictType':
    case 'IntersectionType': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
      const props = propsOf(c);
      // An intersection with a member that is not an object codec (a union, a record): its keys are unknowable.
      if (props === undefined) return [];
      const record = value as Record<string, unknown>;
      // Own keys only: `constructor` or `toString` sent by a client are unknown keys, not inherited ones.
      const stray = Object.keys(record).filter((k) => !Object.hasOwn(props, k)).map((k) => (path ? `${path}.${k}` : k));
      for (const [key, sub] of Object.entries(props)) {
        if (Object.hasOwn(record, key)) stray.push(...strayKeys(sub, record[key], path ? `${path}.${key}` : key));
      }
      return stray;
    }
    default:
      // Unions (which member?), records and hand-written codecs: not checked.
      return [];
  }
}

function propsOf(codec: Tagged): Record<string, t.Mixed> | undefined {
  switch (codec._tag) {
    case 'InterfaceType':
    case 'PartialType':
    case 'StrictType':
      return (codec as unknown as { props: Record<string, t.Mixed> }).props;
    case 'IntersectionType': {
      const members = (codec as unknown as { types: Tagged[] }).types.map(propsOf);
      return members.every((m) => m !== undefined) ? Object.assign({}, ...members) as Record<string, t.Mixed> : undefined;
    }
    case 'RefinementType':
    case 'ReadonlyType':
    case 'ExactType':
      return propsOf((codec as unknown as { type: Tagged }).type);
    default:
      return undefined;
  }
}
