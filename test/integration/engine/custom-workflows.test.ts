/**
 * The examples of docs/writing-workflows.md, loaded the way an operator loads them (a directory in
 * `plugins.dirs`, event kinds mapped in `workflows`) and run end to end on the simulated cloud. The guide
 * quotes these files verbatim; the last tests check that it still does, so the guide cannot drift from what
 * is tested here.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_WORKFLOWS } from '../../../src/config/config';
import type { Config } from '../../../src/config/config';
import { compileWorkflow, parseWorkflowText } from '../../../src/plugins/declarative';
import { BUILTIN_STEPS } from '../../../src/steps';
import { useRedis } from '../../helpers/redis';
import { startEngine, testConfig } from '../../helpers/engine';

const redis = useRedis(test);

const ROOT = path.resolve(__dirname, '../../..');
const EXAMPLES = path.join(ROOT, 'docs/examples');
const YAML_EXAMPLE = path.join(EXAMPLES, 'reboot-then-page.yaml');
const TS_EXAMPLE = path.join(EXAMPLES, 'drain-then-notify/index.ts');
const GUIDE = path.join(ROOT, 'docs/writing-workflows.md');

const config: Partial<Config> = {
  plugins: { dirs: [EXAMPLES] },
  workflows: { ...DEFAULT_WORKFLOWS, 'instance-down': 'reboot-then-page', 'host-degraded': 'drain-then-notify' },
};
/** The job attempts the harness configures: a retryable step error reaches onError on the last one. */
const ATTEMPTS = testConfig('unused').retry.attempts;

const notifications = async (h: Awaited<ReturnType<typeof startEngine>>, id: string) =>
  (await h.app.engine.audit(id)).filter((row) => row.record.type === 'notify').map((row) => row.record.message);

test('the doc examples load from plugins.dirs without a refusal, each from its own file', async (t) => {
  // No worker: nothing runs here, and closing a worker that is still starting trips a bull bug (unhandled
  // "Connection is closed." from its unawaited CLIENT SETNAME).
  const h = await startEngine(redis, { config, worker: false });
  t.teardown(() => h.close());
  t.deepEqual(h.app.loadReport.errors.map((e) => `${e.file}: ${e.reason}`), []);
  t.is(h.app.registry.sourceOf('workflow', 'reboot-then-page'), YAML_EXAMPLE);
  t.is(h.app.registry.sourceOf('workflow', 'drain-then-notify'), TS_EXAMPLE);
  t.is(h.app.registry.sourceOf('step', 'recordMaintenance'), TS_EXAMPLE);
  t.deepEqual(h.app.registry.workflow('drain-then-notify').handles, ['host-degraded']);
  t.deepEqual(h.app.registry.workflow('reboot-then-page').handles, ['instance-down']);
});

// ---------------------------------------------------------------------------------------------------------
// reboot-then-page (YAML)

test('reboot-then-page: a crashed VM is hard-rebooted once in place and recovered', async (t) => {
  const h = await startEngine(redis, { config });
  t.teardown(() => h.close());
  h.world.crashInstance('vm-d');
  t.is(h.world.instanceState('vm-d').status, 'SHUTOFF');
  const { incident } = await h.app.engine.report({ kind: 'instance-down', host: 'compute-2', instance: 'vm-d' });
  t.is(incident.workflow, 'reboot-then-page');
  const closed = await h.waitClosed(incident.id);
  const trail = await h.trail(incident.recoveryId);
  t.is(closed.outcome, 'recovered', trail.join('\n'));
  const vm = h.world.instanceState('vm-d');
  t.is(vm.status, 'ACTIVE');
  t.is(String(vm.host), 'compute-2');
  t.true(vm.guestRunning);
  t.is(h.world.count('rebootInstance', 'vm-d', 'accepted'), 1);
  t.is(h.world.count('stopInstance', 'vm-d'), 0, 'hard-reboot mode, not stop/start');
  t.is(h.world.count('startInstance', 'vm-d'), 0);
  t.true(trail.includes('rebooting → recovered'), trail.join('\n'));
  t.true(trail.includes('hard reboot of vm-d accepted'), trail.join('\n'));
  t.deepEqual(await notifications(h, incident.recoveryId), [], 'nobody is paged when the reboot works');
  const recovery = await h.app.engine.recovery(incident.recoveryId);
  t.deepEqual(recovery.result, { rebooting: { host: 'compute-2', issued: true } }, 'a YAML workflow reports its step results');
});

