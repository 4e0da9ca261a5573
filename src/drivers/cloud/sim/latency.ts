import type { Clock } from '../../../domain';
import { isMutating, type Completion, type SimAction } from './actions';
import type { Rng } from './rng';

/**
 * How long the simulated cloud takes. Numbers are real-world milliseconds (a Nova API answer, a rebuild, a
 * host boot); `timeScale` shrinks them all at once (0 = instant, for tests; 0.01 = a 45 s rebuild in 0.45 s
 * for demos) and `jitter` spreads each sample by ± that fraction, drawn from the seeded PRNG.
 */
export interface LatencyConfig {
  readonly timeScale: number;
  /** Fraction in [0, 1): a sample is base × (1 ± jitter). */
  readonly jitter: number;
  /** Time for the API to answer a call (the call holds one concurrency slot meanwhile). */
  readonly acceptMs: Readonly<Record<SimAction, number>>;
  /** Time from "accepted" to the end state of asynchronous work. */
  readonly completeMs: Readonly<Record<Completion, number>>;
  /**
   * Calls of one action served at once; later calls queue in FIFO order. Nova has no rate limiter but a
   * finite number of API workers and DB connections: bursts slow down rather than fail.
   */
  readonly concurrency: Readonly<Record<SimAction, number>>;
}

export interface LatencyOverrides {
  readonly timeScale?: number;
  readonly jitter?: number;
  readonly acceptMs?: Partial<Record<SimAction, number>>;
  readonly completeMs?: Partial<Record<Completion, number>>;
  readonly concurrency?: Partial<Record<SimAction, number>>;
}

const DEFAULT_ACCEPT: Record<SimAction, number> = {
  listHosts: 120,
  getService: 40,
  setServiceForcedDown: 150,
  setServiceEnabled: 150,
  listInstances: 180,
  getInstance: 40,
  imageExists: 60,
  evacuate: 400,
  liveMigrate: 400,
  startInstance: 200,
  stopInstance: 200,
  rebootInstance: 200,
  listMigrations: 60,
  listEvacuations: 60,
  resetState: 150,
  listInstanceActions: 60,
  // IPMI over a management LAN: power commands take a second or two, reads a few hundred ms.
  'bmc.off': 1500,
  'bmc.on': 1500,
  'bmc.status': 300,
  'pdu.off': 800,
  'pdu.on': 800,
  'pdu.status': 200,
};

const DEFAULT_COMPLETE: Record<Completion, number> = {
  evacuate: 45_000,
  liveMigrate: 30_000,
  start: 8_000,
  stop: 6_000,
  rebootSoft: 20_000,
  rebootHard: 12_000,
  hostBoot: 90_000,
  // nova-compute joins the service group after init_host, and its first report comes 5 s later.
  serviceReport: 5_000,
};

function defaultConcurrency(action: SimAction): number {
  if (action.startsWith('bmc.') || action.startsWith('pdu.')) return 2; // BMCs handle very few sessions
  return isMutating(action) ? 16 : 64;
}

export function latencyConfig(overrides: LatencyOverrides = {}): LatencyConfig {
  const concurrency = {} as Record<SimAction, number>;
  for (const action of Object.keys(DEFAULT_ACCEPT) as SimAction[]) {
    concurrency[action] = overrides.concurrency?.[action] ?? defaultConcurrency(action);
  }
  const timeScale = overrides.timeScale ?? 1;
  const jitter = overrides.jitter ?? 0.25;
  if (!(timeScale >= 0)) throw new RangeError(`timeScale must be >= 0, got ${timeScale}`);
  if (!(jitter >= 0 && jitter < 1)) throw new RangeError(`jitter must be in [0, 1), got ${jitter}`);
  return {
    timeScale,
    jitter,
    acceptMs: { ...DEFAULT_ACCEPT, ...overrides.acceptMs },
    completeMs: { ...DEFAULT_COMPLETE, ...overrides.completeMs },
    concurrency,
  };
}

/** Samples durations and gates concurrency. One instance per world. */
export class LatencyModel {
  private readonly gates = new Map<SimAction, Semaphore>();

  constructor(readonly config: LatencyConfig, private readonly rng: Rng) {}

  acceptDelay(action: SimAction): number {
    return this.sample(this.config.acceptMs[action]);
  }

  completionDelay(kind: Completion): number {
    return this.sample(this.config.completeMs[kind]);
  }

  /**
   * base × timeScale × (1 ± jitter). Draws even when timeScale is 0 so that the jitter sequence of a seed is
   * the same whatever the scale: a what-if run at another speed replays the same relative timings.
   */
  sample(baseMs: number): number {
    const u = this.rng.next();
    const factor = 1 + this.config.jitter * (2 * u - 1);
    return Math.max(0, Math.round(baseMs * this.config.timeScale * factor));
  }

  /** Waits for a slot of `action`; resolves with the release function. */
  acquire(action: SimAction, signal?: AbortSignal): Promise<() => void> {
    return this.gate(action).acquire(signal);
  }

  /** Calls holding a slot and calls queued behind them, per action (for tests and the demo). */
  load(action: SimAction): { readonly active: number; readonly queued: number } {
    const gate = this.gates.get(action);
    return { active: gate?.active ?? 0, queued: gate?.queued ?? 0 };
  }

  private gate(action: SimAction): Semaphore {
    let gate = this.gates.get(action);
    if (!gate) {
      gate = new Semaphore(this.config.concurrency[action]);
      this.gates.set(action, gate);
    }
    return gate;
  }
}

/** FIFO counting semaphore; a waiter whose signal aborts leaves the queue without taking a slot. */
export class Semaphore {
  private running = 0;
  private readonly waiters: { grant: () => void; reject: (reason: unknown) => void }[] = [];

  constructor(private readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError(`concurrency limit must be >= 1, got ${limit}`);
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiters.length;
  }

  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.running < this.limit) {
      this.running++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.releaser());
        },
        reject,
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // The slot passes straight to the next waiter: `running` stays the same.
      if (next) next.grant();
      else this.running--;
    };
  }
}

/** `clock.sleep`, skipped when there is nothing to wait for so that timeScale 0 stays fast. */
export async function pause(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw signal.reason;
  if (ms > 0) await clock.sleep(ms, signal);
}
