import test from 'ava';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createActor, fromPromise, toPromise } from 'xstate';
import { definePlugin, defineStep } from '../../../src/plugins/api';
import type { PluginDefinition, RecoveryInput, RecoveryOutput, StepContext } from '../../../src/plugins/api';
import { loadPlugins, validatePaths } from '../../../src/plugins/loader';
import type { LoadReport } from '../../../src/plugins/loader';
import { Registry } from '../../../src/plugins/registry';

const API = path.resolve(__dirname, '../../../src/plugins/api');
// Temp directories have no node_modules: plugin files import xstate by absolute path.
const XSTATE = require.resolve('xstate');

const builtin: PluginDefinition = definePlugin({
  name: 'test-builtin',
  steps: [
    defineStep({
      name: 'restart',
      description: 'pretends to restart an instance',
      timeoutMs: 1000,
      run: async (input: { instance?: string; mode?: string }) => ({ restarted: input.instance, mode: input.mode }),
    }),
  ],
});

const tsWorkflow = (name: string, step: string) => `
import { setup } from ${JSON.stringify(XSTATE)};
import { definePlugin, defineWorkflow, stepActor } from ${JSON.stringify(API)};
const machine = setup({ actors: { ${step}: stepActor(${JSON.stringify(step)}) } }).createMachine({
  initial: 'fence',
  output: ({ event }: { event: { output?: unknown } }) => event.output as never,
  states: {
    fence: { invoke: { src: ${JSON.stringify(step)}, onDone: 'done', onError: 'failed' } },
    done: { type: 'final', output: () => ({ outcome: 'recovered' as const }) },
    failed: { type: 'final', output: () => ({ outcome: 'failed' as const }) },
  },
});
export const plugin = definePlugin({
  name: ${JSON.stringify(name)},
  workflows: [defineWorkflow({ name: ${JSON.stringify(name)}, description: 'a TS workflow', handles: ['host-down'], machine })],
});
`;

const yamlWorkflow = (name: string, body: string) => `name: ${name}\ndescription: test workflow\nhandles: [instance-down]\n${body}`;

const GOOD = yamlWorkflow(
  'good-flow',
  `initial: reboot
states:
  reboot:
    invoke: { step: restart, input: { instance: $subject.instance, mode: hard } }
    onDone: echo
    onError: failed
  echo:
    invoke: { step: echo, input: { previous: $results.reboot.restarted } }
    onDone: done
    onError: failed
  done: { type: final, outcome: recovered }
  failed: { type: final, outcome: failed, reason: $error.message }
`,
);

const SIMPLE = (name: string) =>
  yamlWorkflow(name, `initial: a\nstates:\n  a: { invoke: { step: restart }, onDone: done, onError: done }\n  done: { type: final, outcome: recovered }\n`);

