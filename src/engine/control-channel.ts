import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { FailureEvent, FailureKind } from '../domain';
import { nonRetryable, toResurrectError } from '../domain';
import type { SimFailMode, SimWorld } from '../drivers/cloud/sim/world';

/**
 * `resurrect sim …` and `resurrect trigger` in a second terminal talk to the running `resurrect start` through
 * Redis: a command on a pub/sub channel, the answer on a list the caller blocks on. No extra port to open or
 * find, and the running engine (its configuration, its workflows) decides what an event starts.
 */
export type SimCommand =
  | { readonly op: 'report'; readonly event: unknown }
  | { readonly op: 'fail'; readonly target: string; readonly mode: SimFailMode; readonly emit: boolean }
  | { readonly op: 'recover'; readonly host: string }
  | { readonly op: 'fault'; readonly spec: unknown }
  | { readonly op: 'status' }
  | ({ readonly op: 'plan' } & PlanRequest);

/** `resurrect plan` asks the running engine, which plans with its own cloud, policy and SLAs. */
export interface PlanRequest {
  readonly failedHosts: readonly string[];
  readonly kind?: FailureKind;
}

export interface SimReply {
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

const channel = (prefix: string) => `${prefix}:sim:control`;
const replyKey = (prefix: string, id: string) => `${prefix}:sim:reply:${id}`;

/** The failure kind a host monitor would report for each simulated failure mode. */
export const EVENT_FOR_MODE: Readonly<Record<SimFailMode, FailureKind>> = {
  power: 'host-down',
  network: 'host-down',
  service: 'service-down',
  degraded: 'host-degraded',
  vm: 'instance-down',
};

/** Applies a command to the world; a `fail` also reports the failure event, as a host monitor would. */
export async function applySimCommand(
  world: SimWorld | undefined, command: SimCommand, report: (event: FailureEvent) => Promise<unknown>, plan?: (request: PlanRequest) => Promise<unknown>,
): Promise<unknown> {
  if (command.op === 'report') return report(command.event as FailureEvent);
  if (command.op === 'plan') {
    if (!plan) throw nonRetryable('RSR_INPUT_INVALID', 'this engine does not serve plans');
    return plan({ failedHosts: command.failedHosts, ...(command.kind ? { kind: command.kind } : {}) });
  }
  if (!world) throw nonRetryable('RSR_INPUT_INVALID', 'this engine runs no simulated cloud');
  switch (command.op) {
    case 'fail': {
      const failed = world.fail(command.target, command.mode);
      const reports: unknown[] = [];
      if (command.emit) {
        const kind = EVENT_FOR_MODE[command.mode];
        const subjects = kind === 'instance-down' ? failed.instances.map((instance) => ({ host: failed.host, instance })) : [{ host: failed.host }];
        for (const subject of subjects) {
          reports.push(await report({ kind, source: 'sim-monitor', ...subject } as FailureEvent));
        }
      }
      return { failed, reports };
    }
    case 'recover':
      world.recoverHost(command.host);
      return { recovered: command.host };
    case 'fault':
      return { fault: world.injectFault(command.spec) };
    case 'status':
      return world.snapshot();
  }
  throw nonRetryable('RSR_INPUT_INVALID', `unknown command ${JSON.stringify((command as { op?: unknown }).op)}`);
}

/** Serves commands for this engine (and its simulated world, if any) until the returned function is called. */
export async function serveSimControl(options: {
  subscriber: Redis; publisher: Redis; prefix: string; world?: SimWorld; log: Logger; report: (event: FailureEvent) => Promise<unknown>;
  /** Answers `resurrect plan` (a dry run: nothing is changed). */
  plan?: (request: PlanRequest) => Promise<unknown>;
}): Promise<() => Promise<void>> {
  const { subscriber, publisher, prefix, world, log, report, plan } = options;
  await subscriber.subscribe(channel(prefix));
  subscriber.on('message', (_channel, message) => {
    void (async () => {
      let id = '';
      let reply: SimReply;
      try {
        const parsed = JSON.parse(message) as { id: string; command: SimCommand };
        id = parsed.id;
        reply = { ok: true, result: await applySimCommand(world, parsed.command, report, plan) };
      } catch (err) {
        reply = { ok: false, error: toResurrectError(err).message };
        log.warn({ err: reply.error }, 'simulator command refused');
      }
      if (id) await publisher.multi().rpush(replyKey(prefix, id), JSON.stringify(reply)).expire(replyKey(prefix, id), 60).exec();
    })();
  });
  return async () => {
    await subscriber.unsubscribe(channel(prefix));
  };
}

/** Sends a command to the running engine's simulator and waits for its answer. */
export async function sendSimCommand(redis: Redis, prefix: string, command: SimCommand, timeoutSeconds = 10): Promise<unknown> {
  const id = randomUUID();
  const listeners = await redis.publish(channel(prefix), JSON.stringify({ id, command }));
  if (listeners === 0) {
    throw nonRetryable('RSR_DRIVER_UNAVAILABLE', 'no running Resurrect is listening: start one with `npm start`');
  }
  const answer = await redis.blpop(replyKey(prefix, id), timeoutSeconds);
  if (!answer) throw nonRetryable('RSR_DRIVER_TIMEOUT', `the engine did not answer within ${timeoutSeconds} s`);
  const reply = JSON.parse(answer[1]) as SimReply;
  if (!reply.ok) throw nonRetryable('RSR_INPUT_INVALID', reply.error ?? 'the engine refused the command');
  return reply.result;
}
