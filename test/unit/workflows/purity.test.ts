/**
 * Workflow machines are pure: they name steps and never do I/O, read the clock or draw random numbers, so a
 * restored snapshot replays the same decisions (the Temporal split; see docs/writing-workflows.md).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import test from 'ava';

const ROOT = join(__dirname, '../../..');
const MACHINE_FILE = /(^|\.)machine\.ts$/;

function machineFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return machineFiles(path);
    // workflows/shared holds pieces of machines: as pure as the machines themselves.
    return MACHINE_FILE.test(name) || (dir.endsWith(`${sep}shared`) && name.endsWith('.ts')) ? [path] : [];
  });
}

const ALLOWED_IMPORT = /^(xstate|\.\.\/\.\.\/src\/plugins\/api|\.\.\/shared\/[\w-]+|\.\/[\w.-]+)$/;
const FORBIDDEN = [/\bDate\.now\(/, /\bnew Date\(/, /\bMath\.random\(/, /\bsetTimeout\(/, /\bsetInterval\(/, /\bprocess\./, /\brequire\(/];

test('built-in workflow machines import only xstate, the plugin API, shared machine pieces and each other', (t) => {
  const files = machineFiles(join(ROOT, 'workflows'));
  t.true(files.length >= 9, files.join('\n'));
  for (const file of files) {
    const source = readFileSync(file, 'utf8');
    for (const [, from] of source.matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)) {
      t.regex(from ?? '', ALLOWED_IMPORT, `${relative(ROOT, file)} imports ${from}`);
    }
    for (const pattern of FORBIDDEN) t.notRegex(source, pattern, `${relative(ROOT, file)} uses ${pattern}`);
  }
});
