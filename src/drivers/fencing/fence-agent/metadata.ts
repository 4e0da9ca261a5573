/**
 * A fence agent's self-description (`action=metadata`, fence-agent contract §4), read minimally: the agent's
 * name, its parameter names (with the stdin spellings fencing.py accepts for each) and its action names.
 * Used to validate configuration before anything is fenced, and to pick the host argument as Pacemaker does.
 */
import { nonRetryable, toResurrectError } from '../../../domain';
import { agentEnv, agentStdin, lastLine, resolveAgent, runAgent } from './run-agent';

export interface AgentMetadata {
  /** `fence_redfish` (the `resource-agent` name). */
  readonly name: string;
  readonly path: string;
  /** Parameter names as the metadata lists them, in order (`ip`, `ipaddr`, `username`, `login`, …). */
  readonly parameters: readonly string[];
  /** Action names (`on`, `off`, `reboot`, `status`, `monitor`, `metadata`, …). */
  readonly actions: readonly string[];
  /**
   * Every key the agent reads from stdin: each parameter's name, the same with `-`/`_` swapped, and its
   * long option (`--status-file` ⇒ `status-file`, `status_file`). fencing.py accepts all of them.
   */
  readonly acceptedKeys: ReadonlySet<string>;
}

export interface MetadataOptions {
  /** Where to look for the agent before /usr/sbin (default: $PATH). */
  readonly searchPath?: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly env?: NodeJS.ProcessEnv;
}

const cache = new Map<string, Promise<AgentMetadata>>();

/**
 * Runs `action=metadata` once per agent binary (cached for the process) and parses the XML. Throws
 * RSR_CONFIG_INVALID for a name that is not an agent or is not installed, RSR_DRIVER_UNAVAILABLE when the
 * agent fails or prints something that is not fence-agent metadata.
 */
export function agentMetadata(agent: string, options: MetadataOptions = {}): Promise<AgentMetadata> {
  const path = resolveAgent(agent, options.searchPath);
  let entry = cache.get(path);
  if (!entry) {
    entry = readMetadata(agent, path, options);
    cache.set(path, entry);
    entry.catch(() => cache.delete(path));
  }
  return entry;
}

async function readMetadata(agent: string, path: string, options: MetadataOptions): Promise<AgentMetadata> {
  const what = `${agent} metadata`;
  let run;
  try {
    run = await runAgent(path, agentStdin([['action', 'metadata']]), {
      timeoutMs: options.timeoutMs ?? 10_000,
      signal: options.signal,
      env: options.env ?? agentEnv(),
      what,
    });
  } catch (error) {
    throw toResurrectError(error);
  }
  if (run.code !== 0) {
    throw nonRetryable('RSR_DRIVER_UNAVAILABLE', `${what} failed (exit ${run.code ?? run.signal}): ${lastLine(run.stderr) || 'no output'}`, { details: { agent, path } });
  }
  const parsed = parseMetadata(run.stdout);
  if (!parsed) throw nonRetryable('RSR_DRIVER_UNAVAILABLE', `${what}: the output is not fence-agent metadata`, { details: { agent, path } });
  return { ...parsed, path };
}

/** Parses metadata XML with regular expressions (Pacemaker itself only reads action and parameter names). */
export function parseMetadata(xml: string): Omit<AgentMetadata, 'path'> | undefined {
  const root = /<resource-agent\b[^>]*?\bname="([^"]+)"/.exec(xml);
  if (!root) return undefined;
  const parameters: string[] = [];
  const acceptedKeys = new Set<string>();
  const accept = (key: string) => {
    acceptedKeys.add(key);
    acceptedKeys.add(key.replace(/_/g, '-'));
    acceptedKeys.add(key.replace(/-/g, '_'));
  };
  for (const match of xml.matchAll(/<parameter\b[^>]*?\bname="([^"]+)"[^>]*?(?:\/>|>([\s\S]*?)<\/parameter>)/g)) {
    const name = match[1] as string;
    parameters.push(name);
    accept(name);
    const getopt = /<getopt\b[^>]*?\bmixed="([^"]*)"/.exec(match[2] ?? '');
    for (const long of getopt?.[1]?.matchAll(/--([A-Za-z0-9][A-Za-z0-9_-]*)/g) ?? []) accept(long[1] as string);
  }
  const actions = [...xml.matchAll(/<action\b[^>]*?\bname="([^"]+)"/g)].map((m) => m[1] as string);
  return { name: root[1] as string, parameters, actions, acceptedKeys };
}

/** The option keys the agent would ignore ("Parse error: Ignoring unknown option"). */
export function unknownParameters(metadata: AgentMetadata, keys: Iterable<string>): string[] {
  return [...keys].filter((key) => !metadata.acceptedKeys.has(key));
}

/** Pacemaker's default host argument: `plug` if the agent lists it, else `port`. */
export function defaultHostArgument(metadata: AgentMetadata): 'plug' | 'port' {
  return metadata.parameters.includes('plug') ? 'plug' : 'port';
}