/** The scenario directory: good files, broken files, and files discovery must skip. */
const FILES: Record<string, string> = {
  'a-good.yaml': GOOD,
  'b-ts-workflow.ts': tsWorkflow('ts-flow', 'restart'),
  'bad-syntax.yaml': 'name: broken\nstates:\n  a: {b: 1\n  c: d\n',
  'broken.ts': `import { definePlugin } from ${JSON.stringify(API)};\nexport default definePlugin({ name: 'broken', steps: [ });\n`,
  'dup-1.yaml': SIMPLE('dup-flow'),
  'dup-2.json': JSON.stringify({
    name: 'dup-flow',
    description: 'same name, other file',
    handles: ['host-down'],
    initial: 'a',
    states: { a: { invoke: { step: 'restart' }, onDone: 'done', onError: 'done' }, done: { type: 'final', outcome: 'recovered' } },
  }),
  'dup-step.ts': `import { definePlugin, defineStep } from ${JSON.stringify(API)};
export default definePlugin({ name: 'dup-step', steps: [defineStep({ name: 'restart', description: 'again', timeoutMs: 10, run: async () => null })] });
`,
  'no-plugin.ts': 'export const helper = 42;\nexport default { name: "looks like a plugin but is not marked" };\n',
  'throws.ts': 'throw new Error("boom at import");\n',
  'ts-unknown-step.ts': tsWorkflow('ts-typo', 'fenceHots'),
  'unknown-step.yaml': yamlWorkflow(
    'typo-flow',
    'initial: a\nstates:\n  a: { invoke: { step: restrat }, onDone: done, onError: done }\n  done: { type: final, outcome: recovered }\n',
  ),
  'unreachable.yaml': yamlWorkflow(
    'orphan-flow',
    'initial: a\nstates:\n  a: { invoke: { step: restart }, onDone: done, onError: done }\n  done: { type: final, outcome: recovered }\n  orphan: { type: final, outcome: failed }\n',
  ),
  'z-steps.ts': `import { definePlugin, defineStep } from ${JSON.stringify(API)};
export default definePlugin({
  name: 'z-steps',
  steps: [defineStep({ name: 'echo', description: 'echoes', timeoutMs: 1000, run: async (input: unknown) => ({ echoed: input }) })],
  slas: [{ name: 'gold', description: 'fast', deadlineSeconds: 600, priority: 1, retry: { attempts: 3, backoffMs: 1000, exponential: true }, workflows: { allowed: ['good-flow'], preferred: [] }, escalation: [{ action: 'notify', budgetSeconds: 60 }] }],
});
`,
  'esm.mjs': `export default { [Symbol.for('resurrect.plugin')]: true, name: 'esm', steps: [{ name: 'esmStep', description: 'esm', timeoutMs: 5, run: async () => 1 }] };\n`,
  'cjs.cjs': `module.exports = { [Symbol.for('resurrect.plugin')]: true, name: 'cjs', slas: [{ name: 'bronze', description: 'slow', deadlineSeconds: 3600, priority: 5, retry: { attempts: 1, backoffMs: 0, exponential: true }, workflows: { allowed: ['good-flow'], preferred: [] }, escalation: [{ action: 'notify', budgetSeconds: 60 }] }] };\n`,
  'folder/index.ts': `import { definePlugin } from ${JSON.stringify(API)};
export default definePlugin({
  name: 'folder',
  drivers: [{ kind: 'fencing', name: 'fake', create: () => ({}) }],
  notifiers: [{ kind: 'notifier', name: 'pager', create: () => ({ name: 'pager', notify: async () => undefined }) }],
});
`,
  'folder/helper.ts': 'throw new Error("only index files of a folder are loaded");\n',
  // Skipped by discovery: each would be refused if it were read.
  'README.md': '# not a workflow',
  'notes.md': 'not a workflow',
  '_draft.yaml': 'name: [unclosed',
  '.hidden.yaml': 'name: [unclosed',
  'x.test.ts': 'throw new Error("tests are not plugins");\n',
  'types.d.ts': 'export declare const x: number;\n',
  'package.json': '{"name": "plugins"}',
  'empty-folder/readme.txt': 'no index here',
};

const EXPECTED_REFUSALS: Record<string, RegExp> = {
  'bad-syntax.yaml': /^YAML syntax error at line 4, column 3: /,
  'broken.ts': /^syntax error: .*broken\.ts:2:\d+: ERROR: /,
  'dup-2.json': /^duplicate workflow "dup-flow": already registered from .*dup-1\.yaml$/,
  'dup-step.ts': /^duplicate step "restart": already registered from builtin:test-builtin$/,
  'no-plugin.ts': /^exports no plugin/,
  'throws.ts': /^failed at import: boom at import$/,
  'ts-unknown-step.ts': /^workflow "ts-typo": states\.fence\.invoke\[0\]: unknown step "fenceHots"$/,
  'unknown-step.yaml': /^workflow "typo-flow": states\.a\.invoke\.step: unknown step "restrat"$/,
  'unreachable.yaml': /^workflow "orphan-flow": states\.orphan: final state "orphan" is unreachable from the initial state$/,
};

async function writeTree(files: Record<string, string>): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'resurrect-plugins-'));
  for (const [name, text] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), text);
  }
  return dir;
}

function fakeLog() {
  const warnings: { fields: Record<string, unknown>; message: string }[] = [];
  const log = {
    warn: (fields: Record<string, unknown>, message: string) => void warnings.push({ fields, message }),
    info: () => undefined,
    debug: () => undefined,
  };
  return { log: log as unknown as Parameters<typeof loadPlugins>[0]['log'], warnings };
}

const refusals = (report: LoadReport, dir: string) =>
  Object.fromEntries(report.errors.map((e) => [path.relative(dir, e.file), e.reason]));

let dir: string;
let registry: Registry;
let report: LoadReport;
let warnings: ReturnType<typeof fakeLog>['warnings'];

