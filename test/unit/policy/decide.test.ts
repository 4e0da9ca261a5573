import test from 'ava';
import { decide, isEvacuable, isHaEnabled, loadPolicy } from '../../../src/policy/policy';
import type { PolicyFacts } from '../../../src/policy/policy';
import type { Host, Instance } from '../../../src/domain';
import { fixture, host, REFS, vm } from './helpers';

const policy = loadPolicy(fixture('valid.yaml'), 'valid.yaml', REFS);
const ruleFor = (facts: PolicyFacts) => decide(policy, facts).rule;
const base: PolicyFacts = { event: 'host-down', host: host(), instance: vm() };

test('a VM and host that match no rule get the default rule, with defaults filled in', (t) => {
  const d = decide(policy, base);
  t.deepEqual({ ...d }, { rule: 'default', sla: 'bronze', workflow: 'fence-then-evacuate', params: {}, policyVersion: policy.version });
});

test('event kind: a rule limited to host-down does not match instance-down; an event list matches each kind', (t) => {
  const gold = vm({ metadata: { tier: 'gold' }, flavor: { name: 'db.large', extraSpecs: {} } });
  t.is(ruleFor({ ...base, instance: gold }), 'gold-databases');
  t.is(ruleFor({ ...base, event: 'instance-down', instance: gold }), 'default');
  t.is(ruleFor({ ...base, event: 'service-down' }), 'drains');
  t.is(ruleFor({ ...base, event: 'host-degraded' }), 'drains');
  t.is(ruleFor(base), 'default', 'host-down is not in the drains list');
});

test('rule sla/workflow/params override defaults; omitted ones come from defaults', (t) => {
  const gold = decide(policy, { ...base, instance: vm({ metadata: { tier: 'gold' }, flavor: { name: 'db.xlarge', extraSpecs: {} } }) });
  t.is(gold.sla, 'gold');
  t.is(gold.workflow, 'fence-then-evacuate', 'from defaults');
  t.deepEqual(gold.params, { fallback: 'escalate' });
  const drains = decide(policy, { ...base, event: 'service-down' });
  t.is(drains.sla, 'silver', 'from defaults');
  t.is(drains.workflow, 'live-migrate-first');
});

test('metadata key/value: every listed key must match; another value does not', (t) => {
  const large = { name: 'db.large', extraSpecs: {} };
  t.is(ruleFor({ ...base, instance: vm({ metadata: { tier: 'gold' }, flavor: large }) }), 'gold-databases');
  t.is(ruleFor({ ...base, instance: vm({ metadata: { tier: 'silver' }, flavor: large }) }), 'default');
  t.is(ruleFor({ ...base, instance: vm({ metadata: { tier: 'gold' } }) }), 'default', 'metadata alone is not enough: flavor is also required');
});

test('metadata "*": the key present with any value (even empty) matches; absent does not', (t) => {
  t.is(ruleFor({ ...base, instance: vm({ metadata: { backup: 'nightly' } }) }), 'backed-up');
  t.is(ruleFor({ ...base, instance: vm({ metadata: { backup: '' } }) }), 'backed-up');
  t.is(ruleFor({ ...base, instance: vm({ metadata: { Backup: 'nightly' } }) }), 'default', 'metadata keys are case-sensitive');
});

test('flavor: any of the listed names', (t) => {
  for (const name of ['db.large', 'db.xlarge']) {
    t.is(ruleFor({ ...base, instance: vm({ metadata: { tier: 'gold' }, flavor: { name, extraSpecs: {} } }) }), 'gold-databases', name);
  }
  t.is(ruleFor({ ...base, instance: vm({ metadata: { tier: 'gold' }, flavor: { name: 'db.small', extraSpecs: {} } }) }), 'default');
});

test('image: matches the image id, or the image name when the caller gives Glance facts', (t) => {
  t.is(ruleFor({ ...base, instance: vm({ image: 'img-win2022' }) }), 'windows-image');
  t.is(ruleFor({ ...base, instance: vm({ image: 'b1946ac9' }), image: { name: 'windows-server' } }), 'windows-image');
  t.is(ruleFor({ ...base, instance: vm({ image: 'b1946ac9' }), image: { name: 'ubuntu' } }), 'default');
  t.is(ruleFor({ ...base, instance: vm({ image: '' }) }), 'default', 'boot-from-volume');
});

