/**
 * The SLA codec: what an SLA plugin may declare, checked at load (shape, unknown keys, consistency) with
 * field paths in every message. The types in `api.ts` are derived from these codecs.
 *
 * At runtime `priority` and `retry` become bull job options (`sla-job-options.ts`), the deadline and priority
 * rank a recovery for a slot (`admission.ts`), `deadlineSeconds` and the rung budgets become delayed jobs and
 * `escalation` the ladder a recovery climbs (`escalation.ts`), and `workflows` is checked by the policy.
 */
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/Either';
import { describeErrors, unknownKeys } from '../domain';
import type { FieldProblem } from '../domain';

/** Built-in ladder actions. Any other rung action must name a registered workflow. */
export const ESCALATION_ACTIONS = ['restart-in-place', 'live-migrate', 'evacuate', 'notify', 'page'] as const;
export type EscalationAction = (typeof ESCALATION_ACTIONS)[number];

/** The notification severity a `notify`/`page` rung uses when the rung does not say. */
export const DEFAULT_RUNG_SEVERITY = { notify: 'warning', page: 'critical' } as const;

/** Kebab-case, as workflow names are (`loader.ts`). */
const KEBAB = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

const integer = (name: string, min: number) => t.refinement(t.number, (n) => Number.isInteger(n) && n >= min, name);

export const PositiveInteger = integer('PositiveInteger', 1);
export const NonNegativeInteger = integer('NonNegativeInteger', 0);
export const KebabName = t.refinement(t.string, (s) => KEBAB.test(s), 'KebabName');
export const Severity = t.keyof({ info: null, warning: null, critical: null }, 'Severity');

/** A built-in action or the (kebab-case) name of a workflow; the latter is checked against the registry. */
export const RungAction = new t.Type<string, string, unknown>(
  'RungAction',
  (u): u is string => typeof u === 'string' && KEBAB.test(u),
  (u, c) =>
    typeof u === 'string' && KEBAB.test(u)
      ? t.success(u)
      : t.failure(u, c, `expected one of ${ESCALATION_ACTIONS.join(', ')} or a kebab-case workflow name, got ${JSON.stringify(u) ?? 'undefined'}`),
  t.identity,
);

/** One message for "a positive integer or null" instead of one per union member. */
const PositiveIntegerOrNull = new t.Type<number | null, number | null, unknown>(
  'PositiveIntegerOrNull',
  (u): u is number | null => u === null || PositiveInteger.is(u),
  (u, c) => (u === null || PositiveInteger.is(u) ? t.success(u) : t.failure(u, c, `expected a positive integer (seconds) or null, got ${JSON.stringify(u) ?? 'undefined'}`)),
  t.identity,
);

export const EscalationRungCodec = t.intersection(
  [
    t.type({
      action: RungAction,
      /** Time this rung has before the ladder moves to the next one. */
      budgetSeconds: PositiveInteger,
    }),
    t.partial({
      /** Severity of the notification sent when the rung starts (`notify`/`page` default to warning/critical). */
      notify: Severity,
    }),
  ],
  'EscalationRung',
);

export const SlaRetryCodec = t.type(
  {
    /** Total runs of a recovery job (1 = no retry). */
    attempts: PositiveInteger,
    /** Delay before the first retry, in milliseconds. */
    backoffMs: NonNegativeInteger,
    /** true: the delay doubles on every retry (bull `exponential`); false: every retry waits `backoffMs`. */
    exponential: t.boolean,
  },
  'SlaRetry',
);

export const SlaWorkflowsCodec = t.type(
  {
    /** The workflows a recovery under this SLA may run at all. */
    allowed: t.readonlyArray(KebabName),
    /** Tried in this order for a failure kind; each must be allowed. */
    preferred: t.readonlyArray(KebabName),
  },
  'SlaWorkflows',
);

export const SlaCodec = t.type(
  {
    name: KebabName,
    description: t.string,
    /** Recovery deadline (RTO) in seconds; null = no deadline (nothing is driven by time). */
    deadlineSeconds: PositiveIntegerOrNull,
    /** 1 is the most urgent (bull's convention). */
    priority: PositiveInteger,
    retry: SlaRetryCodec,
    workflows: SlaWorkflowsCodec,
    /** Ordered rungs, first to last. */
    escalation: t.readonlyArray(EscalationRungCodec),
  },
  'SlaDefinition',
);

export type EscalationRung = Readonly<t.TypeOf<typeof EscalationRungCodec>>;
export type SlaRetry = Readonly<t.TypeOf<typeof SlaRetryCodec>>;
export type SlaWorkflows = Readonly<t.TypeOf<typeof SlaWorkflowsCodec>>;
/** A service level, as plugins contribute it (`defineSla` in `api.ts`). */
export interface SlaDefinition {
  readonly name: string;
  readonly description: string;
  readonly deadlineSeconds: number | null;
  readonly priority: number;
  readonly retry: SlaRetry;
  readonly workflows: SlaWorkflows;
  readonly escalation: readonly EscalationRung[];
}

