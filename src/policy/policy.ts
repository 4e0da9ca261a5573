import { createHash } from 'node:crypto';
import { isLeft } from 'fp-ts/Either';
import YAML from 'yaml';
import { describeErrors, FailureKind, InputError } from '../domain';
import type { FieldProblem, Flavor, Host, Instance } from '../domain';
import { AnyOf, PolicyDocument, PolicyRule } from './policy-codec';

/** Masakari's `[host_failure] ha_enabled_instance_metadata_key` default. */
export const HA_ENABLED_KEY = 'HA_Enabled';
/** fence_evacuate / NovaEvacuate / RHOSO InstanceHA: flavor extra spec, image tag or image property. */
export const EVACUABLE_TAG = 'evacuable';

/** The names a policy may refer to: SLAs from plugins, workflows from the registry. */
export interface PolicyReferences {
  readonly slas: ReadonlySet<string>;
  readonly workflows: ReadonlySet<string>;
  /**
   * Each SLA's allowed and preferred workflows, and the failure kinds each workflow handles. When given, a
   * rule's workflow must be allowed by its SLA, and a rule that names no workflow gets, per failure kind, the
   * first of its SLA's preferred workflows that handles that kind.
   */
  readonly slaWorkflows?: ReadonlyMap<string, { readonly allowed: readonly string[]; readonly preferred: readonly string[] }>;
  readonly handles?: ReadonlyMap<string, readonly FailureKind[]>;
}

const ALL_KINDS = Object.keys(FailureKind.keys) as FailureKind[];

/** The first of the SLA's preferred workflows that handles `kind`, when the references say. */
function preferredFor(refs: PolicyReferences, sla: string, kind: FailureKind): string | undefined {
  return refs.slaWorkflows?.get(sla)?.preferred.find((workflow) => refs.handles?.get(workflow)?.includes(kind));
}