test('project', (t) => {
  t.is(ruleFor({ ...base, instance: vm({ project: 'acme' }) }), 'tenant-acme');
  t.is(ruleFor({ ...base, instance: vm({ project: 'acme-2' }) }), 'default');
});

test('host zone, aggregate (any of the host\'s), tags (any of the listed) and segment', (t) => {
  t.is(ruleFor({ ...base, host: host({ zone: 'az-2' }) }), 'az2');
  t.is(ruleFor({ ...base, host: host({ aggregates: ['rack-1', 'rack-12'] }) }), 'rack-12');
  t.is(ruleFor({ ...base, host: host({ aggregates: ['rack-121'] }) }), 'default');
  t.is(ruleFor({ ...base, host: host({ tags: ['gpu', 'nvme'] }) }), 'ssd-hosts');
  t.is(ruleFor({ ...base, host: host({ tags: ['gpu'] }) }), 'default');
  t.is(ruleFor({ ...base, host: host({ segment: 'segment-b' }) }), 'segment-b');
  t.is(ruleFor({ ...base, host: host({ segment: 'segment-a' }) }), 'default');
  t.is(decide(policy, { ...base, host: host({ aggregates: ['rack-12'] }) }).params.fallback, 'skip');
});

test('a criterion on a missing fact does not match: host rules need a host, vm rules need an instance', (t) => {
  t.is(ruleFor({ event: 'host-down' }), 'default');
  t.is(ruleFor({ event: 'host-down', instance: vm({ project: 'acme' }) }), 'tenant-acme');
  t.is(ruleFor({ event: 'host-down', host: host({ zone: 'az-2' }) }), 'az2');
  t.is(ruleFor({ event: 'service-down' }), 'drains', 'an events-only rule needs neither');
});

test('HA_Enabled (Masakari): true/True/TRUE and oslo truthy spellings match; false, absent, other key case do not', (t) => {
  for (const value of ['true', 'True', 'TRUE', ' yes ', '1', 'on']) {
    t.is(ruleFor({ ...base, instance: vm({ metadata: { HA_Enabled: value } }) }), 'ha-enabled', JSON.stringify(value));
  }
  for (const metadata of <Record<string, string>[]>[{ HA_Enabled: 'false' }, { HA_Enabled: 'False' }, { HA_Enabled: '' }, { HA_Enabled: 'enabled' }, {}, { ha_enabled: 'true' }]) {
    t.is(ruleFor({ ...base, instance: vm({ metadata }) }), 'default', JSON.stringify(metadata));
  }
  t.true(isHaEnabled(vm({ metadata: { HA_Enabled: 'True' } })));
  t.false(isHaEnabled(vm({ metadata: { HA_Enabled: 'false' } })));
});

test('evacuable: flavor extra spec evacuable=true, image tag evacuable, or image property evacuable=true', (t) => {
  t.is(ruleFor({ ...base, instance: vm({ flavor: { name: 'm1.small', extraSpecs: { evacuable: 'true' } } }) }), 'evacuable');
  t.is(ruleFor({ ...base, instance: vm({ flavor: { name: 'm1.small', extraSpecs: { evacuable: 'True' } } }) }), 'evacuable');
  t.is(ruleFor({ ...base, instance: vm({ flavor: { name: 'm1.small', extraSpecs: { evacuable: 'false' } } }) }), 'default');
  t.is(ruleFor({ ...base, image: { tags: ['evacuable'] } }), 'evacuable');
  t.is(ruleFor({ ...base, image: { tags: ['not-evacuable'] } }), 'default');
  t.is(ruleFor({ ...base, image: { properties: { evacuable: 'true' } } }), 'evacuable');
  t.is(decide(policy, { ...base, image: { tags: ['evacuable'] } }).workflow, 'live-migrate-first');
  t.false(isEvacuable(vm()));
});

test('first match wins: a VM matching several rules gets the earliest', (t) => {
  const everything = vm({ metadata: { tier: 'gold', backup: 'x', HA_Enabled: 'true' }, flavor: { name: 'db.large', extraSpecs: { evacuable: 'true' } }, project: 'acme' });
  const h = host({ zone: 'az-2', aggregates: ['rack-12'], tags: ['ssd'] });
  t.is(ruleFor({ ...base, instance: everything, host: h }), 'gold-databases');
  t.is(ruleFor({ ...base, instance: { ...everything, metadata: { backup: 'x', HA_Enabled: 'true' } }, host: h }), 'backed-up');
  t.is(ruleFor({ ...base, instance: { ...everything, metadata: { HA_Enabled: 'true' } }, host: h }), 'ha-enabled');
  t.is(ruleFor({ ...base, instance: vm(), host: h }), 'az2');
});

