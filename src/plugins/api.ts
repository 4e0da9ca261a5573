/**
 * The one module plugin authors import. A plugin contributes workflows, steps, SLAs, drivers and notifiers
 * through `definePlugin`; the loader checks and registers them.
 *
 * The split is Temporal's: a workflow is a pure xstate machine that only *names* steps (`invoke: {src}`);
 * a step is the idempotent side effect, bound to the machine by the runner with `machine.provide`.
 */
import type * as t from 'io-ts';
import type { AnyStateMachine } from 'xstate';
import { fromPromise } from 'xstate';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock, FailureKind, Outcome, RecoverySubject } from '../domain';
import { nonRetryable } from '../domain';

/** Plugin authors throw these: `retryable` errors are retried by the engine, the others go to onError. */
export { nonRetryable, retryable, ResurrectError } from '../domain';
import type { CloudDriver } from '../drivers/cloud/port';
import type { FenceReport, FencingDriver } from '../drivers/fencing/port';
import type { Notification, Notifier } from '../drivers/notify/port';
import type { Keys } from '../engine/keys';
import type { SlaDefinition } from './sla-codec';

export interface Drivers {
  readonly cloud: CloudDriver;
  readonly fencing: FencingDriver;
  readonly notifier: Notifier;
}

/** What the runner passes a machine as `input`, and what it keeps in the recovery record. */
export interface RecoveryInput {
  readonly recoveryId: string;
  readonly incidentId: string;
  readonly workflow: string;
  readonly subject: RecoverySubject;
  readonly params: Record<string, unknown>;
}

/** A machine's final state reports this as its `output`; the runner stores it as the recovery's outcome. */
export interface RecoveryOutput {
  readonly outcome: Outcome;
  readonly reason?: string;
  readonly result?: Record<string, unknown>;
}

export interface ChildSpec {
  /** Unique within the parent, stable across retries (e.g. the instance id): makes the fan-out idempotent. */
  readonly key: string;
  readonly workflow: string;
  readonly subject: RecoverySubject;
  readonly params?: Record<string, unknown>;
}

export interface ChildResult {
  readonly recoveryId: string;
  readonly key: string;
  readonly subject: RecoverySubject;
  readonly outcome: Outcome;
  readonly reason?: string;
  readonly result?: Record<string, unknown>;
  readonly attempts: number;
  readonly seconds: number;
}

export interface FenceEvidence {
  readonly host: string;
  readonly at: number;
  /** `fence-agent`, `operator`, … */
  readonly by: string;
  readonly report?: FenceReport;
}

/** Engine services a step may use besides the drivers. All are durable (Redis) and idempotent. */
export interface StepEngine {
  /** Creates (once) and enqueues the child recoveries; returns their ids in the given order. */
  spawnChildren(children: readonly ChildSpec[]): Promise<string[]>;
  childResults(): Promise<ChildResult[]>;
  /** Durable proof that a host is powered off: the evacuate step refuses to act without it (invariant I1). */
  recordFence(evidence: FenceEvidence): Promise<void>;
  fenceEvidence(host: string): Promise<FenceEvidence | undefined>;
  /**
   * The host is about to be powered back on (a return to service): every fence evidence recorded for it until
   * now, by any incident, stops counting, so a later retry of an old evacuation finds none and refuses (I1),
   * and a retried fence fences again. Written before the power-on, so a crash in between loses nothing.
   */
  revokeFences(host: string): Promise<void>;
  /**
   * Optional: waits for this process's next turn to poll the cloud (`worker.pollsPerSecond`), so that many
   * recoveries waiting at once do not multiply the load on its API. `pollUntil` takes it before every poll
   * but the first.
   */
  pollTurn?(signal?: AbortSignal): Promise<void>;
  /** An extra audit line for this recovery, beside the transition records. */
  audit(message: string, details?: Record<string, unknown>): Promise<void>;
  notify(notification: Notification): Promise<void>;
}

