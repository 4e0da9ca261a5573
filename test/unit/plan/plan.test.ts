import test from 'ava';
import { isRight } from 'fp-ts/Either';
import type { ComputeService, Host, Instance } from '../../../src/domain';
import { InputError } from '../../../src/domain';
import { bestEffort, bronze, gold, platinum, silver } from '../../../plugins/sla-pack';
import type { SlaDefinition } from '../../../src/plugins/sla-codec';
import { loadPolicy } from '../../../src/policy/policy';
import { RecoveryPlanCodec } from '../../../src/plan/plan-codec';
import { planRecovery, rankAndPlace, simLatency, type PlanInput, type PlanLatency, type ServiceState } from '../../../src/plan/plan';

const SLAS = new Map<string, SlaDefinition>([platinum, gold, silver, bronze, bestEffort].map((s) => [s.name, s]));
const sla = (name: string) => SLAS.get(name);

const POLICY = `
version: 1
defaults: { sla: bronze, workflow: fence-then-evacuate }
rules:
  - name: platinum
    match: { vm: { metadata: { tier: platinum } } }
    sla: platinum
  - name: gold-spares-first
    match: { vm: { metadata: { tier: gold } } }
    sla: gold
    params: { placement: rh-priority }
  - name: dev
    match: { vm: { metadata: { tier: dev } } }
    sla: best-effort
    workflow: notify-only
  - name: default
    default: true
`;
const policy = loadPolicy(POLICY, 'plan-test.yaml', {
  slas: new Set(SLAS.keys()),
  workflows: new Set(['fence-then-evacuate', 'live-migrate-first', 'restart-in-place', 'notify-only']),
});

const OPENED = Date.UTC(2026, 0, 1);
const WORKFLOWS = { 'host-down': 'fence-then-evacuate', 'service-down': 'live-migrate-first', 'instance-down': 'restart-in-place', 'host-degraded': 'live-migrate-first' } as const;

const hostOf = (name: string, over: Partial<Host> = {}): Host =>
  ({ name, zone: 'az-1', aggregates: [], tags: [], vcpus: 32, ramMb: 65536, usedVcpus: 0, usedRamMb: 0, reserved: false, ...over }) as Host;

const vm = (id: string, tier: string, over: Partial<Instance> = {}): Instance => ({
  id, name: `${tier}-${id}`, host: 'f1', project: 'p1', status: 'ACTIVE', taskState: null, powerState: 'RUNNING',
  flavor: { name: 'm1.large', vcpus: 4, ramMb: 8192, extraSpecs: {} }, image: 'img-a', metadata: { tier }, sharedStorage: true,
  updatedAt: '2026-01-01T00:00:00.000Z', ...over,
}) as Instance;

const up: ServiceState = { state: 'up', status: 'enabled', forcedDown: false };
const servicesOf = (hosts: readonly Host[], over: Record<string, Partial<ComputeService>> = {}) =>
  new Map(hosts.map((h) => [h.name as string, { ...up, ...over[h.name] }]));

/** Round numbers so the predictions can be checked by hand. */
const LATENCY: PlanLatency = {
  fenceMs: 10_000,
  acceptMs: { evacuate: 1_000, 'live-migrate': 1_000, restart: 1_000 },
  completeMs: { evacuate: 9_000, 'live-migrate': 9_000, restart: 9_000 },
  apiConcurrency: { evacuate: 0, 'live-migrate': 0, restart: 0 },
};

function input(over: Partial<PlanInput> & Pick<PlanInput, 'instances'>): PlanInput {
  const hosts = over.hosts ?? [hostOf('f1'), hostOf('h1'), hostOf('h2'), hostOf('spare', { reserved: true })];
  return {
    policy, workflows: WORKFLOWS, sla, failedHosts: ['f1'], hosts, services: servicesOf(hosts), openedAtMs: OPENED,
    limits: { global: 0, perTargetHost: 0 }, latency: LATENCY, ...over,
  };
}

test('order: earliest deadline first, so gold comes before bronze whatever the ids; best-effort (no deadline) last', (t) => {
  const plan = planRecovery(input({ instances: [vm('a-1', 'bronze'), vm('b-2', 'dev'), vm('z-9', 'gold'), vm('y-8', 'platinum')] }));
  t.deepEqual(plan.entries.map((e) => [e.order, e.instance, e.sla]), [[1, 'y-8', 'platinum'], [2, 'z-9', 'gold'], [3, 'a-1', 'bronze'], [4, 'b-2', 'best-effort']]);
  t.is(plan.entries[1]!.deadlineAt, OPENED + 900_000);
  t.is(plan.entries[3]!.deadlineAt, null);
});

