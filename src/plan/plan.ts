/**
 * The one decision module for a host failure: per VM the policy's decision, the admission order, the target
 * host and the predicted completion. `resurrect plan` (a dry run against the current inventory) and the real
 * fan-out call the same functions, so what the plan shows is what a real run does:
 *
 *   decideVm ─▶ rankVms ─▶ placeRanked ─▶ predict          (rankAndPlace = rankVms + placeRanked)
 *   └──────────────────── planRecovery ─────────────────┘
 *
 * Pure: plain data in, plain data out, no I/O (`planner.ts` gathers the data from a cloud driver).
 */
import type { ComputeService, FailureKind, Host, Instance } from '../domain';
import { InputError } from '../domain';
import type { FieldProblem } from '../domain';
import { latencyConfig, type LatencyConfig } from '../drivers/cloud/sim/latency';
import { parsePlacementMode, placeInstances, type PlacementHost, type PlacementMode, type PlacementRequest } from '../placement/placement';
import type { SlaDefinition } from '../plugins/sla-codec';
import { isTruthy, type Policy } from '../policy/policy';
import { compareRanked, deadlineAt, type RankInput } from '../policy/ranking';
import type { MovingAction, PlanEntry, PlanLatency, PlanLimits, RecoveryAction, RecoveryPlan } from './plan-codec';

export type { MovingAction, PlanEntry, PlanLatency, PlanLimits, RecoveryAction, RecoveryPlan } from './plan-codec';

export type SlaLookup = (name: string) => SlaDefinition | undefined;

/** Rank of a recovery without an SLA: after every SLA'd one with the same deadline (none). */
export const NO_SLA_PRIORITY = 99;

// ---- decide ---------------------------------------------------------------------------------------

/** One VM's decision: a policy's, or the configuration's fallback (no rule, no SLA). */
export interface VmDecision {
  readonly rule: string | null;
  readonly sla: string | null;
  readonly workflow: string;
  /** The base params overlaid with the rule's (what the VM's recovery runs with). */
  readonly params: Readonly<Record<string, unknown>>;
  readonly policyVersion: string | null;
}

export interface DecisionSource {
  /** Without a policy, `workflows` decides and nobody has an SLA (the engine's behaviour without `policy.file`). */
  readonly policy?: Policy;
  /** `config.workflows`: the workflow per failure kind when there is no policy. */
  readonly workflows: Readonly<Record<FailureKind, string>>;
  /** `config.params` + `config.paramsByKind[kind]`: what every recovery starts from. */
  readonly baseParams?: Readonly<Record<string, unknown>>;
}

export function decideVm(source: DecisionSource, kind: FailureKind, instance: Instance, host?: Host): VmDecision {
  const base = source.baseParams ?? {};
  if (!source.policy) return { rule: null, sla: null, workflow: source.workflows[kind], params: base, policyVersion: null };
  const d = source.policy.decide({ event: kind, instance, ...(host ? { host } : {}) });
  return { rule: d.rule, sla: d.sla, workflow: d.workflow, params: { ...base, ...d.params }, policyVersion: d.policyVersion };
}

export interface DecidedVm {
  readonly instance: Instance;
  readonly decision: VmDecision;
}

// ---- rank -----------------------------------------------------------------------------------------

export interface RankedVm extends DecidedVm {
  /** 1 first. */
  readonly order: number;
  readonly priority: number;
  readonly deadlineAtMs: number | null;
}

/** The rank input of one decision: the SLA's deadline from the incident's opening, and its priority. */
export function rankInputOf(decision: Pick<VmDecision, 'sla'>, openedAtMs: number, sla: SlaLookup): RankInput {
  const definition = decision.sla === null ? undefined : sla(decision.sla);
  return { deadlineAtMs: deadlineAt(openedAtMs, definition?.deadlineSeconds), priority: definition?.priority ?? NO_SLA_PRIORITY };
}

