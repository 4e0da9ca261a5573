import * as t from 'io-ts';
import { isLeft } from 'fp-ts/Either';
import { FailureKind } from '../domain';

/**
 * Codecs for a policy file (see `docs` in the issue-5 report for the format). Every mapping is *closed*: a key
 * the codec does not know is an error whose path names it (`rules[1].match.vm.flavour`), at every depth.
 */

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

const isMapping = (u: unknown): u is Record<string, unknown> => typeof u === 'object' && u !== null && !Array.isArray(u);

type Required<R extends t.Props> = { readonly [K in keyof R]: t.TypeOf<R[K]> };
type Optional<O extends t.Props> = { readonly [K in keyof O]?: t.TypeOf<O[K]> };

/**
 * A mapping with required and optional keys that refuses unknown keys. Sub-codecs are validated with the key
 * appended to the context, so `describeErrors` yields plain field paths (no intersection indexes).
 */
export function closed<R extends t.Props, O extends t.Props>(name: string, required: R, optional: O): t.Type<Required<R> & Optional<O>, unknown, unknown> {
  const known = [...Object.keys(required), ...Object.keys(optional)];
  const knownSet = new Set(known);
  const entries: [string, t.Mixed, boolean][] = [
    ...Object.entries(required).map(([k, c]): [string, t.Mixed, boolean] => [k, c, true]),
    ...Object.entries(optional).map(([k, c]): [string, t.Mixed, boolean] => [k, c, false]),
  ];
  const is = (u: unknown): u is Required<R> & Optional<O> =>
    isMapping(u) && Object.keys(u).every((k) => knownSet.has(k)) && entries.every(([k, c, req]) => (u[k] === undefined ? !req : c.is(u[k])));
  return new t.Type<Required<R> & Optional<O>, unknown, unknown>(
    name,
    is,
    (u, c) => {
      if (!isMapping(u)) return t.failure(u, c, `expected a mapping (${name}), got ${show(u)}`);
      const errors: t.ValidationError[] = [];
      for (const key of Object.keys(u)) {
        if (!knownSet.has(key)) {
          errors.push({ value: u[key], context: [...c, { key, type: t.never, actual: u[key] }], message: `unknown key (expected one of: ${known.join(', ')})` });
        }
      }
      const out: Record<string, unknown> = {};
      for (const [key, codec, req] of entries) {
        const value = u[key];
        const context = [...c, { key, type: codec, actual: value }];
        if (value === undefined || value === null) {
          if (req) errors.push({ value, context, message: 'required' });
          else if (value === null) errors.push({ value, context, message: `expected ${codec.name}, got null (remove the key instead)` });
          continue;
        }
        const result = codec.validate(value, context);
        if (isLeft(result)) errors.push(...result.left);
        else out[key] = result.right;
      }
      return errors.length > 0 ? t.failures(errors) : t.success(out as Required<R> & Optional<O>);
    },
    t.identity,
  );
}

const NonEmptyString = new t.Type<string, string, unknown>(
  'non-empty string',
  (u): u is string => typeof u === 'string' && u.length > 0,
  (u, c) => (typeof u === 'string' && u.length > 0 ? t.success(u) : t.failure(u, c, `expected a non-empty string, got ${show(u)}`)),
  t.identity,
);

/** `db.large` or `[db.large, db.xlarge]`: any of the listed values matches. */
export const AnyOf = new t.Type<string | readonly string[], unknown, unknown>(
  'AnyOf',
  (u): u is string | readonly string[] => (typeof u === 'string' && u.length > 0) || (Array.isArray(u) && u.length > 0 && u.every((s) => typeof s === 'string' && s.length > 0)),
  (u, c) => {
    if (typeof u === 'string' && u.length > 0) return t.success(u);
    if (Array.isArray(u) && u.length > 0 && u.every((s) => typeof s === 'string' && s.length > 0)) return t.success(u as string[]);
    // Numbers and booleans in YAML (`tier: 1`, `ssd: yes`) are a classic trap: ask for quotes rather than guess.
    return t.failure(u, c, `expected a string or a non-empty list of strings (quote numbers and booleans), got ${show(u)}`);
  },
  t.identity,
);
export type AnyOf = t.TypeOf<typeof AnyOf>;

const KINDS = Object.keys(FailureKind.keys);

