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
 */
import * as t from 'io-ts';
import { isRight } from 'fp-ts/Either';
import { parseAllDocuments } from 'yaml';
import { assign, setup } from 'xstate';
import type { AnyStateMachine } from 'xstate';
import { describeErrors, FailureKind, Identifier, Outcome, unknownKeys } from '../domain';
import type { FieldProblem } from '../domain';
import { ENGINE_EVENTS, stepActor, WAITING_TAG } from './api';
import type { RecoveryInput, RecoveryOutput, WorkflowDefinition } from './api';
import { buildMachine, validateMachine } from './validate-machine';

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
type StateSpec = t.TypeOf<typeof State>;
type TargetSpec = t.TypeOf<typeof Target>;
type GuardSpec = t.TypeOf<typeof Guard>;

/** What the compiled machine keeps. JSON only: the runner persists snapshots. */
export interface DeclarativeContext {
  readonly recovery: RecoveryInput;
  readonly results: Record<string, unknown>;
  readonly error?: { readonly code: string; readonly message: string };
}

export type CompileResult =
  | { readonly workflow: WorkflowDefinition; readonly problems: [] }
  | { readonly workflow?: undefined; readonly problems: FieldProblem[] };

export interface CompileOptions {
  /** Registered step names; when given, `invoke.step` must name one. */
  readonly steps?: ReadonlySet<string>;
}

export type ParseResult = { readonly value: unknown; readonly reason?: undefined } | { readonly value?: undefined; readonly reason: string };

// ---------------------------------------------------------------------------------------------------------
// Parsing

/** Parses a workflow file's text; a syntax error comes back as a reason naming the line. */
export function parseWorkflowText(text: string, format: 'yaml' | 'json'): ParseResult {
  if (format === 'json') {
    try {
      return { value: JSON.parse(text) as unknown };
    } catch (err) {
      return { reason: `JSON syntax error${jsonLocation(text, err)}: ${(err as Error).message}` };
    }
  }
  const docs = parseAllDocuments(text);
  if (docs.length === 0) return { reason: 'empty file: expected one workflow' };
  if (docs.length > 1) return { reason: `${docs.length} YAML documents: write one workflow per file` };
  const [doc] = docs;
  const error = doc.errors[0];
  if (error) {
    const where = error.linePos ? ` at line ${error.linePos[0].line}, column ${error.linePos[0].col}` : '';
    const message = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    return { reason: `YAML syntax error${where}: ${message}` };
  }
  return { value: doc.toJS() as unknown };
}

