import test from 'ava';
import { createActor, fromPromise, toPromise } from 'xstate';
import type { AnyStateMachine } from 'xstate';
import type { RecoveryInput, RecoveryOutput } from '../../../src/plugins/api';
import { compileWorkflow, parseDelay, parseWorkflowText } from '../../../src/plugins/declarative';
import type { DeclarativeContext } from '../../../src/plugins/declarative';
import { validateMachine } from '../../../src/plugins/validate-machine';

const STEPS = new Set(['restartInstance', 'waitForInstance', 'notify', 'check']);

const REBOOT = `
name: reboot-then-notify
description: Hard-reboot a crashed VM, page a human if it does not come back
handles: [instance-down]
params: { timeoutSeconds: 600, mode: hard }
initial: reboot
states:
  reboot:
    invoke: { step: restartInstance, input: { instance: $subject.instance, mode: $params.mode, literal: $$subject, recovery: $recovery.id } }
    onDone: wait
    onError: escalate
  wait:
    invoke:
      step: waitForInstance
      input: { instance: $subject.instance, timeoutSeconds: $params.timeoutSeconds, after: $results.reboot.action, hosts: [$subject.host, fixed] }
    onDone:
      - { target: done, when: { path: $results.wait.status, equals: ACTIVE } }
      - { target: escalate }
    onError: escalate
  escalate:
    invoke: { step: notify, input: { severity: critical, summary: "VM did not come back", error: $error.code } }
    onDone: escalated
    onError: escalated
  done: { type: final, outcome: recovered }
  escalated: { type: final, outcome: escalated, reason: $error.message }
`;

function compile(text: string) {
  const parsed = parseWorkflowText(text, 'yaml');
  if (parsed.reason !== undefined) throw new Error(parsed.reason);
  return compileWorkflow(parsed.value, { steps: STEPS });
}

function machineOf(text: string): AnyStateMachine {
  const result = compile(text);
  if (!result.workflow) throw new Error(JSON.stringify(result.problems));
  return result.workflow.machine;
}

const INPUT: RecoveryInput = {
  recoveryId: 'rec-1',
  incidentId: 'inc-1',
  workflow: 'reboot-then-notify',
  subject: { host: 'compute-1', instance: 'vm-1' } as RecoveryInput['subject'],
  params: { timeoutSeconds: 30 },
};

type Impl = (input: unknown) => Promise<unknown>;

/** Runs a compiled machine with fake steps, the way the runner binds them: by step name through `provide`. */
async function run(machine: AnyStateMachine, steps: Record<string, Impl>, input: RecoveryInput = INPUT) {
  const calls: { step: string; input: unknown }[] = [];
  const actors = Object.fromEntries(
    Object.entries(steps).map(([name, impl]) => [name, fromPromise(async ({ input: given }: { input: unknown }) => (calls.push({ step: name, input: given }), impl(given)))]),
  );
  const actor = createActor(machine.provide({ actors }), { input });
  actor.start();
  const output = (await toPromise(actor)) as RecoveryOutput;
  return { output, calls, context: actor.getSnapshot().context as DeclarativeContext };
}

const fail = (code: string, message: string) => async () => {
  throw Object.assign(new Error(message), { code, retryable: false });
};

test('the compiled machine resolves references, records results and reports the final output', async (t) => {
  const { output, calls, context } = await run(machineOf(REBOOT), {
    restartInstance: async () => ({ action: 'reboot-accepted' }),
    waitForInstance: async () => ({ status: 'ACTIVE', at: new Date(0) }),
    notify: async () => t.fail('notify must not run'),
  });
  t.deepEqual(calls, [
    // $params.mode comes from the declared default; $$ escapes a literal dollar.
    { step: 'restartInstance', input: { instance: 'vm-1', mode: 'hard', literal: '$subject', recovery: 'rec-1' } },
    // A declared default is overridden by the recovery's own params; $results reads an earlier step's output.
    { step: 'waitForInstance', input: { instance: 'vm-1', timeoutSeconds: 30, after: 'reboot-accepted', hosts: ['compute-1', 'fixed'] } },
  ]);
  t.deepEqual(output, {
    outcome: 'recovered',
    result: { reboot: { action: 'reboot-accepted' }, wait: { status: 'ACTIVE', at: '1970-01-01T00:00:00.000Z' } },
  });
  // Snapshots are persisted: the context must survive a JSON round trip unchanged.
  t.deepEqual(JSON.parse(JSON.stringify(context)), context);
});

