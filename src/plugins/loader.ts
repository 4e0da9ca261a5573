/**
 * Loads plugins (TypeScript/JavaScript modules) and declarative workflow files (YAML/JSON) into a Registry.
 *
 * A bad file never stops the engine: it is refused with a PluginLoadError naming the file and the reason,
 * logged at warn, and loading goes on. Loading runs in three phases so a workflow may use a step, and an SLA
 * a workflow, from any plugin regardless of file order: first every file's steps, drivers and notifiers
 * (built-ins first), then every workflow, each checked against the complete set of steps, then every SLA
 * (`sla-codec.ts`), checked against the complete set of workflows.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { PluginLoadError } from '../domain';
import { isPlugin } from './api';
import type { DriverFactory, PluginDefinition, StepDefinition, WorkflowDefinition } from './api';
import { compileWorkflow, parseWorkflowText } from './declarative';
import { Registry } from './registry';
import { checkSla } from './sla-codec';
import type { SourceEntry } from './registry';
import { isMachine, validateMachine } from './validate-machine';

export interface LoadOptions {
  /** Registered before any file, under the source `builtin:<plugin name>`. */
  readonly builtin?: readonly PluginDefinition[];
  readonly dirs: readonly string[];
  readonly registry: Registry;
  readonly log: Pick<Logger, 'warn' | 'info' | 'debug'>;
}

export interface LoadReport {
  /** Every source that contributed something, in load order. */
  readonly loaded: SourceEntry[];
  readonly errors: PluginLoadError[];
}

const MODULE_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];
const DECLARATIVE_EXTENSIONS = ['.yaml', '.yml', '.json'];
const FOLDER_ENTRIES = ['index.ts', 'index.js'];
/** JSON files that commonly sit in a plugin directory and are not workflows. */
const NOT_WORKFLOWS = /^(package(-lock)?\.json|tsconfig(\..+)?\.json)$/;
const WORKFLOW_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** A file the loader read: a plugin module or a parsed declarative document. */
type Unit =
  | { readonly kind: 'plugin'; readonly file: string; readonly plugin: PluginDefinition }
  | { readonly kind: 'declarative'; readonly file: string; readonly document: unknown };

export async function loadPlugins(options: LoadOptions): Promise<LoadReport> {
  const { registry, log } = options;
  const files: string[] = [];
  for (const dir of options.dirs) {
    // Configured directories are optional (a fresh install has no `plugins/`); an unreadable one is an error.
    if (!(await fs.stat(dir).catch(() => undefined))) {
      log.info({ dir }, 'plugin directory not found, skipped');
      continue;
    }
    const found = await discover(dir);
    if (found instanceof PluginLoadError) refuse(registry, log, found);
    else files.push(...found);
  }
  return load(registry, log, options.builtin ?? [], files);
}

/**
 * `resurrect validate [paths]`: the same checks on the given files or directories, against a fresh registry
 * seeded with the built-ins. Nothing is kept; the report says what would load and what would be refused.
 */
export async function validatePaths(
  paths: readonly string[],
  builtin: readonly PluginDefinition[] = [],
  log: Pick<Logger, 'warn' | 'info' | 'debug'> = silentLog,
): Promise<LoadReport> {
  const registry = new Registry();
  const files: string[] = [];
  for (const given of paths) {
    const stat = await fs.stat(given).catch(() => undefined);
    if (!stat) {
      refuse(registry, log, new PluginLoadError(given, 'no such file or directory'));
    } else if (stat.isDirectory()) {
      const found = await discover(given);
      if (found instanceof PluginLoadError) refuse(registry, log, found);
      else files.push(...found);
    } else if (kindOf(given)) {
      // A file named explicitly is checked even if discovery would have skipped it (`_draft.yaml`).
      files.push(path.resolve(given));
    } else {
      refuse(registry, log, new PluginLoadError(given, `unsupported file type (expected ${[...MODULE_EXTENSIONS, ...DECLARATIVE_EXTENSIONS].join(', ')})`));
    }
  }
  const report = await load(registry, log, builtin, files);
  // Built-ins are the baseline, not what was validated.
  return { ...report, loaded: report.loaded.filter((entry) => !entry.file.startsWith('builtin:')) };
}

const silentLog = { warn: () => undefined, info: () => undefined, debug: () => undefined } as unknown as Pick<Logger, 'warn' | 'info' | 'debug'>;

