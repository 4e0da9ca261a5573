import test from 'ava';
import { createMachine, fromPromise, setup } from 'xstate';
import { stepActor } from '../../../src/plugins/api';
import { buildMachine, validateMachine } from '../../../src/plugins/validate-machine';

const STEPS = new Set(['fenceHost', 'evacuate', 'notify']);
const output = ({ event }: { event: { output?: unknown } }) => event.output;
const final = (outcome: string) => ({ type: 'final' as const, output: () => ({ outcome }) });
const actors = { fenceHost: stepActor('fenceHost'), evacuate: stepActor('evacuate'), notify: stepActor('notify') };

/**
 * Every state is reachable through exactly one mechanism, so each must be understood by the walker:
 * compound initial, a compound's onDone, parallel regions, invoke onDone/onError, `after`, `always`, `on`.
 */
const good = setup({ actors }).createMachine({
  id: 'good',
  initial: 'fence',
  output,
  states: {
    fence: {
      initial: 'ipmi',
      states: {
        ipmi: { invoke: { src: 'fenceHost', onDone: 'viaDone', onError: 'viaError' } },
        viaDone: { after: { 1000: 'viaAfter' } },
        viaError: { on: { 'recovery.cancel': 'viaOn' } },
        viaAfter: { always: 'fenced' },
        viaOn: { always: 'fenced' },
        fenced: { type: 'final' },
      },
      onDone: 'evacuate',
    },
    evacuate: {
      type: 'parallel',
      states: {
        instances: {
          initial: 'moving',
          states: { moving: { invoke: { src: 'evacuate', onDone: 'moved', onError: 'moved' } }, moved: { type: 'final' } },
        },
        paging: {
          initial: 'check',
          states: { check: { always: 'paged' }, paged: { type: 'final' } },
        },
      },
      onDone: 'approval',
    },
    approval: { tags: ['waiting'], on: { 'operator.decision': 'done', 'recovery.cancel': 'cancelled' } },
    done: final('recovered'),
    cancelled: final('cancelled'),
  },
});

test('a machine with compound and parallel states, every state reachable, passes', (t) => {
  t.deepEqual(validateMachine(good, STEPS), []);
});

test('a string invoke.src that names no registered step is reported with its path, nested ones too', (t) => {
  const machine = setup({ actors: { ...actors, fenceHots: stepActor('fenceHots'), evacuat: stepActor('evacuat') } }).createMachine({
    initial: 'fence',
    output,
    states: {
      fence: { invoke: { src: 'fenceHots', onDone: 'nested', onError: 'done' } },
      nested: {
        initial: 'inner',
        states: { inner: { invoke: [{ src: 'notify' }, { src: 'evacuat', onDone: 'end' }] }, end: { type: 'final' } },
        onDone: 'done',
      },
      done: final('recovered'),
    },
  });
  t.deepEqual(validateMachine(machine, STEPS), [
    { path: 'states.fence.invoke[0]', message: 'unknown step "fenceHots"' },
    { path: 'states.nested.states.inner.invoke[1]', message: 'unknown step "evacuat"' },
  ]);
});

test('inline actor logic is not a step reference', (t) => {
  const machine = createMachine({
    initial: 'work',
    output,
    states: {
      work: { invoke: { src: fromPromise(async () => 1), onDone: 'done' } },
      done: final('recovered'),
    },
  });
  t.deepEqual(validateMachine(machine, STEPS), []);
});

test('a machine without a final state is refused', (t) => {
  const machine = createMachine({ initial: 'a', output, states: { a: { on: { 'recovery.cancel': 'b' } }, b: { on: { 'recovery.cancel': 'a' } } } });
  t.deepEqual(validateMachine(machine, STEPS), [{ path: '(root)', message: 'no final state: the machine can never finish' }]);
});

test('a final state nested in a compound state does not finish the machine', (t) => {
  const machine = createMachine({
    initial: 'outer',
    output,
    states: { outer: { initial: 'inner', states: { inner: { always: 'end' }, end: { type: 'final' } } } },
  });
  t.deepEqual(validateMachine(machine, STEPS), [{ path: '(root)', message: 'no final state: the machine can never finish' }]);
});

test('a parallel root needs a final state in every region', (t) => {
  const machine = createMachine({
    type: 'parallel',
    output,
    states: {
      a: { initial: 'x', states: { x: { always: 'y' }, y: { type: 'final' } } },
      b: { initial: 'x', states: { x: {} } },
    },
  });
  t.deepEqual(validateMachine(machine, STEPS), [{ path: '(root)', message: 'no final state: the machine can never finish' }]);
});