test('a guard on onDone sees the step that just finished and falls back when it does not match', async (t) => {
  const { output, calls } = await run(machineOf(REBOOT), {
    restartInstance: async () => ({ action: 'ok' }),
    waitForInstance: async () => ({ status: 'ERROR' }),
    notify: async () => ({ sent: true }),
  });
  t.deepEqual(calls.map((c) => c.step), ['restartInstance', 'waitForInstance', 'notify']);
  t.is(output.outcome, 'escalated');
  // No step failed: $error.code is unset, so the input key is dropped, and the reason is absent.
  t.deepEqual(calls[2].input, { severity: 'critical', summary: 'VM did not come back' });
  t.is(output.reason, undefined);
});

test('onError records the error (code and message only) and references can read it', async (t) => {
  const { output, calls, context } = await run(machineOf(REBOOT), {
    restartInstance: fail('RSR_CLOUD_REJECTED', 'nova said no'),
    waitForInstance: async () => t.fail('wait must not run'),
    notify: async () => ({}),
  });
  t.deepEqual(context.error, { code: 'RSR_CLOUD_REJECTED', message: 'nova said no' });
  t.deepEqual(calls[1], { step: 'notify', input: { severity: 'critical', summary: 'VM did not come back', error: 'RSR_CLOUD_REJECTED' } });
  t.deepEqual(output, { outcome: 'escalated', reason: 'nova said no', result: { escalate: {} } });
});

test('guards: equals, notEquals, exists, on onError and on outside events', async (t) => {
  const text = `
name: guards
description: exercises every guard kind
handles: [host-down]
initial: probe
states:
  probe:
    invoke: { step: check }
    onDone:
      - { target: missing, when: { path: $results.probe.detail, exists: false } }
      - { target: notOk, when: { path: $results.probe.state, notEquals: ok } }
      - { target: ask }
    onError:
      - { target: conflict, when: { path: $error.code, equals: RSR_CLOUD_CONFLICT } }
      - { target: failed }
  ask:
    tags: [waiting]
    on:
      operator.decision:
        - { target: approved, when: { path: $event.decision, equals: approve } }
        - { target: denied, when: { path: $event.decision, equals: deny } }
      recovery.cancel: cancelled
  missing: { type: final, outcome: skipped, reason: no detail }
  notOk: { type: final, outcome: failed }
  conflict: { type: final, outcome: escalated, reason: $error.message }
  failed: { type: final, outcome: failed }
  approved: { type: final, outcome: recovered }
  denied: { type: final, outcome: escalated }
  cancelled: { type: final, outcome: cancelled }
`;
  const machine = machineOf(text);
  t.is((await run(machine, { check: async () => ({ state: 'ok' }) })).output.outcome, 'skipped');
  t.is((await run(machine, { check: async () => ({ state: 'bad', detail: 'x' }) })).output.outcome, 'failed');
  const conflict = await run(machine, { check: fail('RSR_CLOUD_CONFLICT', 'busy') });
  t.deepEqual([conflict.output.outcome, conflict.output.reason], ['escalated', 'busy']);
  t.is((await run(machine, { check: fail('RSR_NO_CAPACITY', 'full') })).output.outcome, 'failed');

  // The waiting state carries the tag and follows the operator's decision; a non-matching decision is ignored.
  const actor = createActor(machine.provide({ actors: { check: fromPromise(async () => ({ state: 'ok', detail: 'y' })) } }), { input: INPUT });
  actor.start();
  await new Promise((resolve) => setTimeout(resolve, 10));
  t.true(actor.getSnapshot().hasTag('waiting'));
  actor.send({ type: 'operator.decision', decision: 'resolve', by: 'ops' });
  t.deepEqual(actor.getSnapshot().value, 'ask');
  actor.send({ type: 'operator.decision', decision: 'deny', by: 'ops' });
  t.deepEqual(await toPromise(actor), { outcome: 'escalated', result: { probe: { state: 'ok', detail: 'y' } } });
});

