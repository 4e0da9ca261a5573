/**
 * A FenceDevice that runs an installed fence agent (`fence_redfish`, `fence_ipmilan`, …) exactly as
 * Pacemaker's fencer does (fence-agent contract §1, §3):
 *
 * - the binary is found by name (`fence_redfish` ⇒ PATH, then /usr/sbin) and started with **no arguments**;
 * - stdin gets `action=<off|on|status>`, then the host argument (`plug=<target>` or `port=<target>`, per
 *   `hostArgument`, by default `plug` if the agent's metadata lists it, else `port`, as Pacemaker picks it), then
 *   `nodename=<target>`, then every configured device parameter (`ip`, `ipport`, `username`, `password`,
 *   `ssl_insecure`, `systems_uri`, `lanplus`, …); stdin is then closed;
 * - each call is bounded by `timeoutMs`; on timeout or abort the agent's process group gets SIGKILL;
 * - exit codes: `status` 0 ⇒ on, 2 ⇒ off, anything else ⇒ RSR_DRIVER_UNAVAILABLE with the agent's last
 *   stderr line (never "off", never "unknown" guessed); `off`/`on` 0 ⇒ accepted, anything else ⇒
 *   RSR_DRIVER_UNAVAILABLE. An `off` that returned 0 claims nothing: the topology reads `status` back.
 *
 * Secrets (password, passwd, password_script, …) go on stdin only, never on argv or in the environment, and
 * their values are blanked out of everything the agent prints before it reaches a log line or an error.
 *
 * PCMK_service is deliberately NOT set. Under `PCMK_service=pacemaker-fenced` fencing.py forces
 * `disable_timeout`, zeroing the agent's own power/login/shell timeouts (wait forever), because Pacemaker's
 * timer is the only bound. Here the per-call `timeoutMs` is the hard bound too (the process group is killed),
 * but leaving the agent its own bounded waits (power_timeout 20 s, login 5 s, shell 3 s by default) lets a
 * failing device end with the agent's own message ("Failed: Timed out waiting to power OFF"), which is what
 * lands in the fence attempt and the audit. An operator who wants Pacemaker's exact behaviour sets
 * `disable_timeout: "1"` among the device parameters. An inherited PCMK_service is removed for the same reason.
 */
import type { Logger } from 'pino';
import type { PowerState } from '../../../domain';
import { nonRetryable, retryable } from '../../../domain';
import type { CallOptions } from '../../cloud/port';
import type { FenceDevice } from '../port';
import { agentMetadata, defaultHostArgument } from './metadata';
import type { AgentOptionValue, AgentRun } from './run-agent';
import { agentEnv, agentStdin, lastLine, resolveAgent, runAgent, secretValues } from './run-agent';

export { agentMetadata, parseMetadata, unknownParameters, defaultHostArgument } from './metadata';
export type { AgentMetadata } from './metadata';
export { resolveAgent, redactSecrets, AGENT_NAME, SECRET_OPTION } from './run-agent';

export type FenceAgentAction = 'off' | 'on' | 'status';

export interface FenceAgentDeviceOptions {
  /** `fence_redfish`, `fence_ipmilan`, … (`fence_[a-z0-9_]+`). */
  readonly agent: string;
  /** Default `<agent>:<first host>` or `<agent>`. Shown in fence attempts and the audit. */
  readonly id?: string;
  /** Device parameters, sent after action/host argument/nodename. `action` and `nodename` are refused. */
  readonly parameters?: Readonly<Record<string, AgentOptionValue>>;
  /** Pacemaker's pcmk_host_list: the only targets this device may fence (default: any target). */
  readonly hosts?: readonly string[];
  /**
   * Pacemaker's pcmk_host_argument: the stdin key carrying the target (`plug`, `port`, another parameter),
   * or `none`. Default: `plug` if the agent's metadata lists it, else `port` (metadata is read once, cached).
   * A parameter of that name configured explicitly wins over the target.
   */
  readonly hostArgument?: string;
  /** Pacemaker's pcmk_host_map: the alias the agent knows a target by (default: the target's name). */
  readonly hostMap?: Readonly<Record<string, string>>;
  /** Bound on each call; the agent's process group is killed after it. Default 20 s. */
  readonly timeoutMs?: number;
  /** Directories searched before /usr/sbin (default: $PATH). */
  readonly searchPath?: string;
  /** Extra environment for the agent. */
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: Logger;
}

export class FenceAgentDevice implements FenceDevice {
  readonly id: string;
  readonly agent: string;
  /** Absolute path of the agent binary. */
  readonly path: string;
  readonly timeoutMs: number;
  private readonly parameters: readonly (readonly [string, AgentOptionValue])[];
  private readonly secrets: readonly string[];
  private hostArgument: Promise<string> | undefined;