test('order: the same deadline falls to priority, then to the id', (t) => {
  const tier = (name: string, deadlineSeconds: number, priority: number): SlaDefinition => ({ ...bronze, name, deadlineSeconds, priority });
  const custom = new Map([tier('slow-urgent', 600, 2), tier('slow-lax', 600, 5), tier('fast-lax', 300, 9)].map((s) => [s.name, s]));
  const p = loadPolicy(`
version: 1
defaults: { workflow: fence-then-evacuate }
rules:
  - { name: u, match: { vm: { metadata: { tier: u } } }, sla: slow-urgent }
  - { name: f, match: { vm: { metadata: { tier: f } } }, sla: fast-lax }
  - { name: default, default: true, sla: slow-lax }
`, 'p.yaml', { slas: new Set(custom.keys()), workflows: new Set(['fence-then-evacuate']) });
  const plan = planRecovery(input({ policy: p, sla: (n) => custom.get(n), instances: [vm('a', 'x'), vm('c', 'u'), vm('d', 'x'), vm('b', 'u'), vm('z', 'f')] }));
  t.deepEqual(plan.entries.map((e) => e.instance), ['z', 'b', 'c', 'a', 'd']);
  t.deepEqual(plan.entries.map((e) => e.priority), [9, 2, 2, 5, 5]);
});

test('each VM is decided by the policy: rule, SLA, workflow and placement mode per VM; notify-only moves nothing', (t) => {
  const plan = planRecovery(input({ instances: [vm('g', 'gold'), vm('b', 'bronze'), vm('d', 'dev')] }));
  const by = new Map(plan.entries.map((e) => [e.instance, e]));
  t.like(by.get('g'), { rule: 'gold-spares-first', sla: 'gold', workflow: 'fence-then-evacuate', action: 'evacuate', placement: 'rh-priority', target: 'spare' });
  t.like(by.get('b'), { rule: 'default', sla: 'bronze', placement: 'auto', target: 'h1' });
  t.like(by.get('d'), { rule: 'dev', sla: 'best-effort', workflow: 'notify-only', action: 'operator', placement: null, target: null, predictedDoneAt: null, withinDeadline: true });
  t.is(by.get('d')!.reason, undefined);
  t.deepEqual(plan.wontFit, []);
  t.deepEqual(plan.atRisk, []);
  t.is(plan.policyVersion, policy.version);
});

test('without a policy the configuration decides: its workflow, no rule, no SLA, lowest priority', (t) => {
  const plan = planRecovery(input({ policy: undefined, instances: [vm('a', 'gold')] }));
  t.like(plan.entries[0], { rule: null, sla: null, workflow: 'fence-then-evacuate', priority: 99, deadlineAt: null, target: 'h1', withinDeadline: true });
  t.is(plan.policyVersion, null);
});

test('predicted completion: fence, then accept + rebuild; a global limit of 2 runs four VMs in two waves, no limit in one', (t) => {
  const instances = [vm('a', 'bronze'), vm('b', 'bronze'), vm('c', 'bronze'), vm('d', 'bronze')];
  const unlimited = planRecovery(input({ instances }));
  t.deepEqual(unlimited.entries.map((e) => e.predictedDoneAt! - OPENED), [20_000, 20_000, 20_000, 20_000]);
  t.deepEqual(unlimited.entries.map((e) => e.predictedStartAt! - OPENED), [10_000, 10_000, 10_000, 10_000]);
  const limited = planRecovery(input({ instances, limits: { global: 2, perTargetHost: 0 } }));
  t.deepEqual(limited.entries.map((e) => e.predictedDoneAt! - OPENED), [20_000, 20_000, 30_000, 30_000]);
  t.is(limited.predictedDoneAt! - OPENED, 30_000);
  t.deepEqual(limited.limits, { global: 2, perTargetHost: 0 });
});

