import { chmodSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * `npm start` may run on a private Redis on a random port, and serves the API with a token made for the run;
 * the runtime file tells the commands an operator types in a second terminal where they are. One per user,
 * mode 0600 in a directory of mode 0700, removed when the engine stops.
 */
export interface RuntimeInfo {
  readonly pid: number;
  readonly redisUrl: string;
  readonly prefix: string;
  readonly startedAt: string;
  /** The API `start` serves (absent with `--no-api`). */
  readonly apiUrl?: string;
  /** The admin token `start` made for this run when no token is configured; only its hash is in the server. */
  readonly apiToken?: string;
}

export function runtimeFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.RESURRECT_RUNTIME_DIR ?? join(env.XDG_RUNTIME_DIR ?? tmpdir(), `resurrect-${process.getuid?.() ?? 'user'}`);
  return join(dir, 'engine.json');
}

/**
 * Writes the file: into a directory only this user may enter (a shared /tmp could hold one made by someone
 * else, or a symlink: both are refused), through a temporary file of mode 0600 renamed over the old one, so
 * the token is never readable by anyone else, not even for a moment.
 */
export function writeRuntimeFile(info: RuntimeInfo, env?: NodeJS.ProcessEnv): () => void {
  const file = runtimeFilePath(env);
  const dir = join(file, '..');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  const uid = process.getuid?.();
  if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) {
    throw new Error(`the runtime directory ${dir} is not a directory of this user: remove it or set RESURRECT_RUNTIME_DIR`);
  }
  if ((stat.mode & 0o077) !== 0) chmodSync(dir, 0o700);
  const temporary = join(dir, `.engine.json.${process.pid}.tmp`);
  rmSync(temporary, { force: true });
  writeFileSync(temporary, JSON.stringify(info), { mode: 0o600, flag: 'wx' });
  renameSync(temporary, file);
  return () => {
    const current = readRuntimeFile(env);
    if (current?.pid === info.pid) rmSync(file, { force: true });
  };
}

/** The running engine's info, if its process is still alive (and the file is this user's own). */
export function readRuntimeFile(env?: NodeJS.ProcessEnv): RuntimeInfo | undefined {
  try {
    const file = runtimeFilePath(env);
    const uid = process.getuid?.();
    if (uid !== undefined && lstatSync(file).uid !== uid) return undefined;
    const info = JSON.parse(readFileSync(file, 'utf8')) as RuntimeInfo;
    process.kill(info.pid, 0);
    return info;
  } catch {
    return undefined;
  }
}
