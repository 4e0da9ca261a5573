import test from 'ava';
import { loadPolicy, PolicyError } from '../../../src/policy/policy';
import { fixture, REFS } from './helpers';

const refuse = (text: string, file = 'p.yaml') => {
  try {
    loadPolicy(text, file, REFS);
  } catch (err) {
    if (err instanceof PolicyError) return err;
    throw err;
  }
  throw new Error('expected the policy to be refused');
};

const DEFAULT = '  - { name: default, default: true, sla: bronze, workflow: fence-then-evacuate }\n';
const GOLD = '  - { name: gold, match: { vm: { metadata: { tier: gold } } }, sla: gold, workflow: fence-then-evacuate }\n';

test('the valid fixture loads: rules in order, version is 12 hex digits', (t) => {
  const policy = loadPolicy(fixture('valid.yaml'), 'valid.yaml', REFS);
  t.regex(policy.version, /^[0-9a-f]{12}$/);
  t.is(policy.file, 'valid.yaml');
  t.is(policy.ruleNames[0], 'gold-databases');
  t.is(policy.ruleNames.at(-1), 'default');
});

test('YAML syntax error: names the file, the line and column, code RSR_CONFIG_INVALID', (t) => {
  const error = refuse(fixture('syntax-error.yaml'), 'syntax-error.yaml');
  t.is(error.code, 'RSR_CONFIG_INVALID');
  t.is(error.file, 'syntax-error.yaml');
  t.regex(error.message, /^syntax-error\.yaml: line 4, column \d+: YAML syntax error: /);
  t.regex(error.paths[0]!.path, /^line 4, column \d+$/);
});

test('duplicate YAML keys are refused', (t) => {
  const error = refuse(`version: 1\nversion: 1\nrules:\n${DEFAULT}`);
  t.regex(error.message, /line 2, column 1: YAML syntax error: Map keys must be unique/);
});

test('unknown key: the path names the rule index and the key, the message the rule name and the known keys', (t) => {
  const error = refuse(fixture('unknown-key.yaml'), 'unknown-key.yaml');
  t.deepEqual(error.paths.map((p) => p.path), ['rules[1].match.vm.flavour']);
  t.regex(error.message, /^unknown-key\.yaml: rules\[1\]\.match\.vm\.flavour: \(rule "big-flavours"\) unknown key \(expected one of: metadata, flavor, image, project, haEnabled, evacuable\)$/);
});

test('unknown keys are refused at every level', (t) => {
  const cases: [string, string][] = [
    [`version: 1\nrulez: []\nrules:\n${DEFAULT}`, 'rulez'],
    [`version: 1\ndefaults: { sla: gold, flow: x }\nrules:\n${DEFAULT}`, 'defaults.flow'],
    [`version: 1\nrules:\n  - { name: a, matches: { events: host-down }, sla: gold, workflow: fence-then-evacuate }\n${DEFAULT}`, 'rules[0].matches'],
    [`version: 1\nrules:\n  - { name: a, match: { event: host-down }, sla: gold, workflow: fence-then-evacuate }\n${DEFAULT}`, 'rules[0].match.event'],
    [`version: 1\nrules:\n  - { name: a, match: { host: { zones: az-1 } }, sla: gold, workflow: fence-then-evacuate }\n${DEFAULT}`, 'rules[0].match.host.zones'],
  ];
  for (const [text, path] of cases) {
    const error = refuse(text);
    t.deepEqual(error.paths.map((p) => p.path), [path], path);
    t.true(error.paths[0]!.message.includes('unknown key'), path);
  }
});

test('bad values name their field: event kind typo, number where strings are expected, wrong version', (t) => {
  const bad = (match: string) => refuse(`version: 1\nrules:\n  - { name: a, match: ${match}, sla: gold, workflow: fence-then-evacuate }\n${DEFAULT}`);
  const kind = bad('{ events: [host-down, host-dwn] }');
  t.is(kind.paths[0]!.path, 'rules[0].match.events');
  t.regex(kind.paths[0]!.message, /\(rule "a"\) expected a failure kind .*got "host-dwn"/);
  const num = bad('{ vm: { metadata: { tier: 1 } } }');
  t.is(num.paths[0]!.path, 'rules[0].match.vm.metadata.tier');
  t.regex(num.paths[0]!.message, /quote numbers and booleans/);
  t.deepEqual(bad('{ vm: { haEnabled: "yes" } }').paths.map((p) => p.path), ['rules[0].match.vm.haEnabled']);
  t.deepEqual(bad('{ host: { tags: [] } }').paths.map((p) => p.path), ['rules[0].match.host.tags']);
  t.deepEqual(refuse(`version: 2\nrules:\n${DEFAULT}`).paths.map((p) => p.path), ['version']);
  t.deepEqual(refuse(`rules:\n${DEFAULT}`).paths, [{ path: 'version', message: 'required' }]);
  t.deepEqual(refuse(`version: 1\nrules: []\n`).paths.map((p) => p.path), ['rules']);
  t.deepEqual(refuse(`version: 1\nrules:\n  - { match: { events: host-down }, sla: gold, workflow: fence-then-evacuate }\n${DEFAULT}`).paths, [{ path: 'rules[0].name', message: 'required' }]);
});