test('predicted completion: the per-target limit serialises VMs landing on one host; API concurrency queues the calls', (t) => {
  const hosts = [hostOf('f1'), hostOf('only')];
  const instances = [vm('a', 'bronze'), vm('b', 'bronze'), vm('c', 'bronze')];
  const perTarget = planRecovery(input({ hosts, services: servicesOf(hosts), instances, limits: { global: 0, perTargetHost: 1 } }));
  t.deepEqual(perTarget.entries.map((e) => [e.target, e.predictedDoneAt! - OPENED]), [['only', 20_000], ['only', 30_000], ['only', 40_000]]);
  const api = planRecovery(input({ instances, latency: { ...LATENCY, apiConcurrency: { ...LATENCY.apiConcurrency, evacuate: 1 } } }));
  t.deepEqual(api.entries.map((e) => e.predictedDoneAt! - OPENED), [20_000, 21_000, 22_000]);
});

test('at risk: a VM predicted past its deadline is flagged, one within it is not', (t) => {
  // A 400 s fence: platinum's 300 s deadline cannot be met, gold's 900 s can.
  const plan = planRecovery(input({ instances: [vm('p', 'platinum'), vm('g', 'gold')], latency: { ...LATENCY, fenceMs: 400_000 } }));
  const by = new Map(plan.entries.map((e) => [e.instance, e]));
  t.false(by.get('p')!.withinDeadline);
  t.true(by.get('g')!.withinDeadline);
  t.deepEqual(plan.atRisk, ['p']);
});

test('a failure that exceeds spare capacity: the plan names the VMs that will not fit', (t) => {
  // Room for two 8 vCPU / 16 GB VMs in all; four need it. Gold ranks first and gets the room.
  const hosts = [hostOf('f1'), hostOf('h1', { vcpus: 16, ramMb: 32768, usedVcpus: 8, usedRamMb: 16384 }), hostOf('h2', { vcpus: 16, ramMb: 32768, usedVcpus: 8, usedRamMb: 16384 })];
  const big = { name: 'db.large', vcpus: 8, ramMb: 16384, extraSpecs: {} };
  const instances = [vm('b-1', 'bronze', { flavor: big }), vm('b-2', 'bronze', { flavor: big }), vm('g-1', 'gold', { flavor: big }), vm('g-2', 'gold', { flavor: big })];
  const plan = planRecovery(input({ hosts, services: servicesOf(hosts), instances }));
  t.deepEqual(plan.entries.map((e) => [e.instance, e.target]), [['g-1', 'h1'], ['g-2', 'h2'], ['b-1', null], ['b-2', null]]);
  t.deepEqual(plan.wontFit.map((w) => w.instance), ['b-1', 'b-2']);
  t.is(plan.wontFit[0]!.reason, 'bronze-b-1 (b-1): needs 8 vCPU / 16384 MB; largest free on an eligible non-reserved host is 0 vCPU / 0 MB (h1)');
  t.regex(plan.wontFit[1]!.reason, /^bronze-b-2 \(b-2\): needs 8 vCPU \/ 16384 MB/);
  t.deepEqual(plan.atRisk, ['b-1', 'b-2'], 'a VM that will not fit is at risk');
  t.true(plan.entries.slice(2).every((e) => e.predictedDoneAt === null && !e.withinDeadline));
});

test('down, disabled and forced-down hosts are never targets; neither is a host whose service state is unknown', (t) => {
  const hosts = [hostOf('f1'), hostOf('down', { vcpus: 96, ramMb: 393216 }), hostOf('disabled', { vcpus: 96, ramMb: 393216 }), hostOf('forced', { vcpus: 96, ramMb: 393216 }), hostOf('unknown', { vcpus: 96, ramMb: 393216 }), hostOf('ok')];
  const services = servicesOf(hosts.filter((h) => h.name !== 'unknown'), { down: { state: 'down' }, disabled: { status: 'disabled' }, forced: { forcedDown: true } });
  const plan = planRecovery(input({ hosts, services, instances: [vm('a', 'bronze'), vm('b', 'bronze')] }));
  t.deepEqual(plan.entries.map((e) => e.target), ['ok', 'ok']);
});