test('reboot-then-page: a reboot the cloud keeps refusing ⇒ the on-call is paged and the incident escalated', async (t) => {
  const h = await startEngine(redis, { config });
  t.teardown(() => h.close());
  h.world.crashInstance('vm-d');
  h.world.injectFault({ kind: 'api-error', action: 'rebootInstance', times: 50 });
  const { incident } = await h.app.engine.report({ kind: 'instance-down', host: 'compute-2', instance: 'vm-d' });
  const closed = await h.waitClosed(incident.id);
  const trail = await h.trail(incident.recoveryId);
  t.is(closed.outcome, 'escalated', trail.join('\n'));
  t.regex(closed.reason ?? '', /rebootInstance: 503 Service Unavailable/, 'the final reason is $error.message');
  // Retried by the engine first: every attempt but the last fails the job, the last goes to onError.
  t.is(h.world.count('rebootInstance', 'vm-d'), ATTEMPTS);
  t.is(h.world.count('rebootInstance', 'vm-d', 'accepted'), 0);
  t.is(trail.filter((m) => /^step restartInstance failed on attempt \d+/.test(m)).length, ATTEMPTS - 1, trail.join('\n'));
  t.true(trail.includes('rebooting → paging'), trail.join('\n'));
  t.true(trail.includes('paging → escalated'), trail.join('\n'));
  t.deepEqual(await notifications(h, incident.recoveryId), ['critical incident.escalated: hard reboot did not bring the VM back, a human is needed']);
  t.is(h.world.instanceState('vm-d').status, 'SHUTOFF', 'the VM is left for the human');
});

// ---------------------------------------------------------------------------------------------------------
// drain-then-notify (TypeScript plugin with a custom step)

test('drain-then-notify: a degraded host is recorded, disabled and drained; every VM ACTIVE elsewhere; info sent', async (t) => {
  const h = await startEngine(redis, { config });
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'degraded');
  const { incident } = await h.app.engine.report({ kind: 'host-degraded', host: 'compute-1' });
  t.is(incident.workflow, 'drain-then-notify');
  const closed = await h.waitClosed(incident.id);
  const trail = await h.trail(incident.recoveryId);
  t.is(closed.outcome, 'recovered', `${closed.reason}\n${trail.join('\n')}`);

  for (const id of ['vm-a', 'vm-b', 'vm-c']) {
    const vm = h.world.instanceState(id);
    t.not(String(vm.host), 'compute-1', id);
    t.is(vm.status, 'ACTIVE', id);
    t.true(vm.guestRunning, id);
    t.is(h.world.count('liveMigrate', id, 'accepted'), 1, id);
  }
  t.is(h.world.count('evacuate'), 0, 'a drain never rebuilds');
  const host = h.world.hostState('compute-1');
  t.is(host.power, 'on', 'a drain never fences');
  t.is(host.service.status, 'disabled');
  t.false(host.service.forcedDown);
  t.regex(host.service.disabledReason ?? '', /maintenance drain for incident/);

  // The custom step ran first, read the host before it was disabled, and wrote its audit line.
  const recorded = 'maintenance of compute-1 recorded: nova-compute up/enabled, 3 instance(s) to move';
  t.true(trail.includes(recorded), trail.join('\n'));
  t.true(trail.indexOf(recorded) < trail.indexOf('recording → disabling'), trail.join('\n'));
  const rows = await h.app.engine.audit(incident.recoveryId);
  const row = rows.find((r) => r.record.message === recorded);
  t.like(row?.record.details, { host: 'compute-1', serviceState: 'up', serviceStatus: 'enabled', instances: 3 });

  for (const step of ['recording → disabling', 'disabling → listing', 'listing → migrating', 'migrating → awaitingMigrations', 'awaitingMigrations → summarizing', 'summarizing → notifying', 'notifying → recovered']) {
    t.true(trail.includes(step), `${step}\n${trail.join('\n')}`);
  }
  t.deepEqual(await notifications(h, incident.recoveryId), ['info maintenance.drained: compute-1 drained: 3/3 instance(s) moved']);

  const children = await h.app.engine.children(incident.recoveryId);
  t.deepEqual(children.map((c) => c.workflow), ['live-migrate-instance', 'live-migrate-instance', 'live-migrate-instance']);
  t.deepEqual(children.map((c) => c.subject.instance).sort(), ['vm-a', 'vm-b', 'vm-c']);
  t.true(children.every((c) => c.outcome === 'recovered' && c.id.includes('lm-')), JSON.stringify(children));

  const recovery = await h.app.engine.recovery(incident.recoveryId);
  t.like(recovery.result, {
    host: 'compute-1',
    maintenance: { host: 'compute-1', serviceState: 'up', serviceStatus: 'enabled', disabledReason: null, instances: 3 },
    summary: { outcome: 'recovered', total: 3, recovered: 3 },
  });
});