async function load(registry: Registry, log: LoadOptions['log'], builtin: readonly PluginDefinition[], files: readonly string[]): Promise<LoadReport> {
  const units: Unit[] = builtin.map((plugin) => ({ kind: 'plugin', file: `builtin:${plugin.name}`, plugin }));
  for (const file of files) {
    const unit = await read(file);
    if (unit instanceof PluginLoadError) refuse(registry, log, unit);
    else units.push(unit);
  }

  // Phase 1: everything workflows depend on.
  for (const unit of units) {
    if (unit.kind !== 'plugin') continue;
    registry.touch(unit.file, unit.plugin.name);
    const { plugin, file } = unit;
    const list = <T>(value: readonly T[] | undefined, what: string) => items(registry, log, file, value, what);
    for (const step of list(plugin.steps, 'steps')) attempt(registry, log, file, () => registry.addStep(checkStep(step), file));
    for (const driver of list(plugin.drivers, 'drivers')) attempt(registry, log, file, () => registry.addDriver(checkDriver(driver), file));
    for (const notifier of list(plugin.notifiers, 'notifiers')) {
      attempt(registry, log, file, () => registry.addDriver(checkDriver(notifier, 'notifier'), file));
    }
  }

  // Phase 2: workflows, against the complete set of steps.
  const steps = registry.stepNames();
  for (const unit of units) {
    if (unit.kind === 'plugin') {
      for (const workflow of items(registry, log, unit.file, unit.plugin.workflows, 'workflows')) {
        attempt(registry, log, unit.file, () => registry.addWorkflow(checkWorkflow(workflow, steps), unit.file));
      }
    } else {
      attempt(registry, log, unit.file, () => registry.addWorkflow(compileDeclarative(unit.document, steps), unit.file));
    }
  }

  // Phase 3: SLAs, whose allowed workflows and ladder rungs must name registered workflows.
  const workflows = new Set(registry.listWorkflows().map((w) => w.name));
  for (const unit of units) {
    if (unit.kind !== 'plugin') continue;
    for (const sla of items(registry, log, unit.file, unit.plugin.slas, 'slas')) {
      attempt(registry, log, unit.file, () => registry.addSla(checkSla(sla, { workflows }), unit.file));
    }
  }

  const loaded = [...registry.sources.values()].filter(contributed);
  for (const entry of loaded) log.debug({ ...entry }, 'plugin loaded');
  log.info(
    { workflows: registry.listWorkflows().length, steps: registry.listSteps().length, refused: registry.errors.length },
    'plugins loaded',
  );
  return { loaded, errors: [...registry.errors] };
}

const contributed = (entry: SourceEntry) =>
  entry.workflows.length + entry.steps.length + entry.slas.length + entry.drivers.length + entry.notifiers.length > 0;

function refuse(registry: Registry, log: LoadOptions['log'], error: PluginLoadError): void {
  registry.refuse(error);
  log.warn({ file: error.file, reason: error.reason }, 'plugin refused');
}

/** A plugin's list field; a JavaScript plugin may put anything there, which refuses that field only. */
function items<T>(registry: Registry, log: LoadOptions['log'], file: string, value: readonly T[] | undefined, what: string): readonly T[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value;
  refuse(registry, log, new PluginLoadError(file, `plugin field "${what}" must be a list`));
  return [];
}

/** Runs one registration; a refusal is recorded and the next item goes on. */
function attempt(registry: Registry, log: LoadOptions['log'], file: string, register: () => unknown): void {
  try {
    register();
  } catch (err) {
    refuse(registry, log, err instanceof PluginLoadError ? err : new PluginLoadError(file, describe(err), err));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Discovery and reading

type FileKind = 'module' | 'yaml' | 'json';

function kindOf(file: string): FileKind | undefined {
  const base = path.basename(file);
  if (base.endsWith('.d.ts')) return undefined;
  const ext = path.extname(base).toLowerCase();
  if (MODULE_EXTENSIONS.includes(ext)) return 'module';
  if (ext === '.json') return 'json';
  if (DECLARATIVE_EXTENSIONS.includes(ext)) return 'yaml';
  return undefined;
}

/** Files discovery ignores: tests, declarations, docs, drafts (`_x`), hidden files, non-workflow JSON. */
function skipped(name: string): boolean {
  return (
    name.startsWith('_') ||
    name.startsWith('.') ||
    /^readme/i.test(name) ||
    /\.test\.[^.]+$/.test(name) ||
    /\.spec\.[^.]+$/.test(name) ||
    NOT_WORKFLOWS.test(name) ||
    name === 'node_modules'
  );
}

/** `dir/*.{ts,js,mjs,cjs,yaml,yml,json}` and `dir/<name>/index.{ts,js}`, sorted so load order is stable. */
async function discover(dir: string): Promise<string[] | PluginLoadError> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    return new PluginLoadError(dir, `cannot read plugin directory: ${describe(err)}`, err);
  }
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (skipped(entry.name)) continue;
    const full = path.resolve(dir, entry.name);
    if (entry.isDirectory()) {
      for (const index of FOLDER_ENTRIES) {
        if (await exists(path.join(full, index))) {
          files.push(path.join(full, index));
          break;
        }
      }
    } else if (entry.isFile() && kindOf(entry.name)) {
      files.push(full);
    }
  }
  return files;
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then((s) => s.isFile(), () => false);
}