test('anti-affinity: members running elsewhere and members placed earlier in the plan keep the group apart', (t) => {
  const group = { id: 'g1', policy: 'anti-affinity' as const };
  const hosts = [hostOf('f1'), hostOf('h1', { ramMb: 131072 }), hostOf('h2'), hostOf('h3')];
  const running = vm('r', 'bronze', { host: 'h1' as Instance['host'], serverGroup: group });
  const plan = planRecovery(input({ hosts, services: servicesOf(hosts), instances: [vm('a', 'bronze', { serverGroup: group }), vm('b', 'bronze', { serverGroup: group }), vm('c', 'bronze', { serverGroup: group }), running] }));
  t.deepEqual(plan.entries.map((e) => [e.instance, e.target]), [['a', 'h2'], ['b', 'h3'], ['c', null]]);
  t.regex(plan.wontFit[0]!.reason, /anti-affinity group g1: every non-reserved host with room already runs a member \(h1, h2, h3\)/);
});

test('a placement param that is not a mode is a reason, not a crash; the same-zone param keeps VMs in their zone', (t) => {
  const p = loadPolicy(`
version: 1
defaults: { sla: bronze, workflow: fence-then-evacuate }
rules:
  - { name: typo, match: { vm: { metadata: { tier: typo } } }, params: { placement: spare-first } }
  - { name: zoned, match: { vm: { metadata: { tier: zoned } } }, params: { sameZone: true } }
  - { name: default, default: true }
`, 'p.yaml', { slas: new Set(SLAS.keys()), workflows: new Set(['fence-then-evacuate']) });
  const hosts = [hostOf('f1', { zone: 'az-1' }), hostOf('near', { zone: 'az-1' }), hostOf('far', { zone: 'az-2', ramMb: 262144 })];
  const plan = planRecovery(input({ policy: p, hosts, services: servicesOf(hosts), instances: [vm('t', 'typo'), vm('z', 'zoned'), vm('o', 'other')] }));
  const by = new Map(plan.entries.map((e) => [e.instance, e]));
  t.regex(by.get('t')!.reason!, /placement "spare-first" in the params of rule typo is not a mode/);
  t.is(by.get('z')!.target, 'near');
  t.is(by.get('o')!.target, 'far');
});

test('an unknown failed host is refused with its field path; nothing else is planned', (t) => {
  const error = t.throws(() => planRecovery(input({ failedHosts: ['f1', 'f9'], instances: [] })), { instanceOf: InputError });
  t.deepEqual(error!.paths.map((p) => p.path), ['failedHosts[1]']);
  t.regex(error!.message, /unknown host "f9" \(known: f1, h1, h2, spare\)/);
});

test('the plan is plain data that its codec accepts; the default latency model is the sim\'s', (t) => {
  const plan = planRecovery(input({ latency: undefined, baseParams: { livenessWaitSeconds: 20 }, instances: [vm('a', 'gold'), vm('d', 'dev')] }));
  t.true(isRight(RecoveryPlanCodec.decode(JSON.parse(JSON.stringify(plan)))));
  // BMC off 1.5 s + status 0.3 s, then the liveness wait (engine time, never scaled); rebuild 45 s after a 0.4 s accept.
  t.deepEqual(plan.latency, simLatency({ livenessWaitSeconds: 20 }));
  t.is(plan.latency.fenceMs, 21_800);
  t.is(plan.entries[0]!.predictedDoneAt! - OPENED, 21_800 + 400 + 45_000);
  t.is(simLatency({ timeScale: 0.01, livenessWaitSeconds: 1 }).fenceMs, 18 + 1000);
});

test('rankAndPlace (what the real fan-out calls) gives the plan\'s order and targets for the same decisions', (t) => {
  const instances = [vm('b', 'bronze'), vm('g', 'gold'), vm('p', 'platinum')];
  const plan = planRecovery(input({ instances }));
  const hosts = [hostOf('f1'), hostOf('h1'), hostOf('h2'), hostOf('spare', { reserved: true })];
  const placed = rankAndPlace({
    vms: instances.map((instance) => {
      const d = policy.decide({ event: 'host-down', instance });
      return { instance, decision: { rule: d.rule, sla: d.sla, workflow: d.workflow, params: d.params, policyVersion: d.policyVersion } };
    }),
    kind: 'host-down', openedAtMs: OPENED, sla, hosts, services: servicesOf(hosts), failedHosts: ['f1'],
  });
  t.deepEqual(placed.map((p) => [p.instance.id, p.target]), plan.entries.map((e) => [e.instance, e.target]));
});
