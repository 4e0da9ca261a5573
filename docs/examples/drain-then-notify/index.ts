/**
 * drain-then-notify — an example plugin: one custom step and one workflow.
 *
 * A host reports degraded hardware but still runs its guests: note what it looks like, stop the scheduler
 * from placing anything there, live-migrate every instance away (one child recovery per instance, the
 * built-in `live-migrate-instance` workflow), then tell the team how it went.
 *
 *   recording ──▶ disabling ──▶ listing ──▶ migrating ──▶ awaitingMigrations (waiting) ──▶ summarizing
 *       │ any step failed after its retries                   │ no instance       children.done │
 *       ▼                                                     └───────────────────────▶────────┤
 *   escalating ──▶ escalated                                                                   ▼
 *                                                     notifying ──all moved──▶ recovered
 *                                                         └──────otherwise────▶ escalated
 *
 * Map it with `workflows: { host-degraded: drain-then-notify }` and put this folder in a directory listed in
 * `plugins.dirs`. The relative imports below work from `docs/examples/<plugin>/`; a plugin under the
 * install's `plugins/` directory imports `../../src/plugins/api`.
 */
import * as t from 'io-ts';
import { assign, setup } from 'xstate';
import type { RecoveryInput, RecoveryOutput } from '../../../src/plugins/api';
import { WAITING_TAG, definePlugin, defineStep, defineWorkflow, stepActor } from '../../../src/plugins/api';

// ---------------------------------------------------------------------------------------------------------
// The custom step: the side effect. It may only reach the world through the drivers and the engine services
// of its StepContext, and it must be safe to run again (a retried or resumed job re-runs the step in flight).
// This one only reads the cloud and writes an audit line, so running it twice does no harm.

export interface MaintenanceRecord {
  readonly host: string;
  readonly serviceState: string;
  readonly serviceStatus: string;
  readonly disabledReason: string | null;
  readonly instances: number;
}

export const recordMaintenance = defineStep({
  name: 'recordMaintenance',
  description: 'Record in the audit trail what a host looks like before it is drained',
  // Checked by the runner before `run`: a machine passing the wrong shape fails loudly, not halfway through.
  input: t.type({ host: t.string }),
  timeoutMs: 30_000,
  async run({ host }, { drivers, engine, signal }): Promise<MaintenanceRecord> {
    const service = await drivers.cloud.getService(host, { signal });
    const instances = await drivers.cloud.listInstances(host, { signal });
    // Plain JSON: the machine keeps it in its context, which the runner persists after every transition.
    const record: MaintenanceRecord = {
      host,
      serviceState: service.state,
      serviceStatus: service.status,
      disabledReason: service.disabledReason ?? null,
      instances: instances.length,
    };
    await engine.audit(
      `maintenance of ${host} recorded: nova-compute ${service.state}/${service.status}, ${instances.length} instance(s) to move`,
      { ...record },
    );
    return record;
  },
});

// ---------------------------------------------------------------------------------------------------------
// The workflow: a pure xstate machine. It names steps (`src`), computes their input from its context and
// decides where to go from their output. No I/O, no clock, no randomness here.

interface DrainSummary {
  readonly outcome: RecoveryOutput['outcome'];
  readonly total: number;
  readonly recovered: number;
  readonly failed: readonly { readonly instance: string; readonly outcome: string; readonly reason: string }[];
}

interface Context {
  readonly input: RecoveryInput;
  maintenance?: MaintenanceRecord;
  instances: { id: string }[];
  summary?: DrainSummary;
  reason?: string;
  outcome?: RecoveryOutput['outcome'];
}

type FanOut = { host: string; workflow: string; instances: { id: string }[]; keyPrefix: string };
type Notification = { severity: 'info' | 'warning' | 'critical'; topic: string; summary: string; details?: Record<string, unknown> };

/** Step errors reach the machine as `event.error`; keep only the JSON part in context. */
const messageOf = (error: unknown): string =>
  typeof (error as { message?: unknown } | undefined)?.message === 'string' ? (error as { message: string }).message : String(error);

const allMoved = (summary: DrainSummary | undefined): boolean => summary !== undefined && summary.outcome === 'recovered';

function describeDrain(context: Context): string {
  const host = context.input.subject.host;
  const summary = context.summary;
  if (!summary || summary.total === 0) return `${host} drained: no instance to move`;
  const failed = summary.failed.map((f) => `${f.instance} ${f.outcome}${f.reason ? ` (${f.reason})` : ''}`).join('; ');
  return `${host} drained: ${summary.recovered}/${summary.total} instance(s) moved${failed ? `; not moved: ${failed}` : ''}`;
}