/** Earliest deadline first, then priority, then id: the order the real run admits recoveries in. */
export function rankVms(vms: readonly DecidedVm[], openedAtMs: number, sla: SlaLookup): RankedVm[] {
  return vms
    .map((vm) => ({ vm, id: vm.instance.id as string, ...rankInputOf(vm.decision, openedAtMs, sla) }))
    .sort(compareRanked)
    .map(({ vm, deadlineAtMs, priority }, i) => ({ ...vm, order: i + 1, priority, deadlineAtMs }));
}

// ---- place ----------------------------------------------------------------------------------------

const BUILTIN_ACTIONS: Readonly<Record<string, RecoveryAction | ((kind: FailureKind) => RecoveryAction)>> = {
  'fence-then-evacuate': 'evacuate',
  'evacuate-instance': 'evacuate',
  // A dead host cannot live-migrate: the workflow's fallback fences and evacuates.
  'live-migrate-first': (kind) => (kind === 'host-down' ? 'evacuate' : 'live-migrate'),
  'live-migrate-instance': 'live-migrate',
  'restart-in-place': 'restart',
  'notify-only': 'operator',
};

const ACTION_BY_KIND: Readonly<Record<FailureKind, RecoveryAction>> = {
  'host-down': 'evacuate',
  'service-down': 'live-migrate',
  'host-degraded': 'live-migrate',
  'instance-down': 'restart',
};

/** What a workflow does to a VM; a workflow we do not know (a plugin's) is assumed to do what its kind needs. */
export function actionOf(workflow: string, kind: FailureKind): RecoveryAction {
  const known = BUILTIN_ACTIONS[workflow];
  if (known === undefined) return ACTION_BY_KIND[kind];
  return typeof known === 'function' ? known(kind) : known;
}

export const needsTarget = (action: RecoveryAction): action is 'evacuate' | 'live-migrate' => action === 'evacuate' || action === 'live-migrate';

/** The nova-compute state placement needs per host. */
export type ServiceState = Pick<ComputeService, 'state' | 'status' | 'forcedDown'>;

export interface CapacityView {
  /** Every host (capacity and use); the failed ones too, for their zone. */
  readonly hosts: readonly Host[];
  /** nova-compute state per host name; a host without one is not a target unless `assumeUnknownUp`. */
  readonly services: ReadonlyMap<string, ServiceState>;
  readonly assumeUnknownUp?: boolean;
  /** Never targets. */
  readonly failedHosts: readonly string[];
  /** Instances known beyond those being placed, for server group members (hosts already holding one). */
  readonly others?: readonly Instance[];
}

export interface PlacedVm extends RankedVm {
  readonly action: RecoveryAction;
  /** The mode asked for; null when nothing moves (or the mode param is not one). */
  readonly placement: PlacementMode | null;
  readonly target: string | null;
  /** Why a VM that must move has no target. */
  readonly reason?: string;
}

/** Hosts as placement sees them: up = reported up and not forced down; free = capacity − use. */
export function placementHosts(view: Pick<CapacityView, 'hosts' | 'services' | 'assumeUnknownUp'>): PlacementHost[] {
  return view.hosts.map((h) => {
    const service = view.services.get(h.name);
    const known = service !== undefined;
    return {
      name: h.name,
      zone: h.zone,
      reserved: h.reserved,
      enabled: known ? service.status === 'enabled' : Boolean(view.assumeUnknownUp),
      up: known ? service.state === 'up' && !service.forcedDown : Boolean(view.assumeUnknownUp),
      freeVcpus: h.vcpus - h.usedVcpus,
      freeRamMb: h.ramMb - h.usedRamMb,
    };
  });
}

/**
 * Targets for VMs already ranked, in their order: earlier VMs take the room first. The placement mode comes
 * from each VM's params (`placement`, default auto; `sameZone: true` keeps it in its host's zone); a VM whose
 * workflow moves nothing gets no target and no reason.
 */