test('missing default rule', (t) => {
  const error = refuse(`version: 1\nrules:\n${GOLD}`);
  t.deepEqual(error.paths.map((p) => p.path), ['rules']);
  t.regex(error.message, /a default rule is required/);
});

test('two default rules', (t) => {
  const error = refuse(`version: 1\nrules:\n${GOLD}${DEFAULT}  - { name: other, default: true, sla: bronze, workflow: fence-then-evacuate }\n`);
  t.regex(error.message, /exactly one default rule is allowed, found 2: rules\[1\] "default", rules\[2\] "other"/);
});

test('default rule not last', (t) => {
  const error = refuse(`version: 1\nrules:\n${DEFAULT}${GOLD}`);
  t.deepEqual(error.paths.map((p) => p.path), ['rules[0].default']);
  t.regex(error.message, /rules\[0\] "default" is the default rule and must be last/);
});

test('duplicate rule names name both positions', (t) => {
  const error = refuse(`version: 1\nrules:\n${GOLD}${GOLD}${DEFAULT}`);
  t.deepEqual(error.paths.map((p) => p.path), ['rules[1].name']);
  t.regex(error.message, /rules\[1\] "gold": duplicate rule name \(also rules\[0\]\)/);
});

test('unknown SLA and workflow names, on a rule or inherited from defaults', (t) => {
  const onRule = refuse(`version: 1\nrules:\n  - { name: g, match: { events: host-down }, sla: platinum, workflow: teleport }\n${DEFAULT}`);
  t.deepEqual(onRule.paths.map((p) => p.path), ['rules[0].sla', 'rules[0].workflow']);
  t.regex(onRule.message, /rules\[0\] "g": unknown SLA "platinum" \(known: bronze, gold, silver\)/);
  t.regex(onRule.message, /rules\[0\] "g": unknown workflow "teleport" \(known: fence-then-evacuate, live-migrate-first, restart-in-place\)/);
  const fromDefaults = refuse(`version: 1\ndefaults: { sla: tin, workflow: fence-then-evacuate }\nrules:\n  - { name: default, default: true }\n`);
  t.deepEqual(fromDefaults.paths.map((p) => p.path), ['defaults.sla']);
  const none = refuse(`version: 1\nrules:\n  - { name: default, default: true }\n`);
  t.deepEqual(none.paths.map((p) => p.path), ['rules[0].sla', 'rules[0].workflow']);
});

test('a non-default rule needs a non-empty match; the default rule takes none', (t) => {
  t.deepEqual(refuse(`version: 1\nrules:\n  - { name: all, sla: gold, workflow: fence-then-evacuate }\n${DEFAULT}`).paths.map((p) => p.path), ['rules[0].match']);
  t.deepEqual(refuse(`version: 1\nrules:\n  - { name: all, match: {}, sla: gold, workflow: fence-then-evacuate }\n${DEFAULT}`).paths.map((p) => p.path), ['rules[0].match']);
  t.deepEqual(refuse(`version: 1\nrules:\n  - { name: d, default: true, match: { events: host-down }, sla: gold, workflow: fence-then-evacuate }\n`).paths.map((p) => p.path), ['rules[0].match']);
});

test('version: stable across key order, flow/block style, comments and whitespace; changes with content', (t) => {
  const a = loadPolicy(fixture('valid.yaml'), 'a.yaml', REFS);
  const b = loadPolicy(fixture('valid-reordered.yaml'), 'b.yaml', REFS);
  t.is(a.version, b.version);
  t.is(loadPolicy(fixture('valid.yaml'), 'again.yaml', REFS).version, a.version, 'deterministic; the file name is not content');
  const changed = loadPolicy(fixture('valid.yaml').replace('sla: gold\n    params: { fallback: escalate }', 'sla: silver\n    params: { fallback: escalate }'), 'c.yaml', REFS);
  t.not(changed.version, a.version);
  const reordered = loadPolicy(`version: 1\nrules:\n${GOLD.replace('gold,', 'gold2,').replace('name: gold', 'name: gold2')}${GOLD}${DEFAULT}`, 'x', REFS);
  const original = loadPolicy(`version: 1\nrules:\n${GOLD}${GOLD.replace('name: gold', 'name: gold2')}${DEFAULT}`, 'x', REFS);
  t.not(reordered.version, original.version, 'rule order is content');
  t.is(a.decide({ event: 'host-down' }).policyVersion, a.version);
});