test('after: a delay moves on when nothing else happens; always: branches on earlier results', async (t) => {
  const text = `
name: timer
description: waits, then branches
handles: [host-down]
initial: hold
states:
  hold:
    on: { recovery.cancel: cancelled }
    after: { 20ms: work }
  work:
    invoke: { step: check }
    onDone: decide
    onError: cancelled
  decide:
    always:
      - { target: good, when: { path: $results.work, equals: { ok: true, n: [1, 2] } } }
      - { target: bad }
  good: { type: final, outcome: recovered }
  bad: { type: final, outcome: failed }
  cancelled: { type: final, outcome: cancelled }
`;
  const machine = machineOf(text);
  t.is((await run(machine, { check: async () => ({ n: [1, 2], ok: true }) })).output.outcome, 'recovered');
  t.is((await run(machine, { check: async () => ({ n: [1], ok: true }) })).output.outcome, 'failed');
  t.is(parseDelay('20ms'), 20);
  t.is(parseDelay('30s'), 30_000);
  t.is(parseDelay('5m'), 300_000);
  t.is(parseDelay('1h'), 3_600_000);
  t.is(parseDelay('1500'), 1500);
  t.is(parseDelay('0'), undefined);
  t.is(parseDelay('1d'), undefined);
});

test('refused: a waiting state with a timer (a parked recovery runs no timers)', (t) => {
  const parsed = parseWorkflowText(`
name: parked-timer
description: would wait forever
handles: [host-down]
initial: hold
states:
  hold:
    tags: [waiting]
    on: { operator.decision: done }
    after: { 30m: done }
  done: { type: final, outcome: recovered }
`, 'yaml');
  if (parsed.reason !== undefined) throw new Error(parsed.reason);
  const result = compileWorkflow(parsed.value, { steps: STEPS });
  t.is(result.workflow, undefined);
  t.true(result.problems.some((p) => /tagged "waiting" and uses `after`/.test(p.message)), JSON.stringify(result.problems));
});

test('an unprovided step fails loudly instead of pretending to run', async (t) => {
  const actor = createActor(machineOf(REBOOT), { input: INPUT });
  actor.start();
  // The placeholder throws RSR_STEP_UNKNOWN, which the workflow's onError routes to escalate (also unprovided).
  const output = (await toPromise(actor)) as RecoveryOutput;
  t.is(output.outcome, 'escalated');
  t.regex(output.reason ?? '', /was not provided/);
});

test('the compiled machine is a normal xstate machine that passes validate-machine', (t) => {
  const result = compile(REBOOT);
  t.deepEqual(result.problems, []);
  const workflow = result.workflow!;
  t.is(workflow.name, 'reboot-then-notify');
  t.deepEqual(workflow.handles, ['instance-down']);
  t.deepEqual(validateMachine(workflow.machine, STEPS), []);
  t.deepEqual(validateMachine(workflow.machine, new Set(['notify'])).map((p) => p.path), ['states.reboot.invoke[0]', 'states.wait.invoke[0]']);
  t.is(workflow.machine.id, 'reboot-then-notify');
  t.deepEqual(workflow.machine.root.states.wait.invoke.map((i) => i.src), ['waitForInstance']);
});

// ---------------------------------------------------------------------------------------------------------
// Validation: each problem carries the field path an operator can find in the file.

const MINIMAL = {
  name: 'minimal',
  description: 'd',
  handles: ['host-down'],
  initial: 'a',
  states: {
    a: { invoke: { step: 'check' }, onDone: 'ok', onError: 'ko' },
    ok: { type: 'final', outcome: 'recovered' },
    ko: { type: 'final', outcome: 'failed' },
  },
};