export function placeRanked(ranked: readonly RankedVm[], kind: FailureKind, view: CapacityView): PlacedVm[] {
  const placing = new Set<string>();
  const requests: PlacementRequest[] = [];
  const slots: (number | { readonly action: RecoveryAction; readonly placement: PlacementMode | null; readonly reason?: string })[] = ranked.map((vm) => {
    const action = actionOf(vm.decision.workflow, kind);
    if (!needsTarget(action)) return { action, placement: null };
    const raw = vm.decision.params.placement;
    const mode = raw === undefined ? 'auto' : parsePlacementMode(raw);
    if (mode === undefined) {
      const rule = vm.decision.rule === null ? '' : ` of rule ${vm.decision.rule}`;
      return { action, placement: null, reason: `${vm.instance.name} (${vm.instance.id}): placement ${JSON.stringify(raw)} in the params${rule} is not a mode (auto, reserved-host, auto-priority, rh-priority)` };
    }
    placing.add(vm.instance.id);
    const sameZone = vm.decision.params.sameZone;
    requests.push({
      instance: vm.instance.id,
      name: vm.instance.name,
      source: vm.instance.host,
      vcpus: vm.instance.flavor.vcpus,
      ramMb: vm.instance.flavor.ramMb,
      mode,
      sameZone: sameZone === true || (typeof sameZone === 'string' && isTruthy(sameZone)),
      ...(vm.instance.serverGroup ? { serverGroup: vm.instance.serverGroup } : {}),
    });
    return requests.length - 1;
  });
  const failed = new Set(view.failedHosts);
  const groupHosts = new Map<string, Set<string>>();
  for (const other of view.others ?? []) {
    // Members on a failed host are moving (or stay dead there): only where the others live counts.
    if (!other.serverGroup || placing.has(other.id) || failed.has(other.host)) continue;
    let hosts = groupHosts.get(other.serverGroup.id);
    if (!hosts) groupHosts.set(other.serverGroup.id, (hosts = new Set()));
    hosts.add(other.host);
  }
  const results = placeInstances(requests, placementHosts(view), { exclude: view.failedHosts, groupHosts });
  return ranked.map((vm, i) => {
    const slot = slots[i]!;
    if (typeof slot !== 'number') return { ...vm, ...slot, target: null };
    const result = results[slot]!;
    return { ...vm, action: actionOf(vm.decision.workflow, kind), placement: requests[slot]!.mode!, target: result.target, ...(result.reason === undefined ? {} : { reason: result.reason }) };
  });
}

export interface RankAndPlaceInput extends CapacityView {
  readonly vms: readonly DecidedVm[];
  readonly kind: FailureKind;
  readonly openedAtMs: number;
  readonly sla: SlaLookup;
}

/** What the real fan-out calls with its own decisions: the admission order and a target per VM. */
export function rankAndPlace(input: RankAndPlaceInput): PlacedVm[] {
  return placeRanked(rankVms(input.vms, input.openedAtMs, input.sla), input.kind, input);
}

// ---- predict --------------------------------------------------------------------------------------

export interface SimLatencyOptions {
  /** The sim's latency multiplier (`cloud.sim.timeScale`); default 1, real time. */
  readonly timeScale?: number;
  /** The engine's wait for a heartbeat after the fence (`params.livenessWaitSeconds`, real seconds, not scaled). */
  readonly livenessWaitSeconds?: number;
  /** Default: the sim's defaults (`latencyConfig()`). */
  readonly config?: LatencyConfig;
}

/** The latency model of a plan, from the simulated cloud's numbers (the defaults mirror a real Nova and BMC). */
export function simLatency(options: SimLatencyOptions = {}): PlanLatency {
  const config = options.config ?? latencyConfig({ timeScale: options.timeScale ?? 1, jitter: 0 });
  const scale = options.timeScale ?? config.timeScale;
  const ms = (n: number) => Math.round(n * scale);
  const liveness = options.livenessWaitSeconds ?? 12;
  return {
    fenceMs: ms(config.acceptMs['bmc.off'] + config.acceptMs['bmc.status']) + Math.round(Math.max(0, liveness) * 1000),
    acceptMs: { evacuate: ms(config.acceptMs.evacuate), 'live-migrate': ms(config.acceptMs.liveMigrate), restart: ms(config.acceptMs.startInstance) },
    completeMs: { evacuate: ms(config.completeMs.evacuate), 'live-migrate': ms(config.completeMs.liveMigrate), restart: ms(config.completeMs.start) },
    apiConcurrency: { evacuate: config.concurrency.evacuate, 'live-migrate': config.concurrency.liveMigrate, restart: config.concurrency.startInstance },
  };
}

