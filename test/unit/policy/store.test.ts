import test from 'ava';
import { PolicyError } from '../../../src/policy/policy';
import { PolicyStore } from '../../../src/policy/policy-store';
import { fixture, REFS, vm } from './helpers';

const V1 = fixture('valid.yaml');
const V2 = V1.replace('sla: gold\n    params: { fallback: escalate }', 'sla: silver\n    params: { fallback: escalate }');
const goldVm = vm({ metadata: { tier: 'gold' }, flavor: { name: 'db.large', extraSpecs: {} } });

test('load: a refused first policy throws (nothing to fall back to)', (t) => {
  t.throws(() => PolicyStore.load('version: 1\nrules: []\n', 'bad.yaml', REFS), { instanceOf: PolicyError });
});

test('reload with a valid new policy switches current and remembers the old version', (t) => {
  const store = PolicyStore.load(V1, 'p.yaml', REFS);
  const v1 = store.current();
  const result = store.reload(V2, 'p.yaml');
  t.true(result.ok && result.changed);
  t.is(result.ok && result.previous, v1.version);
  const v2 = store.current();
  t.not(v2.version, v1.version);
  t.is(v2.decide({ event: 'host-down', instance: goldVm }).sla, 'silver');
  t.is(store.byVersion(v1.version), v1, 'an in-flight recovery can finish under its version');
  t.is(store.byVersion(v1.version)!.decide({ event: 'host-down', instance: goldVm }).sla, 'gold');
  t.is(store.byVersion(v2.version), v2);
  t.is(store.byVersion('000000000000'), undefined);
  t.deepEqual(store.versions(), [v1.version, v2.version]);
});

test('reload with a refused policy keeps the running one and returns the error', (t) => {
  const store = PolicyStore.load(V1, 'p.yaml', REFS);
  const before = store.current();
  const result = store.reload(fixture('unknown-key.yaml'), 'p.yaml');
  t.false(result.ok);
  if (result.ok) return;
  t.true(result.error instanceof PolicyError);
  t.regex(result.error.message, /rules\[1\]\.match\.vm\.flavour/);
  t.is(result.current, before.version);
  t.is(store.current(), before);
  t.deepEqual(store.versions(), [before.version], 'a refused file is not remembered');
  const syntax = store.reload(fixture('syntax-error.yaml'), 'p.yaml');
  t.false(syntax.ok);
  t.is(store.current(), before);
});

test('reloading identical content (other formatting) is not a change', (t) => {
  const store = PolicyStore.load(V1, 'p.yaml', REFS);
  const before = store.current();
  const result = store.reload(fixture('valid-reordered.yaml'), 'p.yaml');
  t.true(result.ok);
  t.false(result.ok && result.changed);
  t.is(store.current(), before);
  t.is(store.versions().length, 1);
});

test('past versions are bounded by maxVersions, oldest dropped first, current kept; going back re-adds', (t) => {
  const texts = [0, 1, 2, 3].map((i) => V1.replace('name: gold-databases', `name: gold-databases-${i}`));
  const store = PolicyStore.load(texts[0]!, 'p.yaml', REFS, { maxVersions: 2 });
  const versions = [store.current().version];
  for (const text of texts.slice(1)) {
    t.true(store.reload(text, 'p.yaml').ok);
    versions.push(store.current().version);
  }
  t.deepEqual(store.versions(), [versions[2], versions[3]]);
  t.is(store.byVersion(versions[0]!), undefined);
  t.true(store.reload(texts[0]!, 'p.yaml').ok);
  t.is(store.current().version, versions[0]);
  t.deepEqual(store.versions(), [versions[3], versions[0]]);
});