test.before(async () => {
  dir = await writeTree(FILES);
  registry = new Registry();
  const logged = fakeLog();
  warnings = logged.warnings;
  report = await loadPlugins({ builtin: [builtin], dirs: [dir], registry, log: logged.log });
});

test.after.always(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

test('each broken file is refused with its file and reason; skipped files are never read', (t) => {
  const got = refusals(report, dir);
  t.deepEqual(Object.keys(got).sort(), Object.keys(EXPECTED_REFUSALS).sort());
  for (const [file, reason] of Object.entries(EXPECTED_REFUSALS)) t.regex(got[file], reason, file);
  for (const error of report.errors) {
    t.is(error.code, 'RSR_PLUGIN_LOAD');
    t.true(path.isAbsolute(error.file));
  }
  t.deepEqual(registry.errors, report.errors);
});

test('every refusal is logged at warn with file and reason', (t) => {
  t.deepEqual(
    warnings.map((w) => w.fields),
    report.errors.map((e) => ({ file: e.file, reason: e.reason })),
  );
});

test('the good files are registered, wherever their steps come from', (t) => {
  t.deepEqual(registry.listWorkflows().map((w) => w.name).sort(), ['dup-flow', 'good-flow', 'ts-flow']);
  t.deepEqual(registry.listSteps().map((s) => s.name).sort(), ['echo', 'esmStep', 'restart']);
  t.deepEqual(registry.listSlas().map((s) => s.name).sort(), ['bronze', 'gold']);
  t.is(registry.driver('fencing', 'fake').name, 'fake');
  t.is(registry.notifier('pager').name, 'pager');
  // The first file wins a duplicate; the workflow remembers where it came from.
  t.is(registry.workflow('dup-flow').source, path.join(dir, 'dup-1.yaml'));
  t.is(registry.sourceOf('step', 'restart'), 'builtin:test-builtin');
  t.is(registry.sourceOf('step', 'echo'), path.join(dir, 'z-steps.ts'));
});

test('the report lists what each file contributed', (t) => {
  const byFile = Object.fromEntries(report.loaded.map((entry) => [entry.file.startsWith('builtin:') ? entry.file : path.relative(dir, entry.file), entry]));
  t.deepEqual(Object.keys(byFile).sort(), ['a-good.yaml', 'b-ts-workflow.ts', 'builtin:test-builtin', 'cjs.cjs', 'dup-1.yaml', 'esm.mjs', 'folder/index.ts', 'z-steps.ts']);
  t.deepEqual(byFile['z-steps.ts'], { file: path.join(dir, 'z-steps.ts'), plugin: 'z-steps', workflows: [], steps: ['echo'], slas: ['gold'], drivers: [], notifiers: [] });
  t.deepEqual(byFile['folder/index.ts'].drivers, ['fencing:fake']);
  t.deepEqual(byFile['folder/index.ts'].notifiers, ['pager']);
  t.deepEqual(byFile['a-good.yaml'].workflows, ['good-flow']);
});

test('a loaded declarative workflow runs with the registered steps bound by name', async (t) => {
  const workflow = registry.workflow('good-flow');
  const input: RecoveryInput = {
    recoveryId: 'rec-9',
    incidentId: 'inc-9',
    workflow: 'good-flow',
    subject: { host: 'compute-2', instance: 'vm-9' } as RecoveryInput['subject'],
    params: {},
  };
  // What the runner does: every step the registry knows, bound through `provide`.
  const actors = Object.fromEntries(
    registry.listSteps().map((step) => [step.name, fromPromise(({ input: given }: { input: unknown }) => step.run(given, {} as StepContext))]),
  );
  const actor = createActor(workflow.machine.provide({ actors }), { input });
  actor.start();
  const output = (await toPromise(actor)) as RecoveryOutput;
  t.deepEqual(output, {
    outcome: 'recovered',
    result: { reboot: { restarted: 'vm-9', mode: 'hard' }, echo: { echoed: { previous: 'vm-9' } } },
  });
});

test('a loaded TypeScript workflow runs too', async (t) => {
  const actors = { restart: fromPromise(async () => ({})) };
  const actor = createActor(registry.workflow('ts-flow').machine.provide({ actors }), { input: {} });
  actor.start();
  t.deepEqual(await toPromise(actor), { outcome: 'recovered' });
});

test('unknown names are errors with codes', (t) => {
  t.throws(() => registry.workflow('nope'), { message: /no workflow registered under "nope"/, instanceOf: Error });
  t.is(registryError(() => registry.workflow('nope')), 'RSR_WORKFLOW_UNKNOWN');
  t.is(registryError(() => registry.step('nope')), 'RSR_STEP_UNKNOWN');
  t.is(registryError(() => registry.driver('cloud', 'nope')), 'RSR_CONFIG_INVALID');
  t.is(registry.findWorkflow('nope'), undefined);
});

function registryError(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

test('a missing directory is skipped, an unreadable one is refused by name, and the others still load', async (t) => {
  const other = await writeTree({ 'only.yaml': SIMPLE('only-flow') });
  const missing = path.join(other, 'does-not-exist');
  const notADir = path.join(other, 'only.yaml');
  const fresh = new Registry();
  const { log, warnings: logged } = fakeLog();
  const result = await loadPlugins({ builtin: [builtin], dirs: [missing, notADir, other], registry: fresh, log });
  t.deepEqual(result.errors.map((e) => e.file), [notADir]);
  t.regex(result.errors[0].reason, /^cannot read plugin directory: .*ENOTDIR/);
  t.is(logged.length, 1);
  t.true(fresh.hasWorkflow('only-flow'));
  await fs.rm(other, { recursive: true, force: true });
});

test('validatePaths checks files and directories against the built-ins without keeping anything', async (t) => {
  const missing = path.join(dir, 'missing.yaml');
  const files = await validatePaths(
    [path.join(dir, 'a-good.yaml'), path.join(dir, 'z-steps.ts'), path.join(dir, 'unknown-step.yaml'), path.join(dir, '_draft.yaml'), path.join(dir, 'notes.md'), missing],
    [builtin],
  );
  // Path problems come first (found while collecting), then file refusals in the order given.
  t.deepEqual(
    files.errors.map((e) => [path.relative(dir, e.file), e.reason.split(':')[0]]),
    [
      ['notes.md', 'unsupported file type (expected .ts, .mts, .cts, .js, .mjs, .cjs, .yaml, .yml, .json)'],
      ['missing.yaml', 'no such file or directory'],
      // Named explicitly, a `_draft` file is checked although discovery skips it.
      ['_draft.yaml', 'YAML syntax error at line 1, column 16'],
      ['unknown-step.yaml', 'workflow "typo-flow"'],
    ],
  );
  t.deepEqual(files.loaded.map((e) => path.relative(dir, e.file)).sort(), ['a-good.yaml', 'z-steps.ts']);

  // Without z-steps.ts, good-flow's `echo` step is unknown: validation sees only the built-ins and the given paths.
  const alone = await validatePaths([path.join(dir, 'a-good.yaml')], [builtin]);
  t.deepEqual(alone.errors.map((e) => e.reason), ['workflow "good-flow": states.echo.invoke.step: unknown step "echo"']);

  const whole = await validatePaths([dir], [builtin]);
  t.deepEqual(refusals(whole, dir), refusals(report, dir));

  // The registry of the running engine is untouched.
  t.false(registry.hasWorkflow('typo-flow'));
  t.is(registry.errors.length, Object.keys(EXPECTED_REFUSALS).length);
});

test('registration refuses duplicates of every kind, naming both sources', (t) => {
  const fresh = new Registry();
  const step = builtin.steps![0];
  fresh.addStep(step, 'a.ts');
  t.throws(() => fresh.addStep(step, 'b.ts'), { message: 'b.ts: duplicate step "restart": already registered from a.ts' });
  const sla = { name: 'gold', description: '', deadlineSeconds: 1, priority: 1, retry: { attempts: 1, backoffMs: 0, exponential: true }, workflows: { allowed: ['good-flow'], preferred: [] }, escalation: [{ action: 'notify', budgetSeconds: 1 }] };
  fresh.addSla(sla, 'a.ts');
  t.throws(() => fresh.addSla(sla, 'c.ts'), { message: 'c.ts: duplicate SLA "gold": already registered from a.ts' });
  const driver = { kind: 'cloud' as const, name: 'nova', create: () => ({}) };
  fresh.addDriver(driver, 'a.ts');
  fresh.addDriver({ ...driver, kind: 'fencing' }, 'a.ts'); // same name, other kind: fine
  t.throws(() => fresh.addDriver(driver, 'd.ts'), { message: 'd.ts: duplicate cloud driver "nova": already registered from a.ts' });
});
