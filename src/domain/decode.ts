import * as t from 'io-ts';
import { isLeft } from 'fp-ts/Either';
import { InputError } from './errors';

export interface FieldProblem {
  readonly path: string;
  readonly message: string;
}

/**
 * Turns io-ts errors into one problem per failing field path (`hosts[2].zone`), keeping the innermost
 * codec's name so the message says what was expected rather than which union branch gave up last.
 */
export function describeErrors(errors: t.Errors): FieldProblem[] {
  const seen = new Set<string>();
  const problems: FieldProblem[] = [];
  for (const error of errors) {
    const keys = error.context.filter((entry, i) => i > 0 && entry.key !== '' && !isUnionIndex(error.context, i));
    const path = keys.map((entry) => (/^\d+$/.test(entry.key) ? `[${entry.key}]` : `.${entry.key}`)).join('').replace(/^\./, '') || '(root)';
    const expected = error.context[error.context.length - 1]?.type.name ?? 'value';
    const message = error.message ?? `expected ${expected}, got ${show(error.value)}`;
    const key = `${path}|${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push({ path, message });
  }
  return problems;
}

/** A key that indexes the members of a union or intersection (seen through refinements) is not a field. */
function isUnionIndex(context: t.Context, i: number): boolean {
  let parent: unknown = context[i - 1]?.type;
  while (parent instanceof t.RefinementType || parent instanceof t.ReadonlyType || parent instanceof t.ExactType) {
    parent = (parent as unknown as { type: unknown }).type;
  }
  return parent instanceof t.UnionType || parent instanceof t.IntersectionType;
}

function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Decodes or throws an InputError whose message names every failing field path. */
export function decodeOrThrow<C extends t.Mixed>(codec: C, value: unknown, what: string = codec.name): t.TypeOf<C> {
  const result = codec.decode(value);
  if (isLeft(result)) {
    const problems = describeErrors(result.left);
    const summary = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
    throw new InputError(`invalid ${what}: ${summary}`, problems);
  }
  return result.right;
}

/**
 * io-ts ignores keys it does not know; operator files need typos reported. Returns the unknown keys of an
 * object against the props of a `t.type`/`t.partial`/`t.intersection` codec.
 */
export function unknownKeys(codec: t.Mixed, value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  const known = new Set(propsOf(codec));
  if (known.size === 0) return [];
  return Object.keys(value).filter((key) => !known.has(key));
}

function propsOf(codec: t.Mixed): string[] {
  if (codec instanceof t.InterfaceType || codec instanceof t.PartialType || codec instanceof t.StrictType) {
    return Object.keys((codec as t.InterfaceType<t.Props>).props);
  }
  if (codec instanceof t.IntersectionType) return (codec.types as t.Mixed[]).flatMap(propsOf);
  if (codec instanceof t.ExactType || codec instanceof t.RefinementType || codec instanceof t.ReadonlyType) {
    return propsOf((codec as unknown as { type: t.Mixed }).type);
  }
  return [];
}
