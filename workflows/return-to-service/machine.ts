/**
 * return-to-service — an operator brings a host that Resurrect fenced (powered off, forced down, evacuated)
 * back into service, the way it is done by hand on a real Nova (≥ Xena):
 *
 *   poweringOn ──▶ liftingForcedDown ──▶ awaitingHeartbeat ──┬─ reenable ──────▶ enabling ────────▶ returned (final)
 *      │ fail          │ Nova keeps          │ no heartbeat      └─ reenable false ▶ keepingDisabled ─▶ returned
 *      │               │ refusing (400)      │                                        │ fail
 *      ▼               ▼                     ▼                                        ▼
 *   escalating ◀───────┴─────────────────────┴────────────────────────────────────────┘ (enabling fails too)
 *      ▼
 *   escalated (final)
 *
 * - poweringOn (`unfenceHost`): power on through the same fencing topology that powered it off; a host that
 *   already reads on is not switched again. Fence evidence of the host is revoked first: its power-off no
 *   longer licenses any evacuation.
 * - liftingForcedDown (`liftForcedDown`): Nova refuses forced_down=false with a 400 while evacuations from the
 *   host are `done`; the restarted nova-compute completes them at start-up (even while still forced down), so
 *   the step asks again until Nova accepts. Nova's nova-compute cleans up before it joins the service group,
 *   which is why this comes before the heartbeat wait (and why the refusal is seen while the host boots).
 * - awaitingHeartbeat (`awaitHeartbeat`): a service `updated_at` newer than the one before the power-on, and up.
 *   Enabling before that leaves Nova's COMPUTE_STATUS_DISABLED trait on the host until its next periodic update.
 * - enabling / keepingDisabled (`setComputeServiceStatus`): param `reenable` (default true) decides; false keeps
 *   the service disabled with a reason naming who returned it, for a burn-in or a check before it takes VMs.
 *
 * Parameters (the engine sets them, src/engine/host-return.ts): `requestedBy` (who asked: in the audit trail and
 * the disabled reason), `reenable` (the operator's choice, else the host's policy params, else true), `comment`;
 * `cleanupWaitSeconds` and `heartbeatWaitSeconds` bound the two waits (src/steps).
 */
import { assign, setup } from 'xstate';
import type { DoneActorEvent } from 'xstate';
import type { RecoveryInput, RecoveryOutput } from '../../src/plugins/api';
import { stepActor } from '../../src/plugins/api';
import type { ErrorInfo } from '../shared/machine-kit';
import { errorInfo, hostOf, param } from '../shared/machine-kit';

interface PowerOn {
  readonly alreadyOn: boolean;
  readonly heartbeatBefore: string;
  readonly poweredOnAt: number;
}

interface Context {
  readonly input: RecoveryInput;
  power?: PowerOn;
  lift?: { readonly lifted: boolean; readonly refusals: number };
  heartbeat?: { readonly updatedAt: string };
  service?: { readonly status: string; readonly disabledReason?: string };
  reason?: string;
  error?: ErrorInfo;
  outcome?: RecoveryOutput['outcome'];
}

const requestedBy = (input: RecoveryInput): string => param<string>(input, 'requestedBy', 'an operator');
/** Only an explicit `false` keeps the host out: a missing or odd value must not strand a host disabled. */
const reenable = (input: RecoveryInput): boolean => param<unknown>(input, 'reenable', true) !== false;

/** Nova's disabled_reason when the host comes back disabled: who returned it, and their comment. */
function keptDisabledReason(input: RecoveryInput): string {
  const comment = param<string | undefined>(input, 'comment', undefined);
  return `resurrect: returned by ${requestedBy(input)}, kept disabled (reenable: false)${comment ? `: ${comment}` : ''}`;
}

