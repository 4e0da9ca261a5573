/**
 * Declarative workflows: a YAML or JSON file an operator writes by hand, compiled to an ordinary xstate
 * machine so the runner treats it exactly like a TypeScript workflow. The format is deliberately small (flat
 * states, step invocations, simple guards); anything cleverer belongs in a TypeScript plugin.
 *
 * ```yaml
 * name: reboot-then-notify
 * description: Hard-reboot a crashed VM, page a human if it does not come back
 * handles: [instance-down]
 * initial: reboot
 * states:
 *   reboot:
 *     invoke: { step: restartInstance, input: { instance: $subject.instance, mode: hard-reboot } }
 *     onDone:
 *       - { target: done, when: { path: $results.reboot.issued, equals: true } }
 *       - { target: done }
 *     onError: escalate
 *   escalate:
 *     invoke: { step: notify, input: { severity: critical, topic: incident.escalated, summary: VM did not come back } }
 *     onDone: escalated
 *     onError: escalated
 *   done: { type: final, outcome: recovered }
 *   escalated: { type: final, outcome: escalated, reason: $error.message }
 * ```
 *
 * References (a whole string value starting with `$`; write `$$` for a literal leading `$`):
 * `$subject.host`, `$subject.instance`, `$params.<key>`, `$recovery.id|incidentId|workflow`,
 * `$results.<state>[.<field>…]` (the output of that state's step), `$error.code|message` (the last step
 * error), and in guards only `$event.<field>` (e.g. `$event.decision` for `operator.decision`).
 *
 * This file is the format (codecs, checks, references, delays); ./declarative compiles it to xstate.
 */
import * as t from 'io-ts';
import { isRight } from 'fp-ts/Either';
import { FailureKind, Identifier, Outcome, unknownKeys } from '../domain';
import type { FieldProblem } from '../domain';
import { ENGINE_EVENTS, WAITING_TAG } from './api';

// ---------------------------------------------------------------------------------------------------------
// The format, as io-ts codecs. Unknown keys are reported separately (io-ts ignores them) by `strictProblems`.

const Guard = t.intersection(
  [t.type({ path: t.string }), t.partial({ equals: t.unknown, notEquals: t.unknown, exists: t.boolean })],
  'Guard ({path, equals | notEquals | exists})',
);
const Choice = t.intersection([t.type({ target: t.string }), t.partial({ when: Guard })], 'Choice ({target, when?})');
const Target = t.union([t.string, t.array(Choice)], 'Target (a state name, or a list of {target, when?})');
const Invoke = t.intersection(
  [t.type({ step: t.string }), t.partial({ input: t.record(t.string, t.unknown) })],
  'Invoke ({step, input?})',
);
const State = t.partial(
  {
    description: t.string,
    type: t.keyof({ final: null }, '"final"'),
    invoke: Invoke,
    onDone: Target,
    onError: Target,
    on: t.record(t.string, Target),
    after: t.record(t.string, Target),
    always: Target,
    tags: t.array(t.string),
    outcome: Outcome,
    reason: t.string,
  },
  'State',
);
export const DeclarativeWorkflow = t.intersection(
  [
    t.type({ name: Identifier, description: t.string, handles: t.array(FailureKind), initial: t.string, states: t.record(t.string, State) }),
    t.partial({ params: t.record(t.string, t.unknown) }),
  ],
  'DeclarativeWorkflow',
);
export type DeclarativeWorkflow = t.TypeOf<typeof DeclarativeWorkflow>;
export type StateSpec = t.TypeOf<typeof State>;
export type TargetSpec = t.TypeOf<typeof Target>;
export type GuardSpec = t.TypeOf<typeof Guard>;

export interface CompileOptions {
  /** Registered step names; when given, `invoke.step` must name one. */
  readonly steps?: ReadonlySet<string>;
}

// ---------------------------------------------------------------------------------------------------------
// Checking

/** io-ts ignores unknown keys; a misspelt `onDnoe` must not silently become a state that never leaves. */
export function strictProblems(codec: t.Mixed, value: unknown, path: string): FieldProblem[] {
  if (codec instanceof t.UnionType) {
    const branch = (codec.types as t.Mixed[]).find((c) => isRight(c.decode(value)));
    return branch ? strictProblems(branch, value, path) : [];
  }
  if (codec instanceof t.ArrayType) {
    return Array.isArray(value) ? value.flatMap((item, i) => strictProblems(codec.type as t.Mixed, item, `${path}[${i}]`)) : [];
  }
  if (!isObject(value)) return [];
  if (codec instanceof t.DictionaryType) {
    return Object.entries(value).flatMap(([key, item]) => strictProblems(codec.codomain as t.Mixed, item, join(path, key)));
  }
  const props = propsOf(codec);
  if (!props) return [];
  const unknown = unknownKeys(codec, value).map((key) => ({ path: join(path, key), message: `unknown key "${key}"` }));
  const nested = Object.entries(value).flatMap(([key, item]) => (props[key] ? strictProblems(props[key], item, join(path, key)) : []));
  return [...unknown, ...nested];
}

