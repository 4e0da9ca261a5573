import { readFileSync } from 'node:fs';
import { createLogger } from '../../config/logger';
import { InputError } from '../../domain';
import { builtinDriversPlugin } from '../../drivers/builtin';
import { loadPlugins } from '../../plugins/loader';
import { Registry } from '../../plugins/registry';
import { loadPolicy, PolicyError } from '../../policy/policy';
import type { PolicyReferences } from '../../policy/policy';
import { builtinStepsPlugin } from '../../steps';
import { builtinWorkflowDirs } from '../../workflow-dirs';
import type { PolicyView } from '../api-client';
import type { GlobalOptions } from '../connect';
import { apiClient, configFrom } from '../connect';
import { print, printJson, summary, table } from '../output';

/** `resurrect policy show [--json]`: the running policy (GET /api/v1/policy): file, version, rules. */
export async function policyShow(options: GlobalOptions): Promise<number> {
  const view = await apiClient(options).policy();
  if (options.json) printJson(view);
  else print(formatPolicy(view));
  return 0;
}

/**
 * `resurrect policy reload [--json]`: the engine re-reads its `policy.file` (POST /api/v1/policy/reload; admin).
 * A file that does not validate is refused with every field path (exit 2) and the running policy stays; no
 * policy file configured: exit 5.
 */
export async function policyReload(options: GlobalOptions): Promise<number> {
  const answer = await apiClient(options).reloadPolicy();
  if (options.json) printJson(answer);
  else print(answer.changed ? `policy reloaded: now ${answer.version} (was ${answer.previous})` : `policy reloaded: unchanged (${answer.version})`);
  return 0;
}

/**
 * `resurrect policy validate <file> [--json]`: checks a policy file here, without an engine, against the SLAs and
 * workflows this configuration loads (the built-in workflows/ and plugins/, and `plugins.dirs`), as `start` and
 * a reload would. Exit 0 when it loads, 2 with every field path when it is refused.
 */
export async function policyValidate(file: string, options: GlobalOptions): Promise<number> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, [{ path: 'file', message: 'unreadable' }]);
  }
  const references = await localReferences(options);
  try {
    const policy = loadPolicy(text, file, references);
    const rules = policy.document.rules.map((r) => r.name);
    if (options.json) printJson({ ok: true, file, version: policy.version, rules, errors: [] });
    else print(`ok       ${file}: policy ${policy.version}, ${rules.length} rule${rules.length === 1 ? '' : 's'} (${rules.join(', ')})`);
    return 0;
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    if (options.json) printJson({ ok: false, file, errors: err.paths });
    else print([`refused  ${file}:`, ...err.paths.map((p) => `  ${p.path}: ${p.message}`)].join('\n'));
    return 2;
  }
}

/** What a policy may name, from the plugins this configuration loads (what the container gives the policy store). */
async function localReferences(options: GlobalOptions): Promise<PolicyReferences> {
  const config = configFrom(options);
  const registry = new Registry();
  const report = await loadPlugins({
    builtin: [builtinStepsPlugin, builtinDriversPlugin],
    dirs: [...builtinWorkflowDirs(), ...config.plugins.dirs],
    registry,
    log: createLogger({ level: 'silent' }),
  });
  for (const error of report.errors) process.stderr.write(`resurrect: plugin refused (its SLAs and workflows are unknown here): ${error.message}\n`);
  return {
    slas: new Set(registry.listSlas().map((sla) => sla.name)),
    workflows: new Set(registry.listWorkflows().map((workflow) => workflow.name)),
    slaWorkflows: new Map(registry.listSlas().map((sla) => [sla.name, sla.workflows])),
    handles: new Map(registry.listWorkflows().map((workflow) => [workflow.name, workflow.handles])),
  };
}

interface RuleView {
  readonly name?: string;
  readonly default?: boolean;
  readonly match?: unknown;
  readonly sla?: string;
  readonly workflow?: string;
  readonly params?: Record<string, unknown>;
}

export function formatPolicy(view: PolicyView): string {
  const kinds = Object.entries(view.workflows).map(([kind, workflow]) => `${kind} → ${workflow}`).join(', ');
  if (!view.configured) return `no policy file configured (policy.file): every host and VM gets the workflow of its failure kind: ${kinds}`;
  const doc = (view.document ?? {}) as { rules?: RuleView[]; defaults?: { sla?: string; workflow?: string; params?: Record<string, unknown> } };
  const rules = doc.rules ?? [];
  const out = [`policy ${view.version ?? '?'} from ${view.file ?? '?'}: ${rules.length} rule${rules.length === 1 ? '' : 's'}, first match wins`];
  out.push(table(
    ['#', 'rule', 'match', 'SLA', 'workflow', 'params'],
    rules.map((r, i) => [String(i + 1), r.name ?? '-', r.default ? '(default)' : compact(r.match), r.sla ?? '-', r.workflow ?? '-', summary(r.params, 40) || '-']),
  ));
  if (doc.defaults) out.push(`defaults: ${summary({ sla: doc.defaults.sla, workflow: doc.defaults.workflow, ...(doc.defaults.params ?? {}) }, 120)}`);
  out.push(`per failure kind, when no rule names a workflow: ${kinds}`);
  return out.join('\n');
}

function compact(match: unknown): string {
  if (match === undefined) return '(any)';
  const text = JSON.stringify(match).replace(/"([^"]+)":/g, '$1: ');
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}