async function read(file: string): Promise<Unit | PluginLoadError> {
  const kind = kindOf(file);
  if (kind === 'module') return importPlugin(file);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    return new PluginLoadError(file, `cannot read: ${describe(err)}`, err);
  }
  const parsed = parseWorkflowText(text, kind === 'json' ? 'json' : 'yaml');
  if (parsed.reason !== undefined) return new PluginLoadError(file, parsed.reason);
  return { kind: 'declarative', file, document: parsed.value };
}

/**
 * Dynamic import handles .ts (the process runs under tsx), CommonJS and ESM alike. A TS module's default
 * export arrives as `default` or, through CommonJS interop, `default.default`.
 */
async function importPlugin(file: string): Promise<Unit | PluginLoadError> {
  let mod: unknown;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    const syntax = isSyntaxError(err);
    return new PluginLoadError(file, `${syntax ? 'syntax error' : 'failed at import'}: ${describe(err, syntax)}`, err);
  }
  // `default.*`: plain Node's CommonJS interop wraps module.exports as `default`; tsx unwraps it already.
  const candidates = [mod, field(mod, 'default'), field(mod, 'plugin'), field(field(mod, 'default'), 'default'), field(field(mod, 'default'), 'plugin')];
  const plugin = candidates.find(isPlugin);
  if (!plugin) return new PluginLoadError(file, 'exports no plugin (export default definePlugin({...}) or export const plugin)');
  if (typeof plugin.name !== 'string' || plugin.name === '') return new PluginLoadError(file, 'plugin has no name');
  return { kind: 'plugin', file, plugin };
}

function field(value: unknown, key: string): unknown {
  return (typeof value === 'object' || typeof value === 'function') && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

/** tsx reports TypeScript syntax errors as esbuild TransformErrors; plain JS throws SyntaxError. */
function isSyntaxError(err: unknown): boolean {
  return err instanceof SyntaxError || field(err, 'name') === 'TransformError';
}

function describe(err: unknown, keepLocation = false): string {
  const message = err instanceof Error ? err.message : String(err);
  const lines = message.split('\n').map((line) => line.trim()).filter(Boolean);
  // esbuild: "Transform failed with 1 error:\n/file.ts:3:9: ERROR: Unexpected ..." — the second line says where.
  if (keepLocation && lines.length > 1 && /^Transform failed/.test(lines[0])) return lines[1];
  return lines[0] ?? 'unknown error';
}

// ---------------------------------------------------------------------------------------------------------
// Shape checks. TypeScript plugins are typed, JavaScript ones are not: check what the engine relies on.

function checkStep(step: StepDefinition): StepDefinition {
  const name = nameOf(step);
  if (!name) throw new Error('a step has no name');
  if (typeof step.run !== 'function') throw new Error(`step "${name}": run is not a function`);
  if (typeof step.timeoutMs !== 'number' || !(step.timeoutMs > 0)) throw new Error(`step "${name}": timeoutMs must be a positive number`);
  return step;
}

function checkDriver(driver: DriverFactory, expected?: 'notifier'): DriverFactory {
  const name = nameOf(driver);
  if (!name) throw new Error('a driver has no name');
  if (!['cloud', 'fencing', 'notifier'].includes(driver.kind)) throw new Error(`driver "${name}": unknown kind "${String(driver.kind)}"`);
  if (expected && driver.kind !== expected) throw new Error(`notifier "${name}": kind must be "notifier", got "${driver.kind}"`);
  if (typeof driver.create !== 'function') throw new Error(`driver "${name}": create is not a function`);
  return driver;
}

function checkWorkflow(workflow: WorkflowDefinition, steps: ReadonlySet<string>): WorkflowDefinition {
  const name = nameOf(workflow);
  if (!name) throw new Error('a workflow has no name');
  if (!WORKFLOW_NAME.test(name)) throw new Error(`workflow "${name}": name must be kebab-case`);
  if (!Array.isArray(workflow.handles)) throw new Error(`workflow "${name}": handles must be a list of failure kinds`);
  if (!isMachine(workflow.machine)) throw new Error(`workflow "${name}": invalid machine: machine is not an xstate machine`);
  const problems = validateMachine(workflow.machine, steps);
  if (problems.length > 0) throw new Error(`workflow "${name}": ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  return workflow;
}

function compileDeclarative(document: unknown, steps: ReadonlySet<string>): WorkflowDefinition {
  const compiled = compileWorkflow(document, { steps });
  if (compiled.workflow) return compiled.workflow;
  const name = nameOf(document);
  const prefix = name ? `workflow "${name}": ` : '';
  throw new Error(`${prefix}${compiled.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
}

function nameOf(value: unknown): string | undefined {
  const name = field(value, 'name');
  return typeof name === 'string' && name !== '' ? name : undefined;
}
