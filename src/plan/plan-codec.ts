/**
 * The dry-run plan as data: what `resurrect plan --json` prints, what the running engine answers over the
 * control channel (decoded with this codec on the way in), and what the API will serve. Times are epoch ms.
 */
import * as t from 'io-ts';
import { FailureKind } from '../domain';
import { PlacementModeCodec } from '../placement/placement';

const nullable = <C extends t.Mixed>(codec: C) => t.union([codec, t.null]);

/** What a recovery does to its VM, as far as timing and placement are concerned. */
export const RecoveryActionCodec = t.keyof({ evacuate: null, 'live-migrate': null, restart: null, operator: null }, 'RecoveryAction');
export type RecoveryAction = t.TypeOf<typeof RecoveryActionCodec>;
/** The actions that need a target host. */
export type MovingAction = Exclude<RecoveryAction, 'operator'>;

const PerAction = t.type({ evacuate: t.number, 'live-migrate': t.number, restart: t.number });

export const PlanLatencyCodec = t.type({
  /** From the incident opening to the host confirmed off: power off, status read back, liveness wait. */
  fenceMs: t.number,
  /** The cloud API answering the action. */
  acceptMs: PerAction,
  /** From accepted to the VM running again. */
  completeMs: PerAction,
  /** Calls of each action the cloud API serves at once (later ones queue); 0 = no limit. */
  apiConcurrency: PerAction,
}, 'PlanLatency');
export type PlanLatency = t.TypeOf<typeof PlanLatencyCodec>;

export const PlanLimitsCodec = t.type({
  /** VM recoveries acting at once across all workers; 0 = no limit. */
  global: t.number,
  /** Recoveries landing on one target host at once; 0 = no limit. */
  perTargetHost: t.number,
}, 'PlanLimits');
export type PlanLimits = t.TypeOf<typeof PlanLimitsCodec>;

export const PlanEntryCodec = t.intersection([
  t.type({
    /** Admission order, 1 first (earliest deadline, then priority, then id). */
    order: t.number,
    instance: t.string,
    name: t.string,
    /** The failed host it runs on. */
    host: t.string,
    sla: nullable(t.string),
    priority: t.number,
    deadlineAt: nullable(t.number),
    workflow: t.string,
    /** The policy rule that decided; null without a policy. */
    rule: nullable(t.string),
    action: RecoveryActionCodec,
    /** The placement mode its decision asked for; null when nothing moves. */
    placement: nullable(PlacementModeCodec),
    target: nullable(t.string),
    /** When its recovery starts acting (after the fence, when a slot is free); null when it does not run. */
    predictedStartAt: nullable(t.number),
    /** null: no automated recovery to time (it will not fit, or it waits for an operator). */
    predictedDoneAt: nullable(t.number),
    /** Predicted done by its deadline (true without a deadline, unless it will not fit). */
    withinDeadline: t.boolean,
  }),
  t.partial({
    /** Why it gets no target. */
    reason: t.string,
  }),
], 'PlanEntry');
export type PlanEntry = t.TypeOf<typeof PlanEntryCodec>;

export const RecoveryPlanCodec = t.type({
  policyVersion: nullable(t.string),
  kind: FailureKind,
  failedHosts: t.array(t.string),
  /** The incident's opening time the deadlines count from. */
  openedAt: t.number,
  generatedAt: t.number,
  limits: PlanLimitsCodec,
  latency: PlanLatencyCodec,
  entries: t.array(PlanEntryCodec),
  wontFit: t.array(t.type({ instance: t.string, name: t.string, reason: t.string })),
  /** Instances predicted past their deadline, not fitting, or left to an operator under a deadline. */
  atRisk: t.array(t.string),
  /** The last predicted completion; null when nothing is predicted. */
  predictedDoneAt: nullable(t.number),
}, 'RecoveryPlan');
export type RecoveryPlan = t.TypeOf<typeof RecoveryPlanCodec>;