test('an unreachable final state is reported, and so is an unreachable ordinary state (not its children)', (t) => {
  const machine = setup({ actors }).createMachine({
    initial: 'fence',
    output,
    states: {
      fence: { invoke: { src: 'fenceHost', onDone: 'done', onError: 'done' } },
      orphanGroup: { initial: 'a', states: { a: { always: 'b' }, b: { type: 'final' } }, onDone: 'done' },
      done: final('recovered'),
      forgotten: final('escalated'),
    },
  });
  t.deepEqual(validateMachine(machine, STEPS), [
    { path: 'states.orphanGroup', message: 'state "orphanGroup" is unreachable from the initial state' },
    { path: 'states.forgotten', message: 'final state "forgotten" is unreachable from the initial state' },
  ]);
});

test('an unreachable nested final state is reported with its nested path', (t) => {
  const machine = createMachine({
    initial: 'fence',
    output,
    states: {
      fence: { initial: 'try', states: { try: { always: 'ok' }, ok: { type: 'final' }, never: { type: 'final' } }, onDone: 'done' },
      done: final('recovered'),
    },
  });
  t.deepEqual(validateMachine(machine, STEPS), [{ path: 'states.fence.states.never', message: 'final state "never" is unreachable from the initial state' }]);
});

test('when no final state can be reached that is said explicitly', (t) => {
  const machine = createMachine({
    initial: 'loop',
    output,
    states: { loop: { after: { 10: 'loop' } }, done: final('recovered') },
  });
  const problems = validateMachine(machine, STEPS);
  t.deepEqual(problems, [
    { path: 'states.done', message: 'final state "done" is unreachable from the initial state' },
    { path: '(root)', message: 'no reachable final state: the machine can never finish' },
  ]);
});

test('a guarded transition still counts as a way in (the check is static)', (t) => {
  const machine = setup({ guards: { never: () => false } }).createMachine({
    initial: 'a',
    output,
    states: { a: { always: [{ target: 'b', guard: 'never' }, { target: 'c' }] }, b: final('recovered'), c: final('failed') },
  });
  t.deepEqual(validateMachine(machine, STEPS), []);
});

test('a history state is not reported as unreachable, and targeting it reaches its parent', (t) => {
  const machine = createMachine({
    initial: 'a',
    output,
    states: {
      a: { on: { 'operator.decision': 'group.hist' } },
      group: { initial: 'x', states: { x: { always: 'y' }, y: { type: 'final' }, hist: { type: 'history' } }, onDone: 'done' },
      done: final('recovered'),
    },
  });
  t.deepEqual(validateMachine(machine, STEPS), []);
});

test('a machine without an output is refused: the runner needs a RecoveryOutput', (t) => {
  const machine = createMachine({ initial: 'a', states: { a: { always: 'b' }, b: final('recovered') } });
  const problems = validateMachine(machine, STEPS);
  t.is(problems.length, 1);
  t.is(problems[0].path, '(root)');
  t.regex(problems[0].message, /^no output/);
});

test('construction errors become "invalid machine" problems', (t) => {
  const badTarget = buildMachine(() => createMachine({ initial: 'a', states: { a: { on: { go: 'nowhere' } } } }));
  t.is(badTarget.machine, undefined);
  t.is(badTarget.problems.length, 1);
  t.regex(badTarget.problems[0].message, /^invalid machine: .*nowhere/);

  // xstate resolves a missing initial child lazily; the probe must still catch it.
  const badInitial = buildMachine(() => createMachine({ initial: 'missing', output, states: { a: final('recovered') } }));
  t.regex(badInitial.problems[0]?.message ?? '', /^invalid machine: .*missing/);
  t.regex(validateMachine(createMachine({ initial: 'missing', output, states: { a: final('recovered') } }), STEPS)[0]?.message ?? '', /^invalid machine/);

  const notAMachine = validateMachine({ states: {} }, STEPS);
  t.deepEqual(notAMachine, [{ path: '(root)', message: 'invalid machine: not an xstate machine' }]);

  const good = buildMachine(() => createMachine({ initial: 'a', output, states: { a: final('recovered') } }));
  t.truthy(good.machine);
  t.deepEqual(good.problems, []);
});
