import { builtinWorkflowDirs } from '../../workflow-dirs';
import { validatePaths } from '../../plugins/loader';
import { builtinStepsPlugin } from '../../steps';
import type { GlobalOptions } from '../connect';

/**
 * `resurrect validate [paths…]`: the loader's checks without starting anything. Without paths it checks the
 * built-in workflows/ and plugins/ directories. Exit 0 when everything loads, 2 when a file is refused.
 */
export async function validate(paths: string[], options: GlobalOptions): Promise<number> {
  const targets = paths.length > 0 ? paths : builtinWorkflowDirs();
  const report = await validatePaths(targets, [builtinStepsPlugin]);
  if (options.json) {
    process.stdout.write(`${JSON.stringify({
      ok: report.errors.length === 0,
      loaded: report.loaded,
      errors: report.errors.map((e) => ({ file: e.file, reason: e.reason })),
    })}\n`);
  } else {
    for (const entry of report.loaded) {
      if (entry.file.startsWith('builtin:')) continue;
      const parts = [entry.workflows.length ? `workflows ${entry.workflows.join(', ')}` : '', entry.steps.length ? `steps ${entry.steps.join(', ')}` : '', entry.slas.length ? `SLAs ${entry.slas.join(', ')}` : ''].filter(Boolean);
      process.stdout.write(`ok       ${entry.file}${parts.length ? `: ${parts.join('; ')}` : ''}\n`);
    }
    for (const error of report.errors) process.stdout.write(`refused  ${error.file}: ${error.reason}\n`);
  }
  return report.errors.length === 0 ? 0 : 2;
}
