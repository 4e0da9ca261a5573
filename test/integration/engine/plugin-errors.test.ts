/**
 * An operator's plugin directory with good and broken files, given in `plugins.dirs`: the engine starts
 * anyway, refuses each broken file with its reason, registers and runs the good workflow, and keeps the
 * built-in workflows working.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_WORKFLOWS } from '../../../src/config/config';
import type { Config } from '../../../src/config/config';
import { useRedis } from '../../helpers/redis';
import { startEngine } from '../../helpers/engine';

const redis = useRedis(test);

const ROOT = path.resolve(__dirname, '../../..');
// A temp directory has no node_modules: plugin files import the API and xstate by absolute path.
const API = path.join(ROOT, 'src/plugins/api');
const XSTATE = require.resolve('xstate');

const GOOD = `name: nudge-instance
description: Stop/start a crashed VM in place; page if it stays down
handles: [instance-down]
initial: restarting
states:
  restarting:
    invoke: { step: restartInstance, input: { instance: $subject.instance, mode: stop-start } }
    onDone: recovered
    onError: paging
  paging:
    invoke: { step: notify, input: { severity: critical, topic: incident.escalated, summary: VM still down, details: { error: $error.message } } }
    onDone: escalated
    onError: escalated
  recovered: { type: final, outcome: recovered }
  escalated: { type: final, outcome: escalated, reason: $error.message }
`;

/** File name → content, and for the broken ones the reason the loader must give. */
const BROKEN: Record<string, { content: string; reason: RegExp }> = {
  'bad-syntax.yaml': {
    content: 'name: bad-syntax\ndescription: a flow map never closed\nstates:\n  a: {b: 1\n  c: d\n',
    reason: /^YAML syntax error at line \d+, column \d+: /,
  },
  'unknown-step.yaml': {
    content: GOOD.replace('name: nudge-instance', 'name: unknown-step').replace('step: restartInstance', 'step: rebootTheWorld'),
    reason: /^workflow "unknown-step": states\.restarting\.invoke\.step: unknown step "rebootTheWorld"$/,
  },
  'throws-at-import.ts': {
    content: `import { definePlugin } from ${JSON.stringify(API)};
const inventory = process.env.NO_SUCH_CMDB_URL;
if (!inventory) throw new Error('CMDB unreachable: NO_SUCH_CMDB_URL is not set');
export default definePlugin({ name: 'cmdb-steps' });
`,
    reason: /^failed at import: CMDB unreachable: NO_SUCH_CMDB_URL is not set$/,
  },
  'unreachable-final.ts': {
    content: `import { setup } from ${JSON.stringify(XSTATE)};
import { definePlugin, defineWorkflow, stepActor } from ${JSON.stringify(API)};
const machine = setup({ actors: { notify: stepActor('notify') } }).createMachine({
  initial: 'telling',
  output: () => ({ outcome: 'recovered' as const }),
  states: {
    telling: { invoke: { src: 'notify', input: { severity: 'info', topic: 't', summary: 's' }, onDone: 'done', onError: 'done' } },
    done: { type: 'final' },
    forgotten: { type: 'final' },
  },
});
export default definePlugin({
  name: 'unreachable-final',
  workflows: [defineWorkflow({ name: 'unreachable-final', description: 'a final state nothing leads to', handles: ['host-down'], machine })],
});
`,
    reason: /^workflow "unreachable-final": states\.forgotten: final state "forgotten" is unreachable from the initial state$/,
  },
  'restart-in-place.yaml': {
    content: GOOD.replace('name: nudge-instance', 'name: restart-in-place'),
    reason: new RegExp(`^duplicate workflow "restart-in-place": already registered from ${escape(path.join(ROOT, 'workflows/restart-in-place/index.ts'))}$`),
  },
};

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

let dir = '';

