import test from 'ava';
import * as iots from 'io-ts';
import { decodeOrThrow, FailureEvent, HostName, InputError, redact, subjectOf, summarizeOutcomes } from '../../../src/domain';
import type { Outcome } from '../../../src/domain';

const pathsOf = (error: InputError) => error.paths.map((p) => p.path);

test('decodeOrThrow(FailureEvent): a bad kind is an InputError whose path is `kind` and whose message shows the value', (t) => {
  const error = t.throws(() => decodeOrThrow(FailureEvent, { kind: 'bogus', host: 'compute-1' }, 'failure event'), { instanceOf: InputError });
  t.is(error.code, 'RSR_INPUT_INVALID');
  t.false(error.retryable);
  t.is(error.message, 'invalid failure event: kind: expected FailureKind, got "bogus"');
  t.deepEqual(error.paths, [{ path: 'kind', message: 'expected FailureKind, got "bogus"' }]);
  t.deepEqual(error.details.paths, error.paths, 'the problems travel in details too (4xx bodies, CLI)');
});

test('decodeOrThrow(FailureEvent): a missing host names the field `host`', (t) => {
  const error = t.throws(() => decodeOrThrow(FailureEvent, { kind: 'host-down' }), { instanceOf: InputError });
  t.deepEqual(error.paths, [{ path: 'host', message: 'expected HostName, got undefined' }]);
});

test('decodeOrThrow(FailureEvent): the intersection inside the refinement does not leak member indexes into paths', (t) => {
  // FailureEvent = refinement(intersection([required, optional])): `[0].kind` would be a wrong path.
  const error = t.throws(() => decodeOrThrow(FailureEvent, { kind: 'host-down', host: 'compute-1', source: 42 }), { instanceOf: InputError });
  t.deepEqual(pathsOf(error), ['source']);
  const notAnObject = t.throws(() => decodeOrThrow(FailureEvent, 'compute-3 is down'), { instanceOf: InputError });
  t.true(pathsOf(notAnObject).every((p) => p === '(root)'), pathsOf(notAnObject).join(', '));
});

test('decodeOrThrow(FailureEvent): InputError.paths lists every problem, one per field', (t) => {
  const error = t.throws(() => decodeOrThrow(FailureEvent, {
    kind: 'bogus', host: '', observedAt: 'yesterday', details: { rack: 7 },
  }), { instanceOf: InputError });
  t.deepEqual(pathsOf(error), ['kind', 'host', 'observedAt', 'details.rack']);
  t.deepEqual(error.paths.map((p) => p.message), [
    'expected FailureKind, got "bogus"',
    'expected HostName, got ""',
    'expected IsoTime, got "yesterday"',
    'expected string, got 7',
  ]);
  // The message carries each of them, so a CLI user sees all mistakes at once.
  for (const p of error.paths) t.true(error.message.includes(`${p.path}: ${p.message}`));
});

test('decodeOrThrow: nested paths for an array codec name the element index and the field', (t) => {
  const Inventory = iots.type({ hosts: iots.array(iots.type({ name: HostName, zone: iots.string })) }, 'Inventory');
  const error = t.throws(() => decodeOrThrow(Inventory, {
    hosts: [{ name: 'compute-1', zone: 'az-1' }, { name: 'compute-2' }, { name: '-bad', zone: 1 }],
  }), { instanceOf: InputError });
  t.deepEqual(pathsOf(error), ['hosts[1].zone', 'hosts[2].name', 'hosts[2].zone']);
  t.regex(error.message, /^invalid Inventory: hosts\[1\]\.zone: expected string, got undefined; /);
});

test('decodeOrThrow: an array of FailureEvents names the bad element and its field (`[1].kind`, `[2].host`)', (t) => {
  const error = t.throws(() => decodeOrThrow(iots.array(FailureEvent), [
    { kind: 'host-down', host: 'compute-1' },
    { kind: 'melted', host: 'compute-2' },
    { kind: 'host-down' },
  ]), { instanceOf: InputError });
  t.deepEqual(pathsOf(error), ['[1].kind', '[2].host']);
});

