/**
 * Tiny fake fence agents (shell scripts) in a fresh temp directory, for what fence_dummy cannot show: an
 * agent that hangs, one that records exactly what it was given, one that echoes its input and fails.
 * Pass `dir` as the device's `searchPath`. Each script keeps its files next to itself.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FAKE_AGENTS = {
  /** Records stdin, argv count and pids, starts a child `sleep`, and waits: never answers. */
  fence_sleepy: `#!/bin/sh
dir=$(dirname "$0")
cat > "$dir/sleepy.stdin"
sleep 30 &
echo "$$ $!" > "$dir/sleepy.pids.tmp" && mv "$dir/sleepy.pids.tmp" "$dir/sleepy.pids"
wait
`,
  /** Records stdin, argc and PCMK_service; exits with the code in ./code (default 0). */
  fence_record: `#!/bin/sh
dir=$(dirname "$0")
cat > "$dir/record.stdin"
echo "$#" > "$dir/record.argc"
echo "\${PCMK_service-unset}" > "$dir/record.pcmk"
code=0
[ -f "$dir/code" ] && code=$(cat "$dir/code")
exit "$code"
`,
  /** Prints every option it got on stderr (as some agents do in verbose mode) and fails. */
  fence_echo: `#!/bin/sh
echo "got options:" >&2
cat >&2
exit 1
`,
} as const;

export interface FakeAgents {
  readonly dir: string;
  read(file: string): string;
  exists(file: string): boolean;
  write(file: string, text: string): void;
  remove(): void;
}

export function fakeAgents(): FakeAgents {
  const dir = mkdtempSync(join(tmpdir(), 'rsr-agents-'));
  for (const [name, script] of Object.entries(FAKE_AGENTS)) {
    writeFileSync(join(dir, name), script);
    chmodSync(join(dir, name), 0o755);
  }
  return {
    dir,
    read: (file) => readFileSync(join(dir, file), 'utf8'),
    exists: (file) => existsSync(join(dir, file)),
    write: (file, text) => writeFileSync(join(dir, file), text),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Alive, and not a zombie waiting to be reaped (a container's pid 1 may never reap an orphan). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}