// The interface above is the readable form; this line fails to compile if it drifts from the codec.
const _sameShape: (value: t.TypeOf<typeof SlaCodec>) => SlaDefinition = (value) => value;
void _sameShape;

export interface SlaCheckOptions {
  /** Registered workflow names; when given, workflow names in `workflows` and in rung actions must be among them. */
  readonly workflows?: ReadonlySet<string>;
}

export type SlaDecoded = { readonly sla: SlaDefinition; readonly problems?: undefined } | { readonly sla?: undefined; readonly problems: FieldProblem[] };

/** Decodes an SLA: the shape first (with unknown keys), then consistency; every problem with its field path. */
export function decodeSla(value: unknown, options: SlaCheckOptions = {}): SlaDecoded {
  const shape = SlaCodec.decode(value);
  const stray = strayKeys(value);
  if (isLeft(shape)) return { problems: [...stray, ...describeErrors(shape.left)] };
  const sla = shape.right;
  const problems = [...stray, ...consistency(sla, options)];
  return problems.length > 0 ? { problems } : { sla };
}

/** The loader's check: throws with `SLA "<name>": path: message; …` (or `an SLA: …` when it has no name). */
export function checkSla(value: unknown, options: SlaCheckOptions = {}): SlaDefinition {
  const decoded = decodeSla(value, options);
  if (decoded.sla) return decoded.sla;
  const name = typeof (value as { name?: unknown } | null)?.name === 'string' ? (value as { name: string }).name : '';
  throw new Error(`${name ? `SLA "${name}"` : 'an SLA'}: ${decoded.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function strayKeys(value: unknown): FieldProblem[] {
  const out: FieldProblem[] = [];
  const add = (codec: t.Mixed, object: unknown, path: string) => {
    for (const key of unknownKeys(codec, object)) out.push({ path: path ? `${path}.${key}` : key, message: `unknown key "${key}"` });
  };
  add(SlaCodec, value, '');
  if (!isObject(value)) return out;
  add(SlaRetryCodec, value.retry, 'retry');
  add(SlaWorkflowsCodec, value.workflows, 'workflows');
  if (Array.isArray(value.escalation)) value.escalation.forEach((rung, i) => add(EscalationRungCodec, rung, `escalation[${i}]`));
  return out;
}

function consistency(sla: SlaDefinition, options: SlaCheckOptions): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const { allowed, preferred } = sla.workflows;
  if (allowed.length === 0) problems.push({ path: 'workflows.allowed', message: 'must name at least one workflow' });
  duplicates(allowed).forEach((name) => problems.push({ path: 'workflows.allowed', message: `"${name}" is listed twice` }));
  duplicates(preferred).forEach((name) => problems.push({ path: 'workflows.preferred', message: `"${name}" is listed twice` }));
  preferred.forEach((name, i) => {
    if (!allowed.includes(name)) problems.push({ path: `workflows.preferred[${i}]`, message: `"${name}" is not in workflows.allowed` });
  });
  if (options.workflows) {
    const known = options.workflows;
    allowed.forEach((name, i) => {
      if (!known.has(name)) problems.push({ path: `workflows.allowed[${i}]`, message: `unknown workflow "${name}"` });
    });
  }

  if (sla.escalation.length === 0) problems.push({ path: 'escalation', message: 'needs at least one rung' });
  sla.escalation.forEach((rung, i) => {
    if (isBuiltinAction(rung.action)) return;
    const path = `escalation[${i}].action`;
    if (options.workflows && !options.workflows.has(rung.action)) {
      problems.push({ path, message: `unknown action "${rung.action}": neither a built-in action (${ESCALATION_ACTIONS.join(', ')}) nor a registered workflow` });
    } else if (!allowed.includes(rung.action)) {
      problems.push({ path, message: `workflow "${rung.action}" is not in workflows.allowed` });
    }
  });

  const total = sla.escalation.reduce((sum, rung) => sum + rung.budgetSeconds, 0);
  if (sla.deadlineSeconds !== null && total > sla.deadlineSeconds) {
    problems.push({
      path: 'escalation',
      message: `rung budgets add up to ${total} s, more than deadlineSeconds ${sla.deadlineSeconds}: the last rungs would start after the deadline has passed`,
    });
  }
  return problems;
}

export const isBuiltinAction = (action: string): action is EscalationAction => (ESCALATION_ACTIONS as readonly string[]).includes(action);

function duplicates(names: readonly string[]): string[] {
  return [...new Set(names.filter((name, i) => names.indexOf(name) !== i))];
}