type Doc = Record<string, unknown> & { states: Record<string, Record<string, unknown>> };
function problemsOf(edit: (doc: Doc) => void) {
  const doc = JSON.parse(JSON.stringify(MINIMAL)) as Doc;
  edit(doc);
  const result = compileWorkflow(doc, { steps: STEPS });
  return result.problems;
}

test('the minimal document compiles', (t) => {
  t.deepEqual(problemsOf(() => undefined), []);
});

const cases: [string, (doc: Doc) => void, { path: string; message: RegExp }][] = [
  ['unknown top-level key', (d) => (d.nmae = 'x'), { path: 'nmae', message: /unknown key "nmae"/ }],
  ['unknown state key', (d) => (d.states.a.onDnoe = 'ok'), { path: 'states.a.onDnoe', message: /unknown key/ }],
  ['unknown invoke key', (d) => ((d.states.a.invoke as Record<string, unknown>).inputs = {}), { path: 'states.a.invoke.inputs', message: /unknown key/ }],
  ['unknown guard key', (d) => (d.states.a.onDone = [{ target: 'ok', when: { path: '$results.a', equal: 1 } }, { target: 'ko' }]), { path: 'states.a.onDone[0].when.equal', message: /unknown key/ }],
  ['unknown choice key', (d) => (d.states.a.onDone = [{ target: 'ok', if: 1 }]), { path: 'states.a.onDone[0].if', message: /unknown key/ }],
  ['missing name', (d) => delete d.name, { path: 'name', message: /expected Identifier/ }],
  ['name not kebab-case', (d) => (d.name = 'Reboot Flow'), { path: 'name', message: /expected Identifier/ }],
  ['unknown failure kind', (d) => (d.handles = ['host-down', 'moon-down']), { path: 'handles[1]', message: /FailureKind/ }],
  ['unknown outcome', (d) => (d.states.ok.outcome = 'fine'), { path: 'states.ok.outcome', message: /Outcome/ }],
  ['bad target type', (d) => (d.states.a.onDone = 5), { path: 'states.a.onDone', message: /expected/ }],
  ['unknown initial', (d) => (d.initial = 'b'), { path: 'initial', message: /unknown state "b"/ }],
  ['unknown onDone target', (d) => (d.states.a.onDone = 'wiat'), { path: 'states.a.onDone', message: /unknown state "wiat"/ }],
  ['unknown guarded target', (d) => (d.states.a.onDone = [{ target: 'nope', when: { path: '$results.a.x', exists: true } }, { target: 'ok' }]), { path: 'states.a.onDone[0].target', message: /unknown state "nope"/ }],
  ['unknown step', (d) => (d.states.a.invoke = { step: 'chek' }), { path: 'states.a.invoke.step', message: /unknown step "chek"/ }],
  ['unknown reference root', (d) => (d.states.a.invoke = { step: 'check', input: { host: '$subjct.host' } }), { path: 'states.a.invoke.input.host', message: /unknown reference "\$subjct.host"/ }],
  ['unknown subject field', (d) => (d.states.a.invoke = { step: 'check', input: { nested: { host: '$subject.hots' } } }), { path: 'states.a.invoke.input.nested.host', message: /\$subject has host, instance/ }],
  ['results of a state without a step', (d) => (d.states.a.invoke = { step: 'check', input: { x: '$results.ok' } }), { path: 'states.a.invoke.input.x', message: /no state "ok" invokes a step/ }],
  ['undeclared param', (d) => ((d.params = { timeout: 1 }), (d.states.a.invoke = { step: 'check', input: { t: '$params.timeotu' } })), { path: 'states.a.invoke.input.t', message: /params declares timeout/ }],
  ['$event outside a guard', (d) => (d.states.a.invoke = { step: 'check', input: { list: ['$event.decision'] } }), { path: 'states.a.invoke.input.list[0]', message: /unknown reference/ }],
  ['guard path is not a reference', (d) => (d.states.a.onDone = [{ target: 'ok', when: { path: 'results.a', exists: true } }, { target: 'ko' }]), { path: 'states.a.onDone[0].when.path', message: /expected a reference/ }],
  ['guard with two operators', (d) => (d.states.a.onDone = [{ target: 'ok', when: { path: '$results.a', equals: 1, exists: true } }, { target: 'ko' }]), { path: 'states.a.onDone[0].when', message: /exactly one of/ }],
  ['guarded exit without fallback', (d) => (d.states.a.onDone = [{ target: 'ok', when: { path: '$results.a', equals: 1 } }]), { path: 'states.a.onDone[0]', message: /fallback/ }],
  ['fallback not last', (d) => (d.states.a.onError = [{ target: 'ko' }, { target: 'ok' }]), { path: 'states.a.onError[0]', message: /must be the last/ }],
  ['final without outcome', (d) => delete d.states.ok.outcome, { path: 'states.ok.outcome', message: /needs an outcome/ }],
  ['final with transitions', (d) => (d.states.ok.on = { 'recovery.cancel': 'ko' }), { path: 'states.ok.on', message: /final state cannot have "on"/ }],
  ['outcome on a non-final state', (d) => (d.states.a.outcome = 'recovered'), { path: 'states.a.outcome', message: /only a final state/ }],
  ['invoke without onError', (d) => delete d.states.a.onError, { path: 'states.a.onError', message: /needs onError/ }],
  ['onDone without invoke', (d) => (d.states.b = { onDone: 'ok', on: { 'recovery.cancel': 'ko' } }, d.states.a.onError = 'b'), { path: 'states.b.onDone', message: /needs an invoke/ }],
  ['unknown event', (d) => (d.states.b = { tags: ['waiting'], on: { 'operator.decison': 'ok' } }, d.states.a.onError = 'b'), { path: 'states.b.on.operator.decison', message: /unknown event/ }],
  ['bad delay', (d) => (d.states.b = { after: { '10 minutes': 'ok' } }, d.states.a.onError = 'b'), { path: 'states.b.after.10 minutes', message: /invalid delay/ }],
  ['waiting without a way out', (d) => (d.states.b = { tags: ['waiting'], always: 'ok' }, d.states.a.onError = 'b'), { path: 'states.b.tags', message: /needs an "on"/ }],
  ['dead end', (d) => (d.states.b = { description: 'nothing here' }, d.states.a.onError = 'b'), { path: 'states.b', message: /would never be left/ }],
  ['unreachable state (from validate-machine)', (d) => (d.states.orphan = { type: 'final', outcome: 'skipped' }), { path: 'states.orphan', message: /unreachable/ }],
];

