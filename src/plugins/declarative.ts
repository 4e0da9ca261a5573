/**
 * Declarative workflows compiled to ordinary xstate machines, so the runner treats them exactly like a
 * TypeScript workflow. The document format (with a YAML example and the reference syntax) is in
 * ./declarative-format.
 */
import { isRight } from 'fp-ts/Either';
import { parseAllDocuments } from 'yaml';
import { assign, setup } from 'xstate';
import type { AnyStateMachine } from 'xstate';
import { describeErrors, Outcome } from '../domain';
import type { FieldProblem } from '../domain';
import { stepActor } from './api';
import type { RecoveryInput, RecoveryOutput, WorkflowDefinition } from './api';
import { checkWorkflow, DeclarativeWorkflow, isObject, parseDelay, parseReference, referencedSteps, strictProblems } from './declarative-format';
import type { CompileOptions, GuardSpec, Reference, StateSpec, TargetSpec } from './declarative-format';
import { buildMachine, validateMachine } from './validate-machine';

export { DeclarativeWorkflow, parseDelay } from './declarative-format';
export type { CompileOptions } from './declarative-format';

/** What the compiled machine keeps. JSON only: the runner persists snapshots. */
export interface DeclarativeContext {
  readonly recovery: RecoveryInput;
  readonly results: Record<string, unknown>;
  readonly error?: { readonly code: string; readonly message: string };
}

export type CompileResult =
  | { readonly workflow: WorkflowDefinition; readonly problems: [] }
  | { readonly workflow?: undefined; readonly problems: FieldProblem[] };

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
// Checking (the document rules are in ./declarative-format) and compiling

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