export interface StepContext {
  readonly drivers: Drivers;
  readonly engine: StepEngine;
  readonly recovery: RecoveryInput;
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly log: Logger;
  /** 1 on the first run of this job, 2 on the first retry, … */
  readonly attempt: number;
  /** True on the job's last allowed attempt: a retryable error now goes to the machine's onError. */
  readonly lastAttempt: boolean;
}

export interface StepDefinition<I = any, O = any> {
  readonly name: string;
  readonly description: string;
  /** Validates the machine's input for this step before it runs. */
  readonly input?: t.Type<I, unknown, unknown>;
  /** A hung call fails the step (retryable RSR_STEP_TIMEOUT) instead of hanging the recovery. */
  readonly timeoutMs: number;
  run(input: I, context: StepContext): Promise<O>;
}

export interface WorkflowDefinition {
  /** kebab-case, unique across plugins. */
  readonly name: string;
  readonly description: string;
  /** Failure kinds this workflow is meant for (documentation and the default mapping). */
  readonly handles: readonly FailureKind[];
  readonly machine: AnyStateMachine;
  /** Set by the loader: the file the workflow came from. */
  readonly source?: string;
}

/**
 * A service level, as plugins contribute it: deadline (RTO), priority, retry budget, allowed and preferred
 * workflows and an escalation ladder. The shape is the io-ts codec in `sla-codec.ts`, checked at load. The
 * policy names one per recovery; see docs/writing-slas.md for what each field drives.
 */
export type { EscalationAction, EscalationRung, SlaDefinition, SlaRetry, SlaWorkflows } from './sla-codec';
export { ESCALATION_ACTIONS } from './sla-codec';

export type DriverKind = 'cloud' | 'fencing' | 'notifier';

/** What a driver factory gets besides its options. Redis is for drivers whose state must be shared by every
 * process (manual fencing confirmations); most drivers need only the logger and the clock. */
export interface DriverContext {
  readonly log: Logger;
  readonly clock: Clock;
  readonly redis?: Redis;
  readonly keys?: Keys;
}

export interface DriverFactory<T = unknown> {
  readonly kind: DriverKind;
  readonly name: string;
  create(config: Record<string, unknown>, context: DriverContext): T | Promise<T>;
}

export interface PluginDefinition {
  readonly name: string;
  readonly version?: string;
  readonly description?: string;
  readonly workflows?: readonly WorkflowDefinition[];
  readonly steps?: readonly StepDefinition[];
  readonly slas?: readonly SlaDefinition[];
  readonly drivers?: readonly DriverFactory[];
  readonly notifiers?: readonly DriverFactory<Notifier>[];
}

const PLUGIN_MARK = Symbol.for('resurrect.plugin');

export function definePlugin(plugin: PluginDefinition): PluginDefinition {
  return Object.assign(Object.create(null), plugin, { [PLUGIN_MARK]: true }) as PluginDefinition;
}

export function isPlugin(value: unknown): value is PluginDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[PLUGIN_MARK] === true;
}

export const defineStep = <I, O>(step: StepDefinition<I, O>): StepDefinition<I, O> => step;
export const defineWorkflow = (workflow: WorkflowDefinition): WorkflowDefinition => workflow;
export const defineSla = (sla: SlaDefinition): SlaDefinition => sla;

/**
 * A typed placeholder for a step inside `setup({actors})`: the machine knows the step's name and types, the
 * runner provides the implementation. Running a machine without `provide` fails loudly.
 */
export function stepActor<I, O>(name: string) {
  return fromPromise<O, I>(async () => {
    throw nonRetryable('RSR_STEP_UNKNOWN', `step "${name}" was not provided to the machine (run it through the engine)`);
  });
}

/** The tag a state carries when the machine waits for an outside event (children done, operator decision). */
export const WAITING_TAG = 'waiting';

/** Events the engine sends to machines. */
export const ENGINE_EVENTS = {
  childrenDone: 'children.done',
  operatorDecision: 'operator.decision',
  cancel: 'recovery.cancel',
} as const;

export type OperatorDecisionEvent = { type: 'operator.decision'; decision: 'approve' | 'deny' | 'resolve'; by: string; comment?: string };
export type ChildrenDoneEvent = { type: 'children.done' };