test('FailureEvent refinement: instance is required exactly for instance-down', (t) => {
  t.true(FailureEvent.is({ kind: 'instance-down', host: 'compute-1', instance: 'vm-1' }));
  t.true(FailureEvent.is({ kind: 'host-down', host: 'compute-1' }));
  t.true(FailureEvent.is({ kind: 'service-down', host: 'compute-1', source: 'monitor', observedAt: '2024-05-01T10:00:00Z' }));

  const missing = t.throws(() => decodeOrThrow(FailureEvent, { kind: 'instance-down', host: 'compute-1' }), { instanceOf: InputError });
  t.deepEqual(pathsOf(missing), ['(root)']);
  t.regex(missing.message, /instance is required for instance-down and only allowed there/);

  for (const kind of ['host-down', 'service-down', 'host-degraded']) {
    const extra = t.throws(() => decodeOrThrow(FailureEvent, { kind, host: 'compute-1', instance: 'vm-1' }), { instanceOf: InputError }, kind);
    t.regex(extra.message, /only allowed there/, kind);
  }
});

test('subjectOf: an instance-down event is about its instance, every other kind about its host', (t) => {
  t.is(subjectOf({ kind: 'instance-down', host: 'compute-1', instance: 'vm-1' } as FailureEvent), 'instance:vm-1');
  t.is(subjectOf({ kind: 'host-down', host: 'compute-3' } as FailureEvent), 'host:compute-3');
  t.is(subjectOf({ kind: 'service-down', host: 'compute-3' } as FailureEvent), 'host:compute-3');
  t.is(subjectOf({ kind: 'host-degraded', host: 'compute-3' } as FailureEvent), 'host:compute-3');
  // Defensive: an instance-down without an instance (refused by the codec) still gets a subject.
  t.is(subjectOf({ kind: 'instance-down', host: 'compute-3' } as FailureEvent), 'host:compute-3');
});

test('summarizeOutcomes: all recovered, partial, none, escalated', (t) => {
  const s = (...o: Outcome[]) => summarizeOutcomes(o);
  t.is(s('recovered', 'recovered'), 'recovered');
  t.is(s('recovered', 'skipped'), 'recovered', 'skipped counts as done');
  t.is(s(), 'recovered', 'nothing to recover is a success');
  t.is(s('recovered', 'failed'), 'partial');
  t.is(s('skipped', 'escalated', 'failed'), 'partial');
  t.is(s('failed', 'failed'), 'failed', 'none recovered');
  t.is(s('failed', 'cancelled'), 'failed');
  t.is(s('failed', 'escalated'), 'escalated', 'none recovered and one escalated');
});

test('redact: password, token and secret keys are replaced at any depth, other values kept, input untouched', (t) => {
  const record = {
    message: 'fenced',
    password: 'hunter2',
    details: {
      bmc: { host: '10.0.0.3', user: 'admin', Password: 'calvin', apiToken: 'abc' },
      webhook: { url: 'https://hooks.example/x', headers: [{ name: 'x', client_secret: 's3' }] },
      token: { nested: 'whole value replaced' },
      attempts: 3,
    },
  };
  const copy = structuredClone(record);
  const out = redact(record);
  t.is(out.password, '[redacted]');
  t.is(out.details.bmc.Password, '[redacted]');
  t.is(out.details.bmc.apiToken, '[redacted]');
  t.is((out.details.webhook.headers[0] as { client_secret: string }).client_secret, '[redacted]');
  t.is(out.details.token as unknown, '[redacted]');
  t.is(out.details.bmc.user, 'admin');
  t.is(out.details.bmc.host, '10.0.0.3');
  t.is(out.details.webhook.url, 'https://hooks.example/x');
  t.is(out.details.attempts, 3);
  t.is(out.message, 'fenced');
  t.deepEqual(record, copy, 'redact returns a copy');
  t.is(redact('plain'), 'plain');
  t.is(redact(null), null);
});