test.before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rsr-plugin-errors-'));
  await fs.writeFile(path.join(dir, 'nudge-instance.yaml'), GOOD);
  // A draft: discovery skips names starting with `_`, so its errors must not be reported.
  await fs.writeFile(path.join(dir, '_draft.yaml'), 'name: [unfinished\n');
  for (const [name, { content }] of Object.entries(BROKEN)) await fs.writeFile(path.join(dir, name), content);
});

test.after.always(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

const config = (): Partial<Config> => ({
  plugins: { dirs: [dir] },
  workflows: { ...DEFAULT_WORKFLOWS, 'instance-down': 'nudge-instance' },
});

test('the engine starts and refuses each broken file with its reason; nothing else is refused', async (t) => {
  // No worker: nothing runs here (and closing a worker still starting trips a bull bug, see custom-workflows).
  const h = await startEngine(redis, { config: config(), worker: false });
  t.teardown(() => h.close());
  const errors = h.app.loadReport.errors;
  t.deepEqual(errors.map((e) => e.file).sort(), Object.keys(BROKEN).map((name) => path.join(dir, name)).sort(), errors.map((e) => e.message).join('\n'));
  for (const [name, { reason }] of Object.entries(BROKEN)) {
    const error = errors.find((e) => e.file === path.join(dir, name));
    t.regex(error?.reason ?? '(no error)', reason, name);
    t.is(error?.code, 'RSR_PLUGIN_LOAD', name);
    t.true(error?.message.startsWith(`${path.join(dir, name)}: `), `${name}: the message names the file`);
  }

  const { registry } = h.app;
  t.is(registry.sourceOf('workflow', 'nudge-instance'), path.join(dir, 'nudge-instance.yaml'));
  for (const refused of ['unknown-step', 'unreachable-final', 'bad-syntax']) t.false(registry.hasWorkflow(refused), refused);
  // The duplicate did not replace the built-in.
  t.is(registry.sourceOf('workflow', 'restart-in-place'), path.join(ROOT, 'workflows/restart-in-place/index.ts'));
  for (const builtin of ['fence-then-evacuate', 'evacuate-instance', 'live-migrate-first', 'live-migrate-instance', 'notify-only']) {
    t.true(registry.hasWorkflow(builtin), builtin);
  }
  t.true(h.app.loadReport.loaded.some((entry) => entry.file === path.join(dir, 'nudge-instance.yaml') && entry.workflows.includes('nudge-instance')));
});

test('the good workflow from the same directory is registered and recovers a crashed VM end to end', async (t) => {
  const h = await startEngine(redis, { config: config() });
  t.teardown(() => h.close());
  h.world.crashInstance('vm-d');
  const { incident } = await h.app.engine.report({ kind: 'instance-down', host: 'compute-2', instance: 'vm-d' });
  t.is(incident.workflow, 'nudge-instance');
  const closed = await h.waitClosed(incident.id);
  const trail = await h.trail(incident.recoveryId);
  t.is(closed.outcome, 'recovered', trail.join('\n'));
  t.is(h.world.instanceState('vm-d').status, 'ACTIVE');
  t.true(h.world.instanceState('vm-d').guestRunning);
  t.is(h.world.count('startInstance', 'vm-d', 'accepted'), 1);
  t.true(trail.includes('restarting → recovered'), trail.join('\n'));
});

test('the built-in workflows still run: a dead host is fenced and evacuated', async (t) => {
  const h = await startEngine(redis, { config: config() });
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'power');
  const { incident } = await h.app.engine.report({ kind: 'host-down', host: 'compute-1' });
  t.is(incident.workflow, 'fence-then-evacuate');
  const closed = await h.waitClosed(incident.id);
  t.is(closed.outcome, 'recovered', (await h.trail(incident.id)).join('\n'));
  for (const id of ['vm-a', 'vm-b', 'vm-c']) {
    t.is(h.world.instanceState(id).status, 'ACTIVE', id);
    t.not(String(h.world.instanceState(id).host), 'compute-1', id);
    t.is(h.world.count('evacuate', id, 'accepted'), 1, id);
  }
  t.is(h.world.hostState('compute-1').power, 'off');
});