export const drainThenNotifyMachine = setup({
  types: { context: {} as Context, input: {} as RecoveryInput, output: {} as RecoveryOutput },
  actors: {
    // Placeholders with the steps' types; the runner binds the registered implementations by name.
    recordMaintenance: stepActor<{ host: string }, MaintenanceRecord>('recordMaintenance'),
    isolateComputeService: stepActor<{ host: string; reason: string; forceDown: boolean }, unknown>('isolateComputeService'),
    listInstances: stepActor<{ host: string }, { id: string }[]>('listInstances'),
    spawnRecoveries: stepActor<FanOut, { count: number }>('spawnRecoveries'),
    summarizeChildren: stepActor<{ keyPrefix: string }, DrainSummary>('summarizeChildren'),
    notify: stepActor<Notification, unknown>('notify'),
  },
  actions: {
    failWith: assign(({ event }, prefix: string) => ({ reason: `${prefix}: ${messageOf((event as { error?: unknown }).error)}` })),
  },
  guards: {
    allMoved: ({ context }) => allMoved(context.summary),
  },
}).createMachine({
  id: 'drain-then-notify',
  initial: 'recording',
  context: ({ input }) => ({ input, instances: [] }),
  states: {
    recording: {
      invoke: {
        src: 'recordMaintenance',
        input: ({ context }) => ({ host: context.input.subject.host }),
        onDone: { target: 'disabling', actions: assign({ maintenance: ({ event }) => event.output }) },
        onError: { target: 'escalating', actions: { type: 'failWith', params: 'could not read the host' } },
      },
    },
    disabling: {
      invoke: {
        src: 'isolateComputeService',
        // forceDown false: nova-compute must stay up, it drives the live migrations.
        input: ({ context }) => ({ host: context.input.subject.host, forceDown: false, reason: `resurrect: maintenance drain for incident ${context.input.incidentId}` }),
        onDone: 'listing',
        onError: { target: 'escalating', actions: { type: 'failWith', params: 'could not disable the compute service' } },
      },
    },
    listing: {
      invoke: {
        src: 'listInstances',
        input: ({ context }) => ({ host: context.input.subject.host }),
        onDone: { target: 'migrating', actions: assign({ instances: ({ event }) => event.output.map((i) => ({ id: i.id })) }) },
        onError: { target: 'escalating', actions: { type: 'failWith', params: 'could not list the instances' } },
      },
    },
    migrating: {
      invoke: {
        src: 'spawnRecoveries',
        input: ({ context }) => ({ host: context.input.subject.host, workflow: 'live-migrate-instance', instances: context.instances, keyPrefix: 'lm-' }),
        onDone: [
          // No child means no `children.done` will ever come: do not wait for it.
          { guard: ({ event }) => event.output.count === 0, target: 'summarizing' },
          { target: 'awaitingMigrations' },
        ],
        onError: { target: 'escalating', actions: { type: 'failWith', params: 'could not start the migrations' } },
      },
    },
    awaitingMigrations: {
      // A durable wait: the job ends here and the recovery is parked; the last child to finish wakes it.
      tags: [WAITING_TAG],
      on: { 'children.done': 'summarizing' },
    },
    summarizing: {
      invoke: {
        src: 'summarizeChildren',
        input: () => ({ keyPrefix: 'lm-' }),
        onDone: { target: 'notifying', actions: assign({ summary: ({ event }) => event.output }) },
        onError: { target: 'escalating', actions: { type: 'failWith', params: 'could not read the migrations' } },
      },
    },
    notifying: {
      invoke: {
        src: 'notify',
        input: ({ context }) => ({
          severity: allMoved(context.summary) ? 'info' as const : 'critical' as const,
          topic: allMoved(context.summary) ? 'maintenance.drained' : 'incident.escalated',
          summary: describeDrain(context),
          details: { host: context.input.subject.host, moved: context.summary?.recovered ?? 0, total: context.summary?.total ?? 0 },
        }),
        // The drain happened whether or not the message got through: decide on the summary either way.
        onDone: [{ guard: 'allMoved', target: 'recovered' }, { target: 'escalated', actions: assign({ reason: ({ context }) => describeDrain(context) }) }],
        onError: [{ guard: 'allMoved', target: 'recovered' }, { target: 'escalated', actions: assign({ reason: ({ context }) => describeDrain(context) }) }],
      },
    },
    escalating: {
      invoke: {
        src: 'notify',
        input: ({ context }) => ({ severity: 'critical' as const, topic: 'incident.escalated', summary: `${context.input.subject.host}: ${context.reason}` }),
        onDone: 'escalated',
        onError: 'escalated',
      },
    },
    recovered: { type: 'final', entry: assign({ outcome: 'recovered' as const }) },
    escalated: { type: 'final', entry: assign({ outcome: 'escalated' as const }) },
  },
  // What the runner stores as the recovery's outcome: RecoveryOutput, JSON only.
  output: ({ context }) => ({
    outcome: context.outcome ?? 'failed',
    ...(context.reason ? { reason: context.reason } : {}),
    result: { host: context.input.subject.host, maintenance: context.maintenance ?? null, summary: context.summary ?? null },
  }),
});

// ---------------------------------------------------------------------------------------------------------
// The plugin: what this file contributes. The loader registers steps first (from every file), then checks
// each workflow against the complete set of steps.

export default definePlugin({
  name: 'drain-then-notify',
  version: '1.0.0',
  description: 'Example: drain a degraded host by live migration and report the result',
  steps: [recordMaintenance],
  workflows: [
    defineWorkflow({
      name: 'drain-then-notify',
      description: 'Record the host, disable its service, live-migrate every instance away, notify the result',
      handles: ['host-degraded'],
      machine: drainThenNotifyMachine,
    }),
  ],
});
