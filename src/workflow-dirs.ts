import { join } from 'node:path';

const ROOT = join(__dirname, '..');

/** The built-in workflows and plugins ship as ordinary plugin directories, loaded like an operator's own. */
export function builtinWorkflowDirs(): string[] {
  return [join(ROOT, 'workflows'), join(ROOT, 'plugins')];
}
