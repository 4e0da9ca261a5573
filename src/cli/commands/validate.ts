import { resolve, sep } from 'node:path';
import { validatePaths } from '../../plugins/loader';
import { builtinStepsPlugin } from '../../steps';
import { builtinWorkflowDirs } from '../../workflow-dirs';
import type { GlobalOptions } from '../connect';

const within = (file: string, roots: readonly string[]) => roots.some((root) => file === root || file.startsWith(root + sep));

/**
 * `resurrect validate [paths…]`: the loader's checks without starting anything, against the built-in
 * workflows too (so a name that clashes with one is caught here, not at start-up). Without paths it checks
 * the built-in workflows/ and plugins/. Exit 0 when everything loads, 2 when a file is refused.
 */
export async function validate(paths: string[], options: GlobalOptions): Promise<number> {
  const given = (paths.length > 0 ? paths : builtinWorkflowDirs()).map((p) => resolve(p));
  const builtinDirs = builtinWorkflowDirs().filter((dir) => !given.some((p) => within(dir, [p]) || within(p, [dir])));
  const report = await validatePaths([...builtinDirs, ...given], [builtinStepsPlugin]);
  const loaded = report.loaded.filter((entry) => within(entry.file, given));
  if (options.json) {
    process.stdout.write(`${JSON.stringify({
      ok: report.errors.length === 0,
      loaded,
      errors: report.errors.map((e) => ({ file: e.file, reason: e.reason })),
    })}\n`);
  } else {
    for (const entry of loaded) {
      const parts = [entry.workflows.length ? `workflows ${entry.workflows.join(', ')}` : '', entry.steps.length ? `steps ${entry.steps.join(', ')}` : '', entry.slas.length ? `SLAs ${entry.slas.join(', ')}` : ''].filter(Boolean);
      process.stdout.write(`ok       ${entry.file}${parts.length ? `: ${parts.join('; ')}` : ''}\n`);
    }
    for (const error of report.errors) process.stdout.write(`refused  ${error.file}: ${error.reason}\n`);
  }
  return report.errors.length === 0 ? 0 : 2;
}
