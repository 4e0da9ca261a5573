/**
 * Engine overhead: what one audited, persisted transition costs compared with the same machine run as a bare
 * xstate actor, measured in the same run on the same machine (figures are ratios; the machine is shared).
 *
 *   npm run bench            # defaults: 60-state chain, 15 sequential runs, 200 concurrent recoveries
 *   BENCH_STATES=100 BENCH_RUNS=30 BENCH_CONCURRENT=500 npm run bench
 *
 * Sequential: one recovery at a time, so per-transition latency is the Redis round trip plus the runner.
 * Concurrent: many recoveries on one worker (concurrency 16): transitions per second.
 */
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { Redis } from 'ioredis';
import { assign, createActor, fromPromise, setup } from 'xstate';
import type { AnyStateMachine } from 'xstate';
import { DEFAULT_CONFIG, DEFAULT_WORKFLOWS } from '../src/config/config';
import { buildApp } from '../src/container';
import { SimWorld } from '../src/drivers/cloud/sim/world';
import { ensureRedis } from '../src/drivers/redis/locate-redis';
import { definePlugin, defineStep, defineWorkflow, stepActor } from '../src/plugins/api';

const STATES = Number(process.env.BENCH_STATES ?? 60);
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const CONCURRENT = Number(process.env.BENCH_CONCURRENT ?? 200);
const log = pino({ level: 'warn' });

/** A chain of STATES states, each invoking an instant step, then a final state. */
function chainMachine(step: ReturnType<typeof stepActor>): AnyStateMachine {
  const states: Record<string, object> = {};
  for (let i = 0; i < STATES; i++) {
    states[`s${i}`] = {
      invoke: { src: 'tick', input: ({ context }: { context: { n: number } }) => ({ n: context.n }), onDone: { target: i + 1 < STATES ? `s${i + 1}` : 'done', actions: 'count' } },
    };
  }
  states.done = { type: 'final' };
  return setup({
    types: { context: {} as { n: number } },
    actors: { tick: step },
    actions: { count: assign({ n: ({ context }) => context.n + 1 }) },
  }).createMachine({
    id: 'bench-chain',
    initial: 's0',
    context: { n: 0 },
    states: states as never,
    output: ({ context }: { context: { n: number } }) => ({ outcome: 'recovered', result: { n: context.n } }),
  } as never) as unknown as AnyStateMachine;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const fmt = (ms: number) => `${ms < 0.1 ? (ms * 1000).toFixed(1) + ' µs' : ms.toFixed(3) + ' ms'}`;

async function bareActor(machine: AnyStateMachine): Promise<number[]> {
  const provided = machine.provide({ actors: { tick: fromPromise(async ({ input }: { input: { n: number } }) => input.n) } } as never);
  const perTransition: number[] = [];
  for (let r = 0; r < RUNS * 4; r++) {
    const start = performance.now();
    await new Promise<void>((done) => {
      const actor = createActor(provided);
      actor.subscribe({ complete: () => done() });
      actor.start();
    });
    perTransition.push((performance.now() - start) / (STATES + 1));
  }
  return perTransition;
}

async function redisRoundTrip(url: string): Promise<number[]> {
  const client = new Redis(url);
  const samples: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const start = performance.now();
    await client.ping();
    samples.push(performance.now() - start);
  }
  client.disconnect();
  return samples;
}

async function main(): Promise<void> {
  const redis = await ensureRedis({ log });
  const tick = defineStep({ name: 'tick', description: 'does nothing, at once', timeoutMs: 5_000, run: async (input: { n: number }) => input.n });
  const machine = chainMachine(stepActor('tick'));
  const plugin = definePlugin({ name: 'bench', steps: [tick], workflows: [defineWorkflow({ name: 'bench-chain', description: 'bench', handles: ['host-down'], machine })] });
  const prefix = `rsr-bench-${process.pid}`;
  const app = await buildApp({
    config: { ...DEFAULT_CONFIG, redis: { prefix }, workflows: { ...DEFAULT_WORKFLOWS, 'host-down': 'bench-chain' }, log: { level: 'warn' } },
    redisUrl: redis.url, log, plugins: [plugin], overrides: { world: new SimWorld({ timeScale: 0 }) }, workerName: 'bench',
  });
  app.worker().start(16);
  try {
    process.stderr.write(`bench: ${STATES}+1 transitions per recovery, ${RUNS} sequential runs, ${CONCURRENT} concurrent; Redis ${redis.origin}\n`);
    const bare = await bareActor(machine);
    const ping = await redisRoundTrip(redis.url);

    let host = 0;
    const recover = async () => {
      const { incident } = await app.engine.report({ kind: 'host-down', host: `bench-${host++}` });
      const closed = await app.engine.waitForIncident(incident.id, { timeoutMs: 120_000, pollMs: 2 });
      if (closed.outcome !== 'recovered') throw new Error(`bench recovery ${incident.id} ended ${closed.outcome}`);
      return incident.recoveryId;
    };
    await recover(); // warm-up: scripts loaded, connections open
    const sequential: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const start = performance.now();
      const id = await recover();
      const elapsed = performance.now() - start;
      const transitions = (await app.engine.audit(id)).filter((row) => row.record.type === 'transition').length;
      sequential.push(elapsed / transitions);
      process.stderr.write(`  run ${r + 1}/${RUNS}: ${fmt(elapsed / transitions)} per transition\n`);
    }
    const start = performance.now();
    await Promise.all(Array.from({ length: CONCURRENT }, () => recover()));
    const wall = (performance.now() - start) / 1000;
    const throughput = (CONCURRENT * (STATES + 1)) / wall;

    const bareMedian = median(bare);
    const engineMedian = median(sequential);
    const rows = [
      ['bare xstate actor (baseline)', fmt(bareMedian), '1.0×'],
      ['Redis PING round trip (floor)', fmt(median(ping)), `${(median(ping) / bareMedian).toFixed(1)}×`],
      ['engine: audited + persisted, sequential', fmt(engineMedian), `${(engineMedian / bareMedian).toFixed(1)}×`],
    ];
    process.stdout.write('\n| measure | median per transition | vs baseline |\n|---|---|---|\n');
    for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`);
    process.stdout.write(`\nthroughput, one worker (concurrency 16), ${CONCURRENT} recoveries × ${STATES + 1} transitions: ${Math.round(throughput)} transitions/s (bare actor: ${Math.round(1000 / bareMedian)} transitions/s, ${(1000 / bareMedian / throughput).toFixed(1)}× more)\n`);
    process.stdout.write(`target: engine median < 1 ms per transition: ${engineMedian < 1 ? 'met' : 'NOT met'} (${fmt(engineMedian)})\n`);
  } finally {
    const cleaner = new Redis(redis.url);
    let cursor = '0';
    do {
      const [next, keys] = await cleaner.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await cleaner.unlink(...keys);
    } while (cursor !== '0');
    cleaner.disconnect();
    await app.close();
    await redis.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