export const returnToServiceMachine = setup({
  types: { context: {} as Context, input: {} as RecoveryInput, output: {} as RecoveryOutput },
  actors: {
    unfenceHost: stepActor<{ host: string }, PowerOn>('unfenceHost'),
    liftForcedDown: stepActor<{ host: string }, { lifted: boolean; refusals: number }>('liftForcedDown'),
    awaitHeartbeat: stepActor<{ host: string; since: string }, { updatedAt: string }>('awaitHeartbeat'),
    setComputeServiceStatus: stepActor<{ host: string; enabled: boolean; reason?: string }, { status: string; disabledReason?: string }>('setComputeServiceStatus'),
    notify: stepActor<{ severity: string; topic: string; summary: string; details?: Record<string, unknown> }, unknown>('notify'),
  },
  actions: {
    failWith: assign(({ event }, prefix: string) => {
      const error = errorInfo((event as { error?: unknown }).error);
      return { error, reason: `${prefix}: ${error.message}` };
    }),
  },
  guards: {
    reenable: ({ context }) => reenable(context.input),
  },
}).createMachine({
  id: 'return-to-service',
  initial: 'poweringOn',
  context: ({ input }) => ({ input }),
  states: {
    poweringOn: {
      invoke: {
        src: 'unfenceHost',
        input: ({ context }) => ({ host: hostOf(context.input) }),
        onDone: { target: 'liftingForcedDown', actions: assign({ power: ({ event }) => (event as DoneActorEvent<PowerOn>).output }) },
        onError: { target: 'escalating', actions: { type: 'failWith', params: 'could not power the host on, it stays fenced' } },
      },
    },
    liftingForcedDown: {
      invoke: {
        src: 'liftForcedDown',
        input: ({ context }) => ({ host: hostOf(context.input) }),
        onDone: { target: 'awaitingHeartbeat', actions: assign({ lift: ({ event }) => event.output }) },
        onError: { target: 'escalating', actions: { type: 'failWith', params: 'Nova did not let its forced_down be lifted (are its evacuations cleaned up?), it stays forced down and disabled' } },
      },
    },
    awaitingHeartbeat: {
      invoke: {
        src: 'awaitHeartbeat',
        input: ({ context }) => ({ host: hostOf(context.input), since: context.power?.heartbeatBefore ?? '1970-01-01T00:00:00.000Z' }),
        onDone: [
          { guard: 'reenable', target: 'enabling', actions: assign({ heartbeat: ({ event }) => event.output }) },
          { target: 'keepingDisabled', actions: assign({ heartbeat: ({ event }) => event.output }) },
        ],
        onError: { target: 'escalating', actions: { type: 'failWith', params: 'its nova-compute did not heartbeat again, the service stays disabled' } },
      },
    },
    enabling: {
      invoke: {
        src: 'setComputeServiceStatus',
        input: ({ context }) => ({ host: hostOf(context.input), enabled: true }),
        onDone: { target: 'returned', actions: assign({ service: ({ event }) => event.output }) },
        onError: { target: 'escalating', actions: { type: 'failWith', params: 'could not enable its compute service' } },
      },
    },
    keepingDisabled: {
      invoke: {
        src: 'setComputeServiceStatus',
        input: ({ context }) => ({ host: hostOf(context.input), enabled: false, reason: keptDisabledReason(context.input) }),
        onDone: { target: 'returned', actions: assign({ service: ({ event }) => event.output }) },
        onError: { target: 'escalating', actions: { type: 'failWith', params: 'could not record why its compute service stays disabled' } },
      },
    },
    escalating: {
      invoke: {
        src: 'notify',
        input: ({ context }) => ({ severity: 'warning', topic: 'incident.escalated', summary: `${hostOf(context.input)} not returned to service: ${context.reason}` }),
        onDone: 'escalated',
        onError: 'escalated',
      },
    },
    returned: { type: 'final', entry: assign({ outcome: 'recovered' as const }) },
    escalated: { type: 'final', entry: assign({ outcome: 'escalated' as const }) },
  },
  output: ({ context }) => ({
    outcome: context.outcome ?? 'failed',
    ...(context.reason ? { reason: context.reason } : {}),
    result: {
      host: hostOf(context.input),
      requestedBy: requestedBy(context.input),
      reenable: reenable(context.input),
      poweredOn: context.power ? !context.power.alreadyOn : false,
      refusals: context.lift?.refusals ?? 0,
      heartbeat: context.heartbeat?.updatedAt ?? null,
      service: context.service ?? null,
    },
  }),
});
