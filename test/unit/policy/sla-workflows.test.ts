import test from 'ava';
import { loadPolicy, PolicyError } from '../../../src/policy/policy';
import type { PolicyReferences } from '../../../src/policy/policy';
import { bestEffort, bronze, gold, platinum, silver } from '../../../plugins/sla-pack';
import { host, vm } from './helpers';

/** The built-in SLA pack and workflows, as the engine passes them. */
const REFS: PolicyReferences = {
  slas: new Set([platinum, gold, silver, bronze, bestEffort].map((sla) => sla.name)),
  workflows: new Set(['fence-then-evacuate', 'evacuate-instance', 'live-migrate-first', 'live-migrate-instance', 'restart-in-place', 'notify-only']),
  slaWorkflows: new Map([platinum, gold, silver, bronze, bestEffort].map((sla) => [sla.name, sla.workflows])),
  handles: new Map([
    ['fence-then-evacuate', ['host-down']],
    ['live-migrate-first', ['host-degraded', 'service-down']],
    ['restart-in-place', ['instance-down']],
    ['notify-only', ['host-down', 'service-down', 'instance-down', 'host-degraded']],
    ['evacuate-instance', []],
    ['live-migrate-instance', []],
  ] as const),
};

const refused = (text: string) => {
  const error = (() => {
    try {
      loadPolicy(text, 'policy.yaml', REFS);
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  if (!(error instanceof PolicyError)) throw new Error('expected a PolicyError');
  return error;
};

test('a rule whose workflow its SLA does not allow is refused, naming the rule, the field and what is allowed', (t) => {
  const error = refused(`
version: 1
rules:
  - { name: drain-silver, match: { events: [host-degraded] }, sla: silver, workflow: live-migrate-first }
  - { name: default, default: true, sla: bronze, workflow: fence-then-evacuate }
`);
  t.deepEqual(error.paths.map((p) => p.path), ['rules[0].workflow']);
  t.regex(error.message, /rules\[0\] "drain-silver": workflow "live-migrate-first" is not allowed by SLA "silver" \(allowed: restart-in-place, fence-then-evacuate/);
});

test('a workflow from defaults is checked against each rule\'s SLA too', (t) => {
  const error = refused(`
version: 1
defaults: { workflow: fence-then-evacuate }
rules:
  - { name: dev, match: { vm: { metadata: { tier: dev } } }, sla: best-effort }
  - { name: default, default: true, sla: bronze }
`);
  t.deepEqual(error.paths.map((p) => p.path), ['defaults.workflow']);
  t.regex(error.message, /"dev": workflow "fence-then-evacuate" is not allowed by SLA "best-effort"/);
});

test('a rule without a workflow gets, per failure kind, the first of its SLA\'s preferred workflows that handles it', (t) => {
  const policy = loadPolicy(`
version: 1
rules:
  - { name: default, default: true, sla: gold }
`, 'policy.yaml', REFS);
  // gold prefers live-migrate-first, fence-then-evacuate, restart-in-place.
  t.is(policy.decide({ event: 'host-down', host: host() }).workflow, 'fence-then-evacuate');
  t.is(policy.decide({ event: 'host-degraded', host: host() }).workflow, 'live-migrate-first');
  t.is(policy.decide({ event: 'service-down', host: host() }).workflow, 'live-migrate-first');
  t.is(policy.decide({ event: 'instance-down', host: host(), instance: vm() }).workflow, 'restart-in-place');
  t.is(policy.decide({ event: 'host-down', host: host() }).sla, 'gold');
});

test('a rule without a workflow whose SLA prefers nothing for one of its events is refused, naming the events', (t) => {
  const error = refused(`
version: 1
rules:
  - { name: dev-vms, match: { vm: { metadata: { tier: dev } } }, sla: best-effort }
  - { name: default, default: true, sla: gold }
`);
  t.deepEqual(error.paths.map((p) => p.path), ['rules[0].workflow']);
  t.regex(error.message, /no workflow for host-down, service-down, host-degraded: none of SLA "best-effort"'s preferred workflows \(restart-in-place\)/);
  // Limiting the rule to the events its SLA covers is enough.
  const policy = loadPolicy(`
version: 1
rules:
  - { name: dev-vms, match: { events: [instance-down], vm: { metadata: { tier: dev } } }, sla: best-effort }
  - { name: default, default: true, sla: gold }
`, 'policy.yaml', REFS);
  t.is(policy.decide({ event: 'instance-down', host: host(), instance: vm({ metadata: { tier: 'dev' } }) }).workflow, 'restart-in-place');
});