/** A policy file that was refused: names the file; `paths` carries each field path (`rules[1].match.vm.flavour`). */
export class PolicyError extends InputError {
  readonly file: string;
  constructor(file: string, problems: readonly FieldProblem[]) {
    super(`${file}: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems, 'RSR_CONFIG_INVALID');
    this.name = 'PolicyError';
    this.file = file;
  }
}

/** What the host contributes to a decision. A `Host` fits; `segment` is the Masakari failover segment, when known. */
export interface HostFacts {
  readonly name?: string;
  readonly zone: string;
  readonly aggregates: readonly string[];
  readonly tags: readonly string[];
  readonly segment?: string;
}

/** What the instance contributes. An `Instance` fits. */
export interface InstanceFacts {
  readonly metadata: Readonly<Record<string, string>>;
  readonly flavor: Pick<Flavor, 'name' | 'extraSpecs'>;
  /** Image id (`''` for boot-from-volume). */
  readonly image: string;
  readonly project: string;
}

/** Glance facts our Instance type does not carry; the caller adds them when it has them. */
export interface ImageFacts {
  readonly name?: string;
  readonly tags?: readonly string[];
  readonly properties?: Readonly<Record<string, string>>;
}

export interface PolicyFacts {
  readonly event: FailureKind;
  readonly host?: HostFacts | Host;
  readonly instance?: InstanceFacts | Instance;
  readonly image?: ImageFacts;
}

export interface Decision {
  /** The name of the rule that matched. */
  readonly rule: string;
  readonly sla: string;
  readonly workflow: string;
  /** `defaults.params` overlaid with the rule's `params` (shallow). Frozen. */
  readonly params: Readonly<Record<string, unknown>>;
  readonly policyVersion: string;
}

type Predicate = (facts: PolicyFacts) => boolean;

interface CompiledRule {
  readonly name: string;
  readonly test: Predicate | null;
  readonly decision: Decision;
  /** When the rule names no workflow: the decision per failure kind (its SLA's preferred workflow for it). */
  readonly byKind?: Readonly<Partial<Record<FailureKind, Decision>>>;
}

/** A validated, compiled policy. Immutable; `version` is a content hash. */
export class Policy {
  readonly #byEvent: Readonly<Record<FailureKind, readonly CompiledRule[]>>;

  constructor(
    readonly version: string,
    readonly file: string,
    readonly document: PolicyDocument,
    rules: readonly CompiledRule[],
    matchEvents: readonly (readonly FailureKind[] | null)[],
  ) {
    const byEvent = {} as Record<FailureKind, CompiledRule[]>;
    for (const kind of Object.keys(FailureKind.keys) as FailureKind[]) {
      byEvent[kind] = rules.filter((_, i) => matchEvents[i] === null || matchEvents[i]!.includes(kind));
    }
    this.#byEvent = byEvent;
  }

  get ruleNames(): readonly string[] {
    return this.document.rules.map((r) => r.name);
  }

  /** First matching rule wins; the default rule (always last) catches the rest. Allocates nothing. */
  decide(facts: PolicyFacts): Decision {
    const rules = this.#byEvent[facts.event];
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if (rule.test === null || rule.test(facts)) return rule.byKind?.[facts.event] ?? rule.decision;
    }
    // Unreachable: the default rule matches everything and is in every list.
    throw new Error(`policy ${this.version}: no rule matched event ${facts.event}`);
  }
}

export function decide(policy: Policy, facts: PolicyFacts): Decision {
  return policy.decide(facts);
}

/**
 * Parses, validates and compiles a policy file. Throws a PolicyError naming the file, the rule (index and name)
 * and the field path of every problem; YAML syntax errors carry the line and column.
 */
export function loadPolicy(text: string, file: string, references: PolicyReferences): Policy {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // Only the first: the ones after a syntax error are mostly its echoes.
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new PolicyError(file, [{ path: pos ? `line ${pos.line}, column ${pos.col}` : '(file)', message: `YAML syntax error: ${message}` }]);
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  const decoded = PolicyDocument.decode(raw);
  if (isLeft(decoded)) throw new PolicyError(file, describeErrors(decoded.left).map((p) => withRuleName(p, raw)));
  const document = decoded.right;
  const problems = checkSemantics(document, references);
  if (problems.length > 0) throw new PolicyError(file, problems);
  const version = versionOf(document);
  const rules = document.rules.map((rule) => compileRule(rule, document, version, references));
  return new Policy(version, file, document, rules, document.rules.map((r) => (r.match?.events === undefined ? null : list(r.match.events))));
}

/** sha256 of the canonical JSON of the validated document (keys sorted at every depth), first 12 hex digits. */
export function versionOf(document: PolicyDocument): string {
  return createHash('sha256').update(canonicalJson(document)).digest('hex').slice(0, 12);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.keys(value).sort().filter((k) => (value as Record<string, unknown>)[k] !== undefined);
    return `{${entries.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const ruleLabel = (index: number, name: unknown) => (typeof name === 'string' && name.length > 0 ? `rules[${index}] "${name}"` : `rules[${index}]`);

/** `rules[1].match.vm.flavour` → message prefixed with the rule's name, so operators find it by name too. */
function withRuleName(problem: FieldProblem, raw: unknown): FieldProblem {
  const m = /^rules\[(\d+)\]/.exec(problem.path);
  if (!m) return problem;
  const rules = (raw as { rules?: unknown }).rules;
  const rule = Array.isArray(rules) ? rules[Number(m[1])] : undefined;
  const name = typeof rule === 'object' && rule !== null ? (rule as { name?: unknown }).name : undefined;
  return typeof name === 'string' && name.length > 0 ? { path: problem.path, message: `(rule "${name}") ${problem.message}` } : problem;
}

function checkSemantics(document: PolicyDocument, refs: PolicyReferences): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const rules = document.rules;
  const defaults = rules.flatMap((r, i) => (r.default ? [i] : []));
  if (defaults.length === 0) {
    problems.push({ path: 'rules', message: 'a default rule is required (`default: true`, last in the list)' });
  } else if (defaults.length > 1) {
    problems.push({ path: 'rules', message: `exactly one default rule is allowed, found ${defaults.length}: ${defaults.map((i) => ruleLabel(i, rules[i]!.name)).join(', ')}` });
  } else if (defaults[0] !== rules.length - 1) {
    problems.push({ path: `rules[${defaults[0]}].default`, message: `${ruleLabel(defaults[0]!, rules[defaults[0]!]!.name)} is the default rule and must be last (rules after it could never match)` });
  }
  const seen = new Map<string, number>();
  rules.forEach((rule, i) => {
    const label = ruleLabel(i, rule.name);
    const first = seen.get(rule.name);
    if (first !== undefined) problems.push({ path: `rules[${i}].name`, message: `${label}: duplicate rule name (also rules[${first}])` });
    else seen.set(rule.name, i);
    if (rule.default && rule.match !== undefined) problems.push({ path: `rules[${i}].match`, message: `${label}: the default rule matches everything and takes no match` });
    if (!rule.default && (rule.match === undefined || Object.keys(rule.match).length === 0)) {
      problems.push({ path: `rules[${i}].match`, message: `${label}: a rule other than the default needs a non-empty match` });
    }
    const sla = rule.sla ?? document.defaults?.sla;
    if (sla === undefined) problems.push({ path: `rules[${i}].sla`, message: `${label}: no sla (set it on the rule or in defaults)` });
    else if (!refs.slas.has(sla)) problems.push({ path: rule.sla ? `rules[${i}].sla` : 'defaults.sla', message: `${label}: unknown SLA "${sla}" (known: ${[...refs.slas].sort().join(', ') || 'none'})` });
    const workflow = rule.workflow ?? document.defaults?.workflow;
    const path = rule.workflow ? `rules[${i}].workflow` : 'defaults.workflow';
    const slaWorkflows = sla === undefined ? undefined : refs.slaWorkflows?.get(sla);
    if (workflow === undefined) {
      if (!slaWorkflows || sla === undefined) {
        problems.push({ path: `rules[${i}].workflow`, message: `${label}: no workflow (set it on the rule or in defaults)` });
      } else {
        const kinds = rule.match?.events === undefined ? ALL_KINDS : list(rule.match.events);
        const uncovered = kinds.filter((kind) => preferredFor(refs, sla, kind) === undefined);
        if (uncovered.length > 0) {
          problems.push({
            path: `rules[${i}].workflow`,
            message: `${label}: no workflow for ${uncovered.join(', ')}: none of SLA "${sla}"'s preferred workflows (${slaWorkflows.preferred.join(', ') || 'none'}) handles it; name a workflow, or limit the rule's events`,
          });
        }
      }
    } else if (!refs.workflows.has(workflow)) {
      problems.push({ path, message: `${label}: unknown workflow "${workflow}" (known: ${[...refs.workflows].sort().join(', ') || 'none'})` });
    } else if (slaWorkflows && !slaWorkflows.allowed.includes(workflow)) {
      problems.push({ path, message: `${label}: workflow "${workflow}" is not allowed by SLA "${sla}" (allowed: ${slaWorkflows.allowed.join(', ')})` });
    }
  });
  return problems;
}

const list = <T extends string>(value: T | readonly T[]): readonly T[] => (typeof value === 'string' ? [value] : value);

/** One string: compare; several: a Set. */
function oneOf(value: AnyOf): (candidate: string) => boolean {
  const values = list(value);
  if (values.length === 1) {
    const only = values[0]!;
    return (candidate) => candidate === only;
  }
  const set = new Set(values);
  return (candidate) => set.has(candidate);
}

function anyOfList(value: AnyOf): (candidates: readonly string[]) => boolean {
  const test = oneOf(value);
  return (candidates) => {
    for (let i = 0; i < candidates.length; i++) if (test(candidates[i]!)) return true;
    return false;
  };
}

/** oslo.utils `bool_from_string` truthy spellings, as Masakari reads `HA_Enabled`; anything else (or absent) is false. */
const TRUE_STRINGS = new Set(['true', 't', 'yes', 'y', 'on', '1']);
export const isTruthy = (value: string | undefined): boolean => value !== undefined && TRUE_STRINGS.has(value.trim().toLowerCase());

export const isHaEnabled = (instance: InstanceFacts): boolean => isTruthy(instance.metadata[HA_ENABLED_KEY]);

/** Flavor extra spec `evacuable=true`, image tag `evacuable`, or image property `evacuable=true`. */
export function isEvacuable(instance: InstanceFacts, image?: ImageFacts): boolean {
  if (isTruthy(instance.flavor.extraSpecs[EVACUABLE_TAG])) return true;
  if (image?.tags?.includes(EVACUABLE_TAG)) return true;
  return isTruthy(image?.properties?.[EVACUABLE_TAG]);
}

function compileRule(rule: PolicyRule, document: PolicyDocument, version: string, refs: PolicyReferences): CompiledRule {
  const params = deepFreeze({ ...(document.defaults?.params ?? {}), ...(rule.params ?? {}) });
  const sla = (rule.sla ?? document.defaults?.sla)!;
  const named = rule.workflow ?? document.defaults?.workflow;
  const decisionWith = (workflow: string): Decision => Object.freeze({ rule: rule.name, sla, workflow, params, policyVersion: version });
  const decision = decisionWith(named ?? '');
  const byKind: Partial<Record<FailureKind, Decision>> | undefined = named === undefined
    ? Object.freeze(Object.fromEntries(ALL_KINDS.flatMap((kind) => {
      const workflow = preferredFor(refs, sla, kind);
      return workflow ? [[kind, decisionWith(workflow)]] : [];
    })))
    : undefined;
  const tests: Predicate[] = [];
  const vm = rule.match?.vm;
  if (vm) {
    if (vm.metadata) {
      for (const [key, value] of Object.entries(vm.metadata)) {
        const values = list(value);
        if (values.includes('*')) {
          tests.push((f) => f.instance!.metadata[key] !== undefined);
        } else {
          const test = oneOf(value);
          tests.push((f) => {
            const v = f.instance!.metadata[key];
            return v !== undefined && test(v);
          });
        }
      }
    }
    if (vm.flavor) {
      const test = oneOf(vm.flavor);
      tests.push((f) => test(f.instance!.flavor.name));
    }
    if (vm.image) {
      const test = oneOf(vm.image);
      tests.push((f) => test(f.instance!.image) || (f.image?.name !== undefined && test(f.image.name)));
    }
    if (vm.project) {
      const test = oneOf(vm.project);
      tests.push((f) => test(f.instance!.project));
    }
    if (vm.haEnabled !== undefined) {
      const want = vm.haEnabled;
      tests.push((f) => isHaEnabled(f.instance!) === want);
    }
    if (vm.evacuable !== undefined) {
      const want = vm.evacuable;
      tests.push((f) => isEvacuable(f.instance!, f.image) === want);
    }
  }
  const hostTests: Predicate[] = [];
  const host = rule.match?.host;
  if (host) {
    if (host.name) {
      const test = oneOf(host.name);
      hostTests.push((f) => f.host!.name !== undefined && test(f.host!.name));
    }
    if (host.zone) {
      const test = oneOf(host.zone);
      hostTests.push((f) => test(f.host!.zone));
    }
    if (host.aggregate) {
      const test = anyOfList(host.aggregate);
      hostTests.push((f) => test(f.host!.aggregates));
    }
    if (host.tags) {
      const test = anyOfList(host.tags);
      hostTests.push((f) => test(f.host!.tags));
    }
    if (host.segment) {
      const test = oneOf(host.segment);
      hostTests.push((f) => {
        const segment = (f.host as HostFacts).segment;
        return segment !== undefined && test(segment);
      });
    }
  }
  // A criterion on a fact the caller did not give (no instance on a host-level decision) does not match.
  const needsInstance = tests.length > 0;
  const needsHost = hostTests.length > 0;
  const all = [...tests, ...hostTests];
  if (all.length === 0) return { name: rule.name, test: null, decision, ...(byKind ? { byKind } : {}) };
  const test: Predicate = (f) => {
    if (needsInstance && f.instance === undefined) return false;
    if (needsHost && f.host === undefined) return false;
    for (let i = 0; i < all.length; i++) if (!all[i]!(f)) return false;
    return true;
  };
  return { name: rule.name, test, decision, ...(byKind ? { byKind } : {}) };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
