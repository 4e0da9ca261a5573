import { relative, sep } from 'node:path';
import type { GlobalOptions } from '../connect';
import { apiClient } from '../connect';
import { print, printJson, table } from '../output';

/**
 * `resurrect workflows [--json]`: the workflows the engine has loaded (GET /api/v1/workflows): name, failure
 * kinds handled, source file, description. `--json` is the API's answer, statecharts (xstate `toJSON()`) included.
 */
export async function workflows(options: GlobalOptions): Promise<number> {
  const answer = await apiClient(options).workflows();
  if (options.json) {
    printJson(answer);
    return 0;
  }
  print(table(
    ['workflow', 'handles', 'states', 'source', 'description'],
    answer.items.map((w) => [w.name, w.handles.join(', ') || '-', String(Object.keys((w.machine.states as Record<string, unknown> | undefined) ?? {}).length), shortPath(w.source), w.description]),
  ));
  return 0;
}

/** A source file under the current directory, relative to it (the API names server paths in full). */
function shortPath(source: string | null): string {
  if (!source) return '-';
  const rel = relative(process.cwd(), source);
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep) ? rel : source;
}
