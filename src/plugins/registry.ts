/**
 * What the loader accepted: workflows, steps, SLAs and driver factories by name, plus the file each one came
 * from and every refusal. Names are global across plugins, so registration refuses a second entry under a
 * name instead of letting load order decide which one wins silently.
 */
import type { Notifier } from '../drivers/notify/port';
import { nonRetryable, PluginLoadError } from '../domain';
import type { DriverFactory, DriverKind, SlaDefinition, StepDefinition, WorkflowDefinition } from './api';

/** What one file (or built-in plugin, `builtin:<name>`) contributed. */
export interface SourceEntry {
  readonly file: string;
  readonly plugin?: string;
  readonly workflows: string[];
  readonly steps: string[];
  readonly slas: string[];
  /** `kind:name`, e.g. `fencing:ipmi`. */
  readonly drivers: string[];
  readonly notifiers: string[];
}

interface Entry<T> {
  readonly value: T;
  readonly file: string;
}

const driverKey = (kind: DriverKind, name: string) => `${kind}:${name}`;

export class Registry {
  readonly errors: PluginLoadError[] = [];
  /** File → what it contributed, in registration order. */
  readonly sources = new Map<string, SourceEntry>();

  private readonly workflows = new Map<string, Entry<WorkflowDefinition>>();
  private readonly steps = new Map<string, Entry<StepDefinition>>();
  private readonly slas = new Map<string, Entry<SlaDefinition>>();
  /** Notifiers live here too under kind `notifier`: one namespace whichever plugin field declared them. */
  private readonly drivers = new Map<string, Entry<DriverFactory>>();

  /** Records a refusal; the loader calls this for every PluginLoadError so the registry holds them all. */
  refuse(error: PluginLoadError): PluginLoadError {
    this.errors.push(error);
    return error;
  }

  /** Declares a file as a source even before it contributes anything (a plugin with no workflows, say). */
  touch(file: string, plugin?: string): SourceEntry {
    let entry = this.sources.get(file);
    if (!entry) {
      entry = { file, plugin, workflows: [], steps: [], slas: [], drivers: [], notifiers: [] };
      this.sources.set(file, entry);
    }
    return entry;
  }

  /** Throws PluginLoadError (naming both files) on a duplicate name. Stamps `source` with the file. */
  addWorkflow(workflow: WorkflowDefinition, file: string): WorkflowDefinition {
    const stamped: WorkflowDefinition = { ...workflow, source: file };
    claim(this.workflows, 'workflow', workflow.name, stamped, file);
    this.touch(file).workflows.push(workflow.name);
    return stamped;
  }

  addStep(step: StepDefinition, file: string): void {
    claim(this.steps, 'step', step.name, step, file);
    this.touch(file).steps.push(step.name);
  }

  addSla(sla: SlaDefinition, file: string): void {
    claim(this.slas, 'SLA', sla.name, sla, file);
    this.touch(file).slas.push(sla.name);
  }

  addDriver(factory: DriverFactory, file: string): void {
    const key = driverKey(factory.kind, factory.name);
    claim(this.drivers, `${factory.kind} driver`, factory.name, factory, file, key);
    const entry = this.touch(file);
    if (factory.kind === 'notifier') entry.notifiers.push(factory.name);
    else entry.drivers.push(key);
  }

  workflow(name: string): WorkflowDefinition {
    const entry = this.workflows.get(name);
    if (!entry) {
      throw nonRetryable('RSR_WORKFLOW_UNKNOWN', `no workflow registered under "${name}"`, {
        details: { workflow: name, known: [...this.workflows.keys()] },
      });
    }
    return entry.value;
  }

  findWorkflow(name: string): WorkflowDefinition | undefined {
    return this.workflows.get(name)?.value;
  }

  hasWorkflow(name: string): boolean {
    return this.workflows.has(name);
  }

  step(name: string): StepDefinition {
    const entry = this.steps.get(name);
    if (!entry) {
      throw nonRetryable('RSR_STEP_UNKNOWN', `no step registered under "${name}"`, { details: { step: name } });
    }
    return entry.value;
  }

  findStep(name: string): StepDefinition | undefined {
    return this.steps.get(name)?.value;
  }

  hasStep(name: string): boolean {
    return this.steps.has(name);
  }

  /** SLAs are chosen by configuration, so an unknown one is a configuration error. */
  sla(name: string): SlaDefinition {
    const entry = this.slas.get(name);
    if (!entry) throw nonRetryable('RSR_CONFIG_INVALID', `no SLA registered under "${name}"`, { details: { sla: name } });
    return entry.value;
  }

  findSla(name: string): SlaDefinition | undefined {
    return this.slas.get(name)?.value;
  }

  /** Drivers are chosen by configuration, so an unknown one is a configuration error. */
  driver<T = unknown>(kind: DriverKind, name: string): DriverFactory<T> {
    const entry = this.drivers.get(driverKey(kind, name));
    if (!entry) {
      throw nonRetryable('RSR_CONFIG_INVALID', `no ${kind} driver registered under "${name}"`, {
        details: { kind, driver: name, known: this.listDrivers(kind).map((d) => d.name) },
      });
    }
    return entry.value as DriverFactory<T>;
  }

  findDriver<T = unknown>(kind: DriverKind, name: string): DriverFactory<T> | undefined {
    return this.drivers.get(driverKey(kind, name))?.value as DriverFactory<T> | undefined;
  }

  notifier(name: string): DriverFactory<Notifier> {
    return this.driver<Notifier>('notifier', name);
  }

  /** The file a registered item came from (`builtin:<plugin>` for built-ins). */
  sourceOf(kind: 'workflow' | 'step' | 'sla', name: string): string | undefined {
    const table = kind === 'workflow' ? this.workflows : kind === 'step' ? this.steps : this.slas;
    return table.get(name)?.file;
  }

  listWorkflows(): WorkflowDefinition[] {
    return [...this.workflows.values()].map((e) => e.value);
  }

  listSteps(): StepDefinition[] {
    return [...this.steps.values()].map((e) => e.value);
  }

  stepNames(): ReadonlySet<string> {
    return new Set(this.steps.keys());
  }

  listSlas(): SlaDefinition[] {
    return [...this.slas.values()].map((e) => e.value);
  }

  listDrivers(kind?: DriverKind): DriverFactory[] {
    return [...this.drivers.values()].map((e) => e.value).filter((d) => kind === undefined || d.kind === kind);
  }

  listNotifiers(): DriverFactory<Notifier>[] {
    return this.listDrivers('notifier') as DriverFactory<Notifier>[];
  }
}

function claim<T>(table: Map<string, Entry<T>>, what: string, name: string, value: T, file: string, key = name): void {
  const existing = table.get(key);
  if (existing) {
    throw new PluginLoadError(file, `duplicate ${what} "${name}": already registered from ${existing.file}`);
  }
  table.set(key, { value, file });
}
