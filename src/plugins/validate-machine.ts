/**
 * Static checks of a workflow machine, run at load time so a typo in a step name or a dead branch refuses
 * the workflow on start-up instead of stranding a recovery at 3 a.m.
 *
 * Everything here reads xstate v5's StateNode graph (`root`, `states`, `transitions`, `always`, `initial`,
 * `invoke`); nothing creates an actor, so a machine's entry actions and actors never run.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { WAITING_TAG } from './api';

export interface MachineProblem {
  /** Where in the machine: `(root)`, `states.fence`, `states.fence.invoke[0]`. */
  readonly path: string;
  readonly message: string;
}

export type BuildResult = { readonly machine: AnyStateMachine; readonly problems: [] } | { readonly machine?: undefined; readonly problems: MachineProblem[] };

/** Duck-typed: a plugin folder may bring its own copy of xstate, so `instanceof StateMachine` would lie. */
export function isMachine(value: unknown): value is AnyStateMachine {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return (
    typeof candidate.root === 'object' &&
    candidate.root !== null &&
    typeof candidate.provide === 'function' &&
    typeof candidate.getInitialSnapshot === 'function'
  );
}

/** The dotted path operators see in messages: `states.a.states.b`, or `(root)`. */
export function statePath(node: AnyStateNode): string {
  return node.path.length === 0 ? '(root)' : node.path.map((key) => `states.${key}`).join('.');
}

/**
 * Builds a machine, turning construction errors (bad targets, a compound state without `initial`) into an
 * "invalid machine" problem. xstate resolves some of these lazily, so the graph is probed here as well.
 */
export function buildMachine(build: () => unknown): BuildResult {
  let machine: unknown;
  try {
    machine = build();
  } catch (err) {
    return { problems: [invalid(err)] };
  }
  if (!isMachine(machine)) return { problems: [{ path: '(root)', message: 'invalid machine: not an xstate machine' }] };
  try {
    for (const node of allNodes(machine.root)) probe(node);
  } catch (err) {
    return { problems: [invalid(err)] };
  }
  return { machine, problems: [] };
}

/**
 * Every problem with the machine against the given step names; an empty list means the runner can bind
 * and run it. Checks: string `invoke.src` names a step, the machine has a final state and an `output`,
 * every state (final ones included) is reachable from the initial state.
 */
export function validateMachine(machine: unknown, steps: ReadonlySet<string>): MachineProblem[] {
  const built = buildMachine(() => machine);
  if (!built.machine) return built.problems;
  try {
    return [...unknownSteps(built.machine.root, steps), ...timersWhileParked(built.machine.root), ...completion(built.machine)];
  } catch (err) {
    return [invalid(err)];
  }
}

function unknownSteps(root: AnyStateNode, steps: ReadonlySet<string>): MachineProblem[] {
  const problems: MachineProblem[] = [];
  for (const node of allNodes(root)) {
    // The raw config, not `node.invoke`: xstate renames inline logic to `xstate.invoke.*`, which is no step.
    rawInvokes(node).forEach((invoke, i) => {
      const src = (invoke as { src?: unknown } | undefined)?.src;
      if (typeof src === 'string' && !steps.has(src)) {
        problems.push({ path: `${invokePath(node)}[${i}]`, message: `unknown step "${src}"` });
      }
    });
  }
  return problems;
}

/**
 * A state tagged `waiting` parks the recovery: the machine is stopped until an outside event wakes it, so an
 * `after` timer there would never fire. Refused rather than left to hang; deadlines belong to the SLA layer,
 * which schedules them as delayed jobs.
 */
function timersWhileParked(root: AnyStateNode): MachineProblem[] {
  const problems: MachineProblem[] = [];
  for (const node of allNodes(root)) {
    if (!node.tags.includes(WAITING_TAG) || node.after.length === 0) continue;
    problems.push({
      path: statePath(node),
      message: `state "${node.key}" is tagged "${WAITING_TAG}" and uses \`after\`: a parked recovery runs no timers, so the delay would never fire`,
    });
  }
  return problems;
}