export interface PredictOptions {
  readonly openedAtMs: number;
  readonly limits: PlanLimits;
  readonly latency: PlanLatency;
}

export interface Prediction {
  readonly startAt: number | null;
  readonly doneAt: number | null;
}

/**
 * List scheduling in admission order: a VM starts when its host is fenced (evacuations only), a global slot
 * is free and a slot on its target is free, holds both until done; its API call waits for a free API slot.
 * VMs with no target or waiting for an operator take no slot and get no prediction.
 */
export function predict(placed: readonly PlacedVm[], options: PredictOptions): Prediction[] {
  const { openedAtMs, limits, latency } = options;
  const global = limits.global > 0 ? new SlotPool(limits.global, openedAtMs) : undefined;
  const perTarget = new Map<string, SlotPool>();
  const api = new Map<MovingAction, SlotPool>();
  return placed.map((vm) => {
    const action = vm.action;
    if (action === 'operator' || (needsTarget(action) && vm.target === null)) return { startAt: null, doneAt: null };
    const ready = openedAtMs + (action === 'evacuate' ? latency.fenceMs : 0);
    let target: SlotPool | undefined;
    if (vm.target !== null && limits.perTargetHost > 0) {
      target = perTarget.get(vm.target);
      if (!target) perTarget.set(vm.target, (target = new SlotPool(limits.perTargetHost, openedAtMs)));
    }
    const startAt = Math.max(ready, global?.earliest() ?? ready, target?.earliest() ?? ready);
    let callAt = startAt;
    const width = latency.apiConcurrency[action];
    if (width > 0) {
      let pool = api.get(action);
      if (!pool) api.set(action, (pool = new SlotPool(width, openedAtMs)));
      callAt = Math.max(startAt, pool.earliest());
      pool.take(callAt + latency.acceptMs[action]);
    }
    const doneAt = callAt + latency.acceptMs[action] + latency.completeMs[action];
    global?.take(doneAt);
    target?.take(doneAt);
    return { startAt, doneAt };
  });
}

/** `size` slots, each free from a time on; a min-heap of those times. */
class SlotPool {
  private readonly free: number[];

  constructor(size: number, from: number) {
    this.free = new Array<number>(size).fill(from);
  }

  earliest(): number {
    return this.free[0]!;
  }

  /** The earliest slot is busy until `until`. */
  take(until: number): void {
    const free = this.free;
    free[0] = until;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= free.length) break;
      const r = l + 1;
      const child = r < free.length && free[r]! < free[l]! ? r : l;
      if (free[child]! >= free[i]!) break;
      [free[i], free[child]] = [free[child]!, free[i]!];
      i = child;
    }
  }
}

// ---- the plan -------------------------------------------------------------------------------------

export interface PlanInput extends DecisionSource {
  readonly sla: SlaLookup;
  /** Default host-down. */
  readonly kind?: FailureKind;
  readonly failedHosts: readonly string[];
  readonly hosts: readonly Host[];
  readonly services: ReadonlyMap<string, ServiceState>;
  readonly assumeUnknownUp?: boolean;
  /** The instances on the failed hosts, and any others known (for server groups). */
  readonly instances: readonly Instance[];
  /** The incident's opening time (deadlines count from it); epoch ms. */
  readonly openedAtMs: number;
  /** Default: `openedAtMs`. */
  readonly generatedAtMs?: number;
  readonly limits: PlanLimits;
  /** Default: `simLatency()` with the base params' `livenessWaitSeconds`. */
  readonly latency?: PlanLatency;
}