test('drain-then-notify: a VM that cannot be migrated ⇒ the others move, a critical notification, escalated', async (t) => {
  const h = await startEngine(redis, { config });
  t.teardown(() => h.close());
  h.world.failHost('compute-1', 'degraded');
  h.world.injectFault({ kind: 'live-migrate-fails', instance: 'vm-b', times: 100 });
  const { incident } = await h.app.engine.report({ kind: 'host-degraded', host: 'compute-1' });
  const closed = await h.waitClosed(incident.id);
  const trail = await h.trail(incident.recoveryId);
  t.is(closed.outcome, 'escalated', trail.join('\n'));
  t.regex(closed.reason ?? '', /^compute-1 drained: 2\/3 instance\(s\) moved; not moved: vm-b failed/);
  t.is(String(h.world.instanceState('vm-b').host), 'compute-1');
  t.is(h.world.instanceState('vm-b').status, 'ACTIVE', 'a failed live migration leaves the VM running where it was');
  for (const id of ['vm-a', 'vm-c']) t.not(String(h.world.instanceState(id).host), 'compute-1', id);
  t.is(h.world.count('evacuate'), 0);
  t.is(h.world.hostState('compute-1').power, 'on');
  const sent = await notifications(h, incident.recoveryId);
  t.is(sent.length, 1, sent.join('\n'));
  t.regex(sent[0] ?? '', /^critical incident\.escalated: compute-1 drained: 2\/3 instance\(s\) moved; not moved: vm-b/);
  t.true(trail.includes('notifying → escalated'), trail.join('\n'));
});

// ---------------------------------------------------------------------------------------------------------
// The guide quotes the tested files, and its other complete YAML examples compile.

/** Fenced blocks in the guide preceded by `<!-- quote: <path> -->`, by path. */
function quotedBlocks(markdown: string): Map<string, string[]> {
  const quotes = new Map<string, string[]>();
  const pattern = /<!-- quote: (\S+) -->\n```[a-z]*\n([\s\S]*?)```/g;
  for (const match of markdown.matchAll(pattern)) {
    const list = quotes.get(match[1] as string) ?? [];
    list.push(match[2] as string);
    quotes.set(match[1] as string, list);
  }
  return quotes;
}

test('the guide quotes both example files verbatim', (t) => {
  const guide = readFileSync(GUIDE, 'utf8');
  const quotes = quotedBlocks(guide);
  for (const file of [YAML_EXAMPLE, TS_EXAMPLE]) {
    const relative = path.relative(ROOT, file);
    const blocks = quotes.get(relative) ?? [];
    t.is(blocks.length, 1, `the guide should quote ${relative} once (marker <!-- quote: ${relative} -->)`);
    t.is(blocks[0], readFileSync(file, 'utf8'), `the guide's copy of ${relative} differs from the file: update the guide`);
  }
  t.deepEqual([...quotes.keys()].sort(), [YAML_EXAMPLE, TS_EXAMPLE].map((f) => path.relative(ROOT, f)).sort(), 'every quote names a real example');
});

test('every complete YAML workflow in the guide (marked <!-- check: workflow -->) compiles against the built-in steps', (t) => {
  const guide = readFileSync(GUIDE, 'utf8');
  const blocks = [...guide.matchAll(/<!-- check: workflow -->\n```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  t.true(blocks.length >= 1, 'the guide has checked YAML examples');
  const steps = new Set(BUILTIN_STEPS.map((s) => s.name));
  for (const block of blocks) {
    const parsed = parseWorkflowText(block, 'yaml');
    t.is(parsed.reason, undefined, block);
    const compiled = compileWorkflow(parsed.value, { steps });
    t.deepEqual(compiled.problems.map((p) => `${p.path}: ${p.message}`), [], block);
  }
});