  constructor(private readonly options: FenceAgentDeviceOptions) {
    this.agent = options.agent;
    this.path = resolveAgent(options.agent, options.searchPath);
    this.id = options.id ?? (options.hosts?.[0] ? `${options.agent}:${options.hosts[0]}` : options.agent);
    this.timeoutMs = options.timeoutMs ?? 20_000;
    this.parameters = Object.entries(options.parameters ?? {});
    for (const [name] of this.parameters) {
      if (name === 'action' || name === 'nodename') {
        throw nonRetryable('RSR_CONFIG_INVALID', `${this.id}: "${name}" is set by the fencer, not configured`, { details: { device: this.id, option: name } });
      }
    }
    agentStdin(this.parameters); // refuses bad names and line breaks now rather than at the first fence
    this.secrets = secretValues(this.parameters);
    if (options.hostArgument !== undefined) this.hostArgument = Promise.resolve(options.hostArgument);
  }

  async off(target: string, options?: CallOptions): Promise<void> {
    await this.act('off', target, options);
  }

  async on(target: string, options?: CallOptions): Promise<void> {
    await this.act('on', target, options);
  }

  async status(target: string, options?: CallOptions): Promise<PowerState> {
    const run = await this.run('status', target, options?.signal);
    if (run.code === 0) return 'on';
    if (run.code === 2) return 'off';
    throw this.failure('status', target, run);
  }

  /** The exact stdin for an action on a target (tests, dry runs). It holds the secrets: never log it. */
  async stdinFor(action: FenceAgentAction, target: string): Promise<string> {
    return agentStdin(await this.lines(action, target));
  }

  private async act(action: 'off' | 'on', target: string, options?: CallOptions): Promise<void> {
    const run = await this.run(action, target, options?.signal);
    if (run.code !== 0) throw this.failure(action, target, run);
  }

  private async lines(action: FenceAgentAction, target: string): Promise<(readonly [string, AgentOptionValue])[]> {
    const hostArgument = await this.hostArgumentFor();
    const explicit = this.parameters.some(([name]) => name === hostArgument);
    const alias = this.options.hostMap?.[target] ?? target;
    return [
      ['action', action],
      ...(hostArgument === 'none' || explicit ? [] : [[hostArgument, alias] as const]),
      ['nodename', target],
      ...this.parameters,
    ];
  }

  private async run(action: FenceAgentAction, target: string, signal?: AbortSignal): Promise<AgentRun> {
    if (this.options.hosts && !this.options.hosts.includes(target)) {
      throw nonRetryable('RSR_FENCE_FAILED', `${this.id} cannot fence ${target}: it is configured for ${this.options.hosts.join(', ')}`, {
        details: { device: this.id, target },
      });
    }
    if (signal?.aborted) throw signal.reason;
    const stdin = agentStdin(await this.lines(action, target));
    const what = `${this.agent} ${action} ${target}`;
    const log = this.options.log;
    try {
      const run = await runAgent(this.path, stdin, {
        timeoutMs: this.timeoutMs,
        signal,
        env: agentEnv(process.env, this.options.env),
        secrets: this.secrets,
        what,
      });
      log?.debug({ device: this.id, agent: this.agent, action, target, exitCode: run.code, exitSignal: run.signal, ms: run.ms }, `${what}: exit ${run.code ?? run.signal}`);
      return run;
    } catch (error) {
      if (!signal?.aborted) log?.warn({ device: this.id, agent: this.agent, action, target, error: (error as Error).message }, `${what} failed`);
      throw error;
    }
  }

  private failure(action: FenceAgentAction, target: string, run: AgentRun) {
    const reason = lastLine(run.stderr) || lastLine(run.stdout) || 'no output';
    const exit = run.code !== null ? `exit ${run.code}` : `killed by ${run.signal}`;
    this.options.log?.warn({ device: this.id, agent: this.agent, action, target, exitCode: run.code, stderr: lastLine(run.stderr) }, `${this.agent} ${action} ${target} failed (${exit})`);
    return retryable('RSR_DRIVER_UNAVAILABLE', `${this.agent} ${action} ${target} failed (${exit}): ${reason}`, {
      details: { device: this.id, agent: this.agent, action, target, exitCode: run.code, exitSignal: run.signal },
    });
  }

  private hostArgumentFor(): Promise<string> {
    if (!this.hostArgument) {
      const pending = agentMetadata(this.agent, { searchPath: this.options.searchPath }).then(defaultHostArgument);
      pending.catch(() => { if (this.hostArgument === pending) this.hostArgument = undefined; });
      this.hostArgument = pending;
    }
    return this.hostArgument;
  }
}
