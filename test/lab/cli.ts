/**
 * The lab's command line (docs/lab.md):
 *   npm run lab:up                     start it in $RESURRECT_LAB (default <tmpdir>/resurrect-lab)
 *   npm run lab:down [-- --wipe]       stop it (and delete its directory)
 *   npm run lab:status                 what runs, and a check of the Resurrect config it wrote
 *   node --import tsx test/lab/cli.ts install    only install the Debian packages
 * Settings: RESURRECT_LAB, RESURRECT_LAB_HOSTS=compute-1,compute-2,…, RESURRECT_LAB_MASAKARI=0,
 * RESURRECT_LAB_MASAKARI_WAIT=<s>, RESURRECT_LAB_KEEP_FAILED=1, RESURRECT_NO_INSTALL=1.
 */
import { stopLab } from './down';
import { ensureLabPackages, LAB_PACKAGES } from './install';
import { labDir, labSettings } from './lab';
import { labStatus } from './status';
import { up } from './up';

const USAGE = 'usage: node --import tsx test/lab/cli.ts up | down [--wipe] | status | install';
const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const unknown = rest.filter((a) => !(command === 'down' && a === '--wipe'));
  if (unknown.length > 0) {
    process.stderr.write(`unknown argument ${unknown.join(' ')}\n${USAGE}\n`);
    return 2;
  }
  switch (command) {
    case 'up':
      return up(labSettings(), say);
    case 'down':
      return stopLab(labDir(), { wipe: rest.includes('--wipe'), say });
    case 'status':
      return labStatus(labDir(), say);
    case 'install': {
      const started = Date.now();
      const result = await ensureLabPackages(process.env, say);
      say(result.installed.length > 0
        ? `installed in ${((Date.now() - started) / 1000).toFixed(0)} s: ${result.installed.join(' ')}`
        : `the lab's ${LAB_PACKAGES.length} Debian packages are installed`);
      return 0;
    }
    default:
      process.stderr.write(`${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  },
);
