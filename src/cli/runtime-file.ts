import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * `npm start` may run on a private Redis on a random port; the runtime file tells the commands an operator
 * types in a second terminal where it is. One per user, removed when the engine stops.
 */
export interface RuntimeInfo {
  readonly pid: number;
  readonly redisUrl: string;
  readonly prefix: string;
  readonly startedAt: string;
}

export function runtimeFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.RESURRECT_RUNTIME_DIR ?? join(env.XDG_RUNTIME_DIR ?? tmpdir(), `resurrect-${process.getuid?.() ?? 'user'}`);
  return join(dir, 'engine.json');
}

export function writeRuntimeFile(info: RuntimeInfo, env?: NodeJS.ProcessEnv): () => void {
  const file = runtimeFilePath(env);
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  writeFileSync(file, JSON.stringify(info), { mode: 0o600 });
  return () => {
    const current = readRuntimeFile(env);
    if (current?.pid === info.pid) rmSync(file, { force: true });
  };
}

/** The running engine's info, if its process is still alive. */
export function readRuntimeFile(env?: NodeJS.ProcessEnv): RuntimeInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(runtimeFilePath(env), 'utf8')) as RuntimeInfo;
    process.kill(info.pid, 0);
    return info;
  } catch {
    return undefined;
  }
}