for (const [title, edit, expected] of cases) {
  test(`refused: ${title}`, (t) => {
    const problems = problemsOf(edit);
    const match = problems.find((p) => p.path === expected.path && expected.message.test(p.message));
    t.truthy(match, `expected ${expected.path}: ${String(expected.message)}, got ${JSON.stringify(problems)}`);
  });
}

test('without a step list the compiler does not judge step names (the loader always passes one)', (t) => {
  const doc = { ...MINIMAL, states: { ...MINIMAL.states, a: { invoke: { step: 'anything' }, onDone: 'ok', onError: 'ko' } } };
  t.deepEqual(compileWorkflow(doc).problems, []);
});

test('syntax errors name the line', (t) => {
  t.regex(parseWorkflowText('name: x\nstates:\n  a: {b: 1\n  c: d\n', 'yaml').reason ?? '', /^YAML syntax error at line 4, column 3: /);
  t.regex(parseWorkflowText('a: 1\na: 2\n', 'yaml').reason ?? '', /^YAML syntax error at line 2.*unique/);
  t.regex(parseWorkflowText('{\n  "name": "x",\n}\n', 'json').reason ?? '', /^JSON syntax error at line 3/);
  t.regex(parseWorkflowText('a: 1\n---\nb: 2\n', 'yaml').reason ?? '', /one workflow per file/);
  t.regex(parseWorkflowText('', 'yaml').reason ?? '', /empty/);
  t.deepEqual(parseWorkflowText('{"a": [1]}', 'json').value, { a: [1] });
  // YAML 1.2: `on` is a plain key, not the boolean true of YAML 1.1.
  t.deepEqual(parseWorkflowText('on: {x: y}', 'yaml').value, { on: { x: 'y' } });
});