function propsOf(codec: t.Mixed): Record<string, t.Mixed> | undefined {
  if (codec instanceof t.InterfaceType || codec instanceof t.PartialType) return codec.props as Record<string, t.Mixed>;
  if (codec instanceof t.IntersectionType) {
    return Object.assign({}, ...(codec.types as t.Mixed[]).map((c) => propsOf(c) ?? {})) as Record<string, t.Mixed>;
  }
  return undefined;
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);
export const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const EVENTS = new Set<string>(Object.values(ENGINE_EVENTS));
const REFERENCE = /^\$([A-Za-z]+)((?:\.[A-Za-z0-9_-]+)*)$/;
const FIELDS: Record<string, ReadonlySet<string> | 'any'> = {
  subject: new Set(['host', 'instance']),
  params: 'any',
  recovery: new Set(['id', 'incidentId', 'workflow']),
  results: 'any',
  error: new Set(['code', 'message']),
  event: 'any',
};
export function checkWorkflow(spec: DeclarativeWorkflow, options: CompileOptions): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const names = new Set(Object.keys(spec.states));
  const withInvoke = new Set(Object.entries(spec.states).filter(([, s]) => s.invoke).map(([name]) => name));
  const refs: RefContext = { spec, withInvoke, problems };

  if (names.size === 0) problems.push({ path: 'states', message: 'no states' });
  if (!names.has(spec.initial)) problems.push({ path: 'initial', message: `unknown state "${spec.initial}"` });

  for (const [name, state] of Object.entries(spec.states)) {
    const at = `states.${name}`;
    const target = (path: string, value: TargetSpec | undefined, needsFallback: boolean) =>
      value !== undefined && checkTarget(path, value, names, needsFallback, refs);

    if (state.type === 'final') {
      if (state.outcome === undefined) problems.push({ path: `${at}.outcome`, message: 'a final state needs an outcome' });
      for (const key of ['invoke', 'onDone', 'onError', 'on', 'after', 'always'] as const) {
        if (state[key] !== undefined) problems.push({ path: `${at}.${key}`, message: `a final state cannot have "${key}"` });
      }
      if (state.reason !== undefined) checkValue(`${at}.reason`, state.reason, refs);
      continue;
    }
    for (const key of ['outcome', 'reason'] as const) {
      if (state[key] !== undefined) problems.push({ path: `${at}.${key}`, message: `only a final state has "${key}" (add type: final)` });
    }
    if (state.invoke) {
      const step = state.invoke.step;
      if (options.steps && !options.steps.has(step)) problems.push({ path: `${at}.invoke.step`, message: `unknown step "${step}"` });
      for (const [key, item] of Object.entries(state.invoke.input ?? {})) checkValue(`${at}.invoke.input.${key}`, item, refs);
      // A step either finishes or fails; without both exits the recovery would stop without an outcome.
      if (state.onDone === undefined) problems.push({ path: `${at}.onDone`, message: 'a state that invokes a step needs onDone' });
      if (state.onError === undefined) problems.push({ path: `${at}.onError`, message: 'a state that invokes a step needs onError' });
    } else {
      for (const key of ['onDone', 'onError'] as const) {
        if (state[key] !== undefined) problems.push({ path: `${at}.${key}`, message: `"${key}" needs an invoke in the same state` });
      }
    }
    target(`${at}.onDone`, state.onDone, true);
    target(`${at}.onError`, state.onError, true);
    target(`${at}.always`, state.always, true);
    for (const [event, value] of Object.entries(state.on ?? {})) {
      if (!EVENTS.has(event)) {
        problems.push({ path: `${at}.on.${event}`, message: `unknown event "${event}" (the engine sends ${[...EVENTS].join(', ')})` });
      }
      target(`${at}.on.${event}`, value, false);
    }
    for (const [delay, value] of Object.entries(state.after ?? {})) {
      if (parseDelay(delay) === undefined) {
        problems.push({ path: `${at}.after.${delay}`, message: `invalid delay "${delay}" (milliseconds, or a whole number with ms, s, m or h)` });
      }
      target(`${at}.after.${delay}`, value, false);
    }
    if (state.tags?.includes(WAITING_TAG) && state.on === undefined) {
      problems.push({ path: `${at}.tags`, message: `a "${WAITING_TAG}" state needs an "on" transition to leave it` });
    }
    if (!state.invoke && !state.on && !state.after && !state.always) {
      problems.push({ path: at, message: 'a non-final state needs invoke, on, after or always: it would never be left' });
    }
  }
  return problems;
}