/** Node's JSON.parse names a character offset; operators want a line. */
function jsonLocation(text: string, err: unknown): string {
  const match = /position (\d+)/.exec(err instanceof Error ? err.message : '');
  if (!match) return '';
  const before = text.slice(0, Number(match[1]));
  const line = before.split('\n').length;
  return ` at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
}

// ---------------------------------------------------------------------------------------------------------
// Checking

/** Decodes, checks and compiles a parsed workflow document. Every problem carries a field path. */
export function compileWorkflow(value: unknown, options: CompileOptions = {}): CompileResult {
  const decoded = DeclarativeWorkflow.decode(value);
  if (!isRight(decoded)) return { problems: describeErrors(decoded.left) };
  const strict = strictProblems(DeclarativeWorkflow, value, '');
  if (strict.length > 0) return { problems: strict };
  const spec = decoded.right;
  const problems = checkWorkflow(spec, options);
  if (problems.length > 0) return { problems };

  const built = buildMachine(() => buildDeclarativeMachine(spec));
  if (!built.machine) return { problems: built.problems };
  // Defence in depth: the compiled machine must pass the same checks as a hand-written one.
  const machineProblems = validateMachine(built.machine, options.steps ?? referencedSteps(spec));
  if (machineProblems.length > 0) return { problems: machineProblems };
  return {
    workflow: { name: spec.name, description: spec.description, handles: spec.handles, machine: built.machine },
    problems: [],
  };
}

/** io-ts ignores unknown keys; a misspelt `onDnoe` must not silently become a state that never leaves. */
function strictProblems(codec: t.Mixed, value: unknown, path: string): FieldProblem[] {
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
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

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

function checkWorkflow(spec: DeclarativeWorkflow, options: CompileOptions): FieldProblem[] {
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

interface Reference {
  readonly root: string;
  readonly segments: readonly string[];
}

function parseReference(text: string): Reference | undefined {
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

function referencedSteps(spec: DeclarativeWorkflow): ReadonlySet<string> {
  return new Set(Object.values(spec.states).flatMap((s) => (s.invoke ? [s.invoke.step] : [])));
}

// ---------------------------------------------------------------------------------------------------------
// Compiling. Guards and actions are named implementations with JSON params, so the machine config stays data.

interface GuardParams {
  /** The state whose step exit is being decided: its output (or error) is not in context yet. */
  readonly state?: string;
  readonly phase?: 'done' | 'error';
  readonly ref: Reference;
  readonly op: 'equals' | 'notEquals' | 'exists';
  readonly value?: unknown;
}

type AnyEvent = { type: string; output?: unknown; error?: unknown; [key: string]: unknown };

function buildDeclarativeMachine(spec: DeclarativeWorkflow): AnyStateMachine {
  const steps = [...referencedSteps(spec)];
  const defaults = spec.params ?? {};
  const machineSetup = setup({
    types: {} as { context: DeclarativeContext; input: RecoveryInput; output: RecoveryOutput; events: AnyEvent },
    // Placeholders, so the machine names its steps; the runner binds the real ones with `machine.provide`.
    actors: Object.fromEntries(steps.map((step) => [step, stepActor<unknown, unknown>(step)])),
    actions: {
      recordResult: assign(({ context, event }, params: { state: string }) => ({
        results: { ...context.results, [params.state]: toJson(event.output) },
      })),
      recordError: assign(({ event }) => ({ error: errorFields(event.error) })),
    },
    guards: {
      when: ({ context, event }, params: GuardParams) => evaluateGuard(context, event, params),
    },
  });
  const config = {
    id: spec.name,
    context: ({ input }: { input: RecoveryInput }): DeclarativeContext => ({
      recovery: { ...input, params: { ...defaults, ...input.params } },
      results: {},
    }),
    initial: spec.initial,
    // xstate only reports a machine output when the root maps it: pass the final state's output through.
    output: ({ event }: { event: { output?: unknown } }) => event.output as RecoveryOutput,
    states: Object.fromEntries(Object.entries(spec.states).map(([name, state]) => [name, compileState(name, state)])),
  };
  // The config is generated from a document already checked above; xstate's inferred config type cannot
  // follow a data-driven shape, so it is handed over untyped.
  return machineSetup.createMachine(config as never) as unknown as AnyStateMachine;
}

function compileState(name: string, state: StateSpec): Record<string, unknown> {
  if (state.type === 'final') {
    const { outcome, reason } = state;
    return {
      type: 'final',
      ...(state.description ? { description: state.description } : {}),
      ...(state.tags ? { tags: state.tags } : {}),
      output: ({ context }: { context: DeclarativeContext }): RecoveryOutput => {
        const resolved = reason === undefined ? undefined : resolveValue(reason, scopeOf(context));
        return {
          outcome: outcome as Outcome,
          ...(resolved === undefined || resolved === null ? {} : { reason: String(resolved) }),
          result: context.results,
        };
      },
    };
  }
  const node: Record<string, unknown> = {};
  if (state.description) node.description = state.description;
  if (state.tags) node.tags = state.tags;
  if (state.invoke) {
    const input = state.invoke.input ?? {};
    node.invoke = {
      id: name,
      src: state.invoke.step,
      input: ({ context }: { context: DeclarativeContext }) => resolveValue(input, scopeOf(context)),
      onDone: transitions(state.onDone, { state: name, phase: 'done' }, [{ type: 'recordResult', params: { state: name } }]),
      onError: transitions(state.onError, { state: name, phase: 'error' }, [{ type: 'recordError' }]),
    };
  }
  if (state.on) node.on = mapValues(state.on, (value) => transitions(value, {}, []));
  if (state.after) {
    node.after = Object.fromEntries(Object.entries(state.after).map(([delay, value]) => [parseDelay(delay), transitions(value, {}, [])]));
  }
  if (state.always) node.always = transitions(state.always, {}, []);
  return node;
}

function transitions(value: TargetSpec | undefined, origin: Pick<GuardParams, 'state' | 'phase'>, actions: unknown[]): unknown[] | undefined {
  if (value === undefined) return undefined;
  const choices = typeof value === 'string' ? [{ target: value }] : value;
  return choices.map((choice) => ({
    target: choice.target,
    actions,
    ...(choice.when ? { guard: { type: 'when', params: guardParams(choice.when, origin) } } : {}),
  }));
}

function guardParams(guard: GuardSpec, origin: Pick<GuardParams, 'state' | 'phase'>): GuardParams {
  const ref = parseReference(guard.path) as Reference;
  if ('equals' in guard) return { ...origin, ref, op: 'equals', value: guard.equals };
  if ('notEquals' in guard) return { ...origin, ref, op: 'notEquals', value: guard.notEquals };
  return { ...origin, ref, op: 'exists', value: guard.exists };
}

// ---------------------------------------------------------------------------------------------------------
// Runtime helpers, called by the compiled machine.

type Scope = Record<string, unknown>;

function scopeOf(context: DeclarativeContext, event?: AnyEvent): Scope {
  const { recovery } = context;
  return {
    subject: recovery.subject,
    params: recovery.params,
    recovery: { id: recovery.recoveryId, incidentId: recovery.incidentId, workflow: recovery.workflow },
    results: context.results,
    error: context.error,
    event,
  };
}

function evaluateGuard(context: DeclarativeContext, event: AnyEvent, params: GuardParams): boolean {
  let scope = scopeOf(context, event);
  // Guards run before the transition's actions, so the exiting step's output/error is taken from the event.
  if (params.phase === 'done' && params.state) scope = { ...scope, results: { ...context.results, [params.state]: toJson(event.output) } };
  if (params.phase === 'error') scope = { ...scope, error: errorFields(event.error) };
  const actual = lookup(scope, params.ref);
  switch (params.op) {
    case 'equals':
      return jsonEqual(actual, params.value);
    case 'notEquals':
      return !jsonEqual(actual, params.value);
    case 'exists':
      return (actual !== undefined && actual !== null) === (params.value as boolean);
  }
}

function resolveValue(value: unknown, scope: Scope): unknown {
  if (typeof value === 'string') {
    if (value.startsWith('$$')) return value.slice(1);
    if (!value.startsWith('$')) return value;
    const ref = parseReference(value);
    return ref ? toJson(lookup(scope, ref)) : undefined;
  }
  if (Array.isArray(value)) return value.map((item) => resolveValue(item, scope) ?? null);
  if (isObject(value)) {
    // An unset reference drops the key, so a step's own default applies instead of an explicit undefined.
    const entries = Object.entries(value).map(([key, item]) => [key, resolveValue(item, scope)] as const);
    return Object.fromEntries(entries.filter(([, item]) => item !== undefined));
  }
  return value;
}

function lookup(scope: Scope, ref: Reference): unknown {
  let current: unknown = scope[ref.root];
  for (const segment of ref.segments) {
    if (Array.isArray(current) && /^\d+$/.test(segment)) current = current[Number(segment)];
    else if (isObject(current)) current = current[segment];
    else return undefined;
  }
  return current;
}

/** Context is persisted: keep only what JSON keeps (a Date becomes its ISO string, functions disappear). */
function toJson(value: unknown): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch {
    return String(value);
  }
}

function errorFields(error: unknown): { code: string; message: string } {
  const fields = isObject(error) || error instanceof Error ? (error as { code?: unknown; message?: unknown }) : {};
  return {
    code: typeof fields.code === 'string' ? fields.code : 'RSR_INTERNAL',
    message: typeof fields.message === 'string' ? fields.message : String(error),
  };
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  return keysA.every((key) => jsonEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
}

function mapValues<A, B>(record: Record<string, A>, fn: (value: A) => B): Record<string, B> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, fn(value)]));
}