/** `host-down` or `[host-down, host-degraded]`. */
export const EventKinds = new t.Type<FailureKind | readonly FailureKind[], unknown, unknown>(
  'EventKinds',
  (u): u is FailureKind | readonly FailureKind[] => FailureKind.is(u) || (Array.isArray(u) && u.length > 0 && u.every((k) => FailureKind.is(k))),
  (u, c) => {
    if (FailureKind.is(u)) return t.success(u);
    if (Array.isArray(u) && u.length > 0 && u.every((k) => FailureKind.is(k))) return t.success(u as FailureKind[]);
    const bad = Array.isArray(u) ? u.find((k) => !FailureKind.is(k)) : u;
    return t.failure(u, c, `expected a failure kind or a non-empty list of them (${KINDS.join(', ')}), got ${show(bad)}`);
  },
  t.identity,
);

/** Metadata criteria: `{tier: gold}`, `{tier: [gold, silver]}`, `{backup: "*"}` (key present, any value). */
export const MetadataMatch = new t.Type<Readonly<Record<string, AnyOf>>, unknown, unknown>(
  'MetadataMatch',
  (u): u is Readonly<Record<string, AnyOf>> => isMapping(u) && Object.keys(u).length > 0 && Object.values(u).every((v) => AnyOf.is(v)),
  (u, c) => {
    if (!isMapping(u) || Object.keys(u).length === 0) return t.failure(u, c, `expected a non-empty mapping of metadata key to value(s), got ${show(u)}`);
    const errors: t.ValidationError[] = [];
    for (const [key, value] of Object.entries(u)) {
      const r = AnyOf.validate(value, [...c, { key, type: AnyOf, actual: value }]);
      if (isLeft(r)) errors.push(...r.left);
    }
    return errors.length > 0 ? t.failures(errors) : t.success(u as Record<string, AnyOf>);
  },
  t.identity,
);

const Params = new t.Type<Readonly<Record<string, unknown>>, unknown, unknown>(
  'Params',
  (u): u is Readonly<Record<string, unknown>> => isMapping(u),
  (u, c) => (isMapping(u) ? t.success(u) : t.failure(u, c, `expected a mapping of workflow parameters, got ${show(u)}`)),
  t.identity,
);

export const VmMatch = closed('vm match', {}, {
  metadata: MetadataMatch,
  flavor: AnyOf,
  image: AnyOf,
  project: AnyOf,
  haEnabled: t.boolean,
  evacuable: t.boolean,
});
export type VmMatch = t.TypeOf<typeof VmMatch>;

export const HostMatch = closed('host match', {}, {
  name: AnyOf,
  zone: AnyOf,
  aggregate: AnyOf,
  tags: AnyOf,
  segment: AnyOf,
});
export type HostMatch = t.TypeOf<typeof HostMatch>;

export const RuleMatch = closed('match', {}, { events: EventKinds, vm: VmMatch, host: HostMatch });
export type RuleMatch = t.TypeOf<typeof RuleMatch>;

export const PolicyRule = closed('rule', { name: NonEmptyString }, {
  default: t.literal(true),
  match: RuleMatch,
  sla: NonEmptyString,
  workflow: NonEmptyString,
  params: Params,
});
export type PolicyRule = t.TypeOf<typeof PolicyRule>;

export const PolicyDefaults = closed('defaults', {}, { sla: NonEmptyString, workflow: NonEmptyString, params: Params });
export type PolicyDefaults = t.TypeOf<typeof PolicyDefaults>;

const Rules = new t.Type<readonly PolicyRule[], unknown, unknown>(
  'rules',
  (u): u is readonly PolicyRule[] => Array.isArray(u) && u.length > 0 && u.every((r) => PolicyRule.is(r)),
  (u, c) => {
    if (!Array.isArray(u) || u.length === 0) return t.failure(u, c, `expected a non-empty list of rules, got ${show(u)}`);
    const errors: t.ValidationError[] = [];
    const out: PolicyRule[] = [];
    u.forEach((rule, i) => {
      const r = PolicyRule.validate(rule, [...c, { key: String(i), type: PolicyRule, actual: rule }]);
      if (isLeft(r)) errors.push(...r.left);
      else out.push(r.right);
    });
    return errors.length > 0 ? t.failures(errors) : t.success(out);
  },
  t.identity,
);

export const PolicyDocument = closed('policy', { version: t.literal(1), rules: Rules }, { defaults: PolicyDefaults });
export type PolicyDocument = t.TypeOf<typeof PolicyDocument>;