function completion(machine: AnyStateMachine): MachineProblem[] {
  const root = machine.root;
  const problems: MachineProblem[] = [];
  if (!canFinish(root, () => true)) {
    problems.push({ path: '(root)', message: 'no final state: the machine can never finish' });
    return problems;
  }
  if (root.config.output === undefined) {
    problems.push({
      path: '(root)',
      message: 'no output: set the machine\'s `output` (e.g. `({ event }) => event.output`) so final states report a RecoveryOutput',
    });
  }
  const reached = reachable(root);
  for (const node of allNodes(root)) {
    // Report only the outermost unreachable state: its children are unreachable by implication.
    if (reached.has(node) || node.type === 'history' || (node.parent && !reached.has(node.parent))) continue;
    const what = node.type === 'final' ? 'final state' : 'state';
    problems.push({ path: statePath(node), message: `${what} "${node.key}" is unreachable from the initial state` });
  }
  if (!canFinish(root, (node) => reached.has(node))) {
    problems.push({ path: '(root)', message: 'no reachable final state: the machine can never finish' });
  }
  return problems;
}

/** A compound finishes through one of its final children; a parallel state when every region finishes. */
function canFinish(node: AnyStateNode, counts: (node: AnyStateNode) => boolean): boolean {
  const children = Object.values(node.states) as AnyStateNode[];
  if (node.type === 'parallel') return children.every((child) => canFinish(child, counts));
  return children.some((child) => child.type === 'final' && counts(child));
}

/**
 * States the machine can be in, ignoring guards (an over-approximation: a guard never makes a state
 * reachable, so "unreachable" here is certain). A state is active with all its ancestors; entering a compound
 * enters its initial child, entering a parallel state enters every region.
 */
function reachable(root: AnyStateNode): Set<AnyStateNode> {
  const reached = new Set<AnyStateNode>();
  const expanded = new Set<AnyStateNode>();
  const queue: AnyStateNode[] = [];

  const mark = (node: AnyStateNode) => {
    for (let n: AnyStateNode | undefined = node; n; n = n.parent) {
      if (reached.has(n)) continue;
      reached.add(n);
      queue.push(n);
    }
  };
  const enter = (node: AnyStateNode): void => {
    if (node.type === 'history') {
      // A history state restores an earlier configuration (already reached) or its parent's default.
      if (node.parent) enter(node.parent);
      return;
    }
    mark(node);
    if (expanded.has(node)) return;
    expanded.add(node);
    if (node.type === 'compound') node.initial.target.forEach(enter);
    else if (node.type === 'parallel') (Object.values(node.states) as AnyStateNode[]).forEach(enter);
  };

  enter(root);
  while (queue.length > 0) {
    const node = queue.shift() as AnyStateNode;
    // `transitions` holds `on`, invoke onDone/onError (`xstate.done.actor.*`), `after` and the state's onDone.
    const transitions = [...node.transitions.values()].flat().concat(node.always ?? []);
    for (const transition of transitions) for (const target of transition.target ?? []) enter(target);
  }
  return reached;
}

function* allNodes(root: AnyStateNode): Generator<AnyStateNode> {
  yield root;
  for (const child of Object.values(root.states) as AnyStateNode[]) yield* allNodes(child);
}

/** Touches the lazily resolved parts of a node, which is where xstate reports some configuration errors. */
function probe(node: AnyStateNode): void {
  if (node.type === 'compound') {
    if (node.initial.target.length === 0) throw new Error(`compound state ${statePath(node)} has no initial state`);
  }
  void node.invoke;
  void node.after;
  if (!(node.transitions instanceof Map)) throw new Error(`state ${statePath(node)} has no transitions table`);
}

function rawInvokes(node: AnyStateNode): unknown[] {
  const invoke = (node.config as { invoke?: unknown }).invoke;
  return invoke === undefined ? [] : Array.isArray(invoke) ? invoke : [invoke];
}

function invokePath(node: AnyStateNode): string {
  return node.path.length === 0 ? 'invoke' : `${statePath(node)}.invoke`;
}

function invalid(err: unknown): MachineProblem {
  const message = err instanceof Error ? err.message : String(err);
  return { path: '(root)', message: `invalid machine: ${message.split('\n').join(' ')}` };
}