const inline = loadPolicy(
  `version: 1
defaults: { sla: bronze, workflow: fence-then-evacuate, params: { keep: 1, fallback: none } }
rules:
  - { name: not-ha, match: { events: host-down, vm: { haEnabled: false, evacuable: false } }, sla: silver, params: { fallback: escalate } }
  - { name: tiers, match: { vm: { metadata: { tier: [gold, platinum], env: "*" } } }, sla: gold }
  - { name: default, default: true }
`,
  'inline.yaml',
  REFS,
);

test('haEnabled: false / evacuable: false match VMs without the markers; params overlay defaults.params', (t) => {
  const d = decide(inline, { event: 'host-down', instance: vm() });
  t.is(d.rule, 'not-ha');
  t.deepEqual(d.params, { keep: 1, fallback: 'escalate' });
  t.is(decide(inline, { event: 'host-down', instance: vm({ metadata: { HA_Enabled: 'true' } }) }).rule, 'default');
  t.is(decide(inline, { event: 'host-down', instance: vm(), image: { tags: ['evacuable'] } }).rule, 'default');
  t.is(decide(inline, { event: 'host-down' }).rule, 'default', 'haEnabled: false needs an instance to say so');
});

test('metadata value list is any-of, combined with "*" on another key', (t) => {
  const ev = { event: 'instance-down' as const };
  t.is(decide(inline, { ...ev, instance: vm({ metadata: { tier: 'platinum', env: 'prod' } }) }).rule, 'tiers');
  t.is(decide(inline, { ...ev, instance: vm({ metadata: { tier: 'gold', env: '' } }) }).rule, 'tiers');
  t.is(decide(inline, { ...ev, instance: vm({ metadata: { tier: 'gold' } }) }).rule, 'default', 'env must be present');
  t.is(decide(inline, { ...ev, instance: vm({ metadata: { tier: 'silver', env: 'prod' } }) }).rule, 'default');
});

test('decisions are precomputed and frozen: the same object every time, params immutable', (t) => {
  const a = decide(policy, base);
  t.is(decide(policy, { ...base }), a);
  t.true(Object.isFrozen(a));
  const gold = decide(inline, { event: 'host-down', instance: vm() });
  t.true(Object.isFrozen(gold.params));
  t.throws(() => {
    (gold.params as Record<string, unknown>).fallback = 'x';
  });
});

test('decide is fast: 200k VM decisions well under the 50 µs budget each', (t) => {
  const vms = Array.from({ length: 1000 }, (_, i) => vm({ metadata: { tier: i % 3 === 0 ? 'gold' : 'x', HA_Enabled: i % 7 === 0 ? 'true' : 'false' }, project: `p${i % 50}`, flavor: { name: i % 5 === 0 ? 'db.large' : 'm1', extraSpecs: {} } }));
  const h = host({ aggregates: ['rack-3', 'rack-4'], tags: ['hdd'] });
  const start = process.hrtime.bigint();
  let gold = 0;
  for (let i = 0; i < 200_000; i++) if (decide(policy, { event: 'host-down', host: h, instance: vms[i % 1000]! }).sla === 'gold') gold++;
  const perDecisionUs = Number(process.hrtime.bigint() - start) / 1000 / 200_000;
  t.true(gold > 0);
  t.true(perDecisionUs < 50, `${perDecisionUs.toFixed(2)} µs per decision`);
  t.log(`${perDecisionUs.toFixed(3)} µs per decision`);
});

test('the inventory types fit the facts: a Host and an Instance can be passed as they are', (t) => {
  const h = { name: 'compute-9', zone: 'az-2', aggregates: [], tags: [], vcpus: 1, ramMb: 1, usedVcpus: 0, usedRamMb: 0, reserved: false } as unknown as Host;
  const i = { ...vm({ project: 'acme' }), flavor: { name: 'm1', vcpus: 1, ramMb: 1, extraSpecs: {} } } as unknown as Instance;
  t.is(decide(policy, { event: 'host-down', host: h, instance: i }).rule, 'tenant-acme');
});
