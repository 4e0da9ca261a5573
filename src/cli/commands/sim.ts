import { Redis } from 'ioredis';
import { createLogger } from '../../config/logger';
import type { SimFailMode } from '../../drivers/cloud/sim/world';
import { sendSimCommand } from '../../engine/control-channel';
import type { SimCommand } from '../../engine/control-channel';
import type { GlobalOptions } from '../connect';
import { configFrom, locateRunningRedis } from '../connect';

export async function send(options: GlobalOptions, command: SimCommand): Promise<unknown> {
  const config = configFrom(options);
  const { url, prefix } = await locateRunningRedis(config, createLogger({ level: 'warn' }));
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    return await sendSimCommand(redis, prefix, command);
  } finally {
    redis.disconnect();
  }
}

/** `resurrect sim fail <host|instance> [--mode …] [--instance ID] [--no-emit]`. */
export async function simFail(target: string, options: GlobalOptions & { mode: SimFailMode; instance?: string; emit: boolean }): Promise<number> {
  const victim = options.mode === 'vm' && options.instance ? options.instance : target;
  const result = (await send(options, { op: 'fail', target: victim, mode: options.mode, emit: options.emit })) as {
    failed: { host: string; instances: string[] };
    reports: { created: boolean; incident: { id: string; workflow: string } }[];
  };
  if (options.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  }
  const what = options.mode === 'vm' ? `instance ${result.failed.instances.join(', ') || '(none running)'} on ${result.failed.host}` : `host ${result.failed.host}`;
  process.stdout.write(`simulated ${options.mode} failure of ${what}\n`);
  for (const r of result.reports) process.stdout.write(`${r.created ? 'opened' : 'joined'} incident ${r.incident.id} (${r.incident.workflow})\n`);
  return 0;
}

export async function simRecover(host: string, options: GlobalOptions): Promise<number> {
  await send(options, { op: 'recover', host });
  process.stdout.write(`host ${host} repaired and powered on\n`);
  return 0;
}

export async function simFault(spec: string, options: GlobalOptions): Promise<number> {
  const result = await send(options, { op: 'fault', spec: JSON.parse(spec) as unknown });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return 0;
}