interface RefContext {
  readonly spec: DeclarativeWorkflow;
  readonly withInvoke: ReadonlySet<string>;
  readonly problems: FieldProblem[];
}

function checkTarget(path: string, value: TargetSpec, names: ReadonlySet<string>, needsFallback: boolean, refs: RefContext): void {
  const { problems } = refs;
  if (typeof value === 'string') {
    if (!names.has(value)) problems.push({ path, message: `unknown state "${value}"` });
    return;
  }
  if (value.length === 0) problems.push({ path, message: 'an empty list of choices' });
  value.forEach((choice, i) => {
    const at = `${path}[${i}]`;
    if (!names.has(choice.target)) problems.push({ path: `${at}.target`, message: `unknown state "${choice.target}"` });
    if (choice.when) checkGuard(`${at}.when`, choice.when, refs);
    else if (i < value.length - 1) problems.push({ path: at, message: 'a choice without "when" must be the last one (later choices never apply)' });
  });
  // No fallback on a step's exit means "no choice matched, so stay here forever" once the step is gone.
  if (needsFallback && value.length > 0 && value[value.length - 1].when !== undefined) {
    problems.push({ path: `${path}[${value.length - 1}]`, message: 'the last choice needs no "when": it is the fallback when no guard matches' });
  }
}

function checkGuard(path: string, guard: GuardSpec, refs: RefContext): void {
  const ops = (['equals', 'notEquals', 'exists'] as const).filter((op) => op in guard);
  if (ops.length !== 1) refs.problems.push({ path, message: 'a guard needs exactly one of equals, notEquals, exists' });
  if (!guard.path.startsWith('$') || guard.path.startsWith('$$')) {
    refs.problems.push({ path: `${path}.path`, message: `expected a reference such as $results.<state>.<field>, got "${guard.path}"` });
    return;
  }
  checkReference(`${path}.path`, guard.path, refs, true);
}

/** Walks an input value (or a final state's reason) for references. */
function checkValue(path: string, value: unknown, refs: RefContext): void {
  if (typeof value === 'string') {
    if (value.startsWith('$') && !value.startsWith('$$')) checkReference(path, value, refs, false);
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => checkValue(`${path}[${i}]`, item, refs));
  } else if (isObject(value)) {
    for (const [key, item] of Object.entries(value)) checkValue(join(path, key), item, refs);
  }
}

function checkReference(path: string, text: string, refs: RefContext, inGuard: boolean): void {
  const { problems, spec, withInvoke } = refs;
  const ref = parseReference(text);
  const fields = ref && FIELDS[ref.root];
  if (!ref || !fields || (ref.root === 'event' && !inGuard)) {
    const roots = Object.keys(FIELDS).filter((root) => inGuard || root !== 'event').map((root) => `$${root}`);
    problems.push({ path, message: `unknown reference "${text}" (use ${roots.join(', ')})` });
    return;
  }
  const [first] = ref.segments;
  if (fields !== 'any' && first !== undefined && !fields.has(first)) {
    problems.push({ path, message: `unknown reference "${text}": $${ref.root} has ${[...fields].join(', ')}` });
  } else if (ref.root === 'results' && first !== undefined && !withInvoke.has(first)) {
    problems.push({ path, message: `unknown reference "${text}": no state "${first}" invokes a step` });
  } else if (ref.root === 'params' && spec.params && first !== undefined && !(first in spec.params)) {
    problems.push({ path, message: `unknown reference "${text}": params declares ${Object.keys(spec.params).join(', ') || 'nothing'}` });
  }
}

export interface Reference {
  readonly root: string;
  readonly segments: readonly string[];
}
export function parseReference(text: string): Reference | undefined {
  const match = REFERENCE.exec(text);
  if (!match) return undefined;
  return { root: match[1], segments: match[2] ? match[2].slice(1).split('.') : [] };
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `30000`, `30s`, `5m`, `1h` → milliseconds; anything else (or zero) is refused. */
export function parseDelay(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(text);
  if (!match) return undefined;
  const ms = Number(match[1]) * UNITS[match[2] ?? 'ms'];
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined;
}
export function referencedSteps(spec: DeclarativeWorkflow): ReadonlySet<string> {
  return new Set(Object.values(spec.states).flatMap((s) => (s.invoke ? [s.invoke.step] : [])));
}