/** Refuses failed hosts the inventory does not know, naming each (path `failedHosts[i]`). */
export function checkFailedHosts(failedHosts: readonly string[], hosts: readonly Pick<Host, 'name'>[]): string[] {
  const known = new Set(hosts.map((h) => h.name as string));
  const problems: FieldProblem[] = [];
  if (failedHosts.length === 0) problems.push({ path: 'failedHosts', message: 'name at least one failed host' });
  failedHosts.forEach((host, i) => {
    if (!known.has(host)) problems.push({ path: `failedHosts[${i}]`, message: `unknown host ${JSON.stringify(host)}${knownHosts(known)}` });
  });
  if (problems.length > 0) throw new InputError(problems.map((p) => p.message).join('; '), problems);
  return [...new Set(failedHosts)];
}

function knownHosts(known: ReadonlySet<string>): string {
  const sample = [...known].sort().slice(0, 8);
  return sample.length === 0 ? ' (the inventory has no hosts)' : ` (known: ${sample.join(', ')}${known.size > sample.length ? `, … ${known.size} in all` : ''})`;
}

export function planRecovery(input: PlanInput): RecoveryPlan {
  const kind = input.kind ?? 'host-down';
  const failedHosts = checkFailedHosts(input.failedHosts, input.hosts);
  const failed = new Set(failedHosts);
  const hostByName = new Map(input.hosts.map((h) => [h.name as string, h]));
  const onFailed = input.instances.filter((i) => failed.has(i.host));
  const decided = onFailed.map((instance) => ({ instance, decision: decideVm(input, kind, instance, hostByName.get(instance.host)) }));
  const placed = rankAndPlace({
    vms: decided, kind, openedAtMs: input.openedAtMs, sla: input.sla,
    hosts: input.hosts, services: input.services, failedHosts, others: input.instances,
    ...(input.assumeUnknownUp === undefined ? {} : { assumeUnknownUp: input.assumeUnknownUp }),
  });
  const liveness = Number(input.baseParams?.livenessWaitSeconds);
  const latency = input.latency ?? simLatency(Number.isFinite(liveness) ? { livenessWaitSeconds: liveness } : {});
  const predictions = predict(placed, { openedAtMs: input.openedAtMs, limits: input.limits, latency });
  const entries = placed.map((vm, i): PlanEntry => {
    const { startAt, doneAt } = predictions[i]!;
    const withinDeadline = vm.deadlineAtMs === null ? !(needsTarget(vm.action) && vm.target === null) : doneAt !== null && doneAt <= vm.deadlineAtMs;
    return {
      order: vm.order,
      instance: vm.instance.id,
      name: vm.instance.name,
      host: vm.instance.host,
      sla: vm.decision.sla,
      priority: vm.priority,
      deadlineAt: vm.deadlineAtMs,
      workflow: vm.decision.workflow,
      rule: vm.decision.rule,
      action: vm.action,
      placement: vm.placement,
      target: vm.target,
      predictedStartAt: startAt,
      predictedDoneAt: doneAt,
      withinDeadline,
      ...(vm.reason === undefined ? {} : { reason: vm.reason }),
    };
  });
  const done = entries.flatMap((e) => (e.predictedDoneAt === null ? [] : [e.predictedDoneAt]));
  return {
    policyVersion: input.policy?.version ?? null,
    kind,
    failedHosts,
    openedAt: input.openedAtMs,
    generatedAt: input.generatedAtMs ?? input.openedAtMs,
    limits: { global: input.limits.global, perTargetHost: input.limits.perTargetHost },
    latency,
    entries,
    wontFit: entries.flatMap((e) => (e.reason === undefined ? [] : [{ instance: e.instance, name: e.name, reason: e.reason }])),
    atRisk: entries.filter((e) => !e.withinDeadline).map((e) => e.instance),
    predictedDoneAt: done.length === 0 ? null : done.reduce((a, b) => Math.max(a, b)),
  };
}
