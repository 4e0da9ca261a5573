import type { ComputeService, Host, Instance, Migration } from '../../../domain';
import type { ActionAccepted, CallOptions, CloudDriver } from '../port';
import type { SimWorld } from './world';

/**
 * The CloudDriver over an in-process SimWorld. Everything (latency, queueing, faults, counters) happens in
 * the world's API so that a served sim behaves the same; this adapter only settles abort semantics.
 */
export class SimCloudDriver implements CloudDriver {
  constructor(readonly world: SimWorld) {}

  listHosts(options?: CallOptions): Promise<Host[]> {
    return this.run(options, (signal) => this.world.nova.listHosts(signal));
  }

  getService(host: string, options?: CallOptions): Promise<ComputeService> {
    return this.run(options, (signal) => this.world.nova.getService(host, signal));
  }

  setServiceForcedDown(host: string, forcedDown: boolean, options?: CallOptions): Promise<ComputeService> {
    return this.run(options, (signal) => this.world.nova.setServiceForcedDown(host, forcedDown, signal));
  }

  setServiceEnabled(host: string, enabled: boolean, reason?: string, options?: CallOptions): Promise<ComputeService> {
    return this.run(options, (signal) => this.world.nova.setServiceEnabled(host, enabled, reason, signal));
  }

  listInstances(host: string, options?: CallOptions): Promise<Instance[]> {
    return this.run(options, (signal) => this.world.nova.listInstances(host, signal));
  }

  getInstance(id: string, options?: CallOptions): Promise<Instance> {
    return this.run(options, (signal) => this.world.nova.getInstance(id, signal));
  }

  imageExists(imageId: string, options?: CallOptions): Promise<boolean> {
    return this.run(options, (signal) => this.world.nova.imageExists(imageId, signal));
  }

  evacuate(id: string, targetHost?: string, options?: CallOptions): Promise<ActionAccepted> {
    return this.run(options, (signal) => this.world.nova.evacuate(id, targetHost, signal));
  }

  liveMigrate(id: string, targetHost?: string, options?: CallOptions): Promise<ActionAccepted> {
    return this.run(options, (signal) => this.world.nova.liveMigrate(id, targetHost, signal));
  }

  startInstance(id: string, options?: CallOptions): Promise<ActionAccepted> {
    return this.run(options, (signal) => this.world.nova.startInstance(id, signal));
  }

  stopInstance(id: string, options?: CallOptions): Promise<ActionAccepted> {
    return this.run(options, (signal) => this.world.nova.stopInstance(id, signal));
  }

  rebootInstance(id: string, type: 'SOFT' | 'HARD', options?: CallOptions): Promise<ActionAccepted> {
    return this.run(options, (signal) => this.world.nova.rebootInstance(id, type, signal));
  }

  listMigrations(instanceId: string, options?: CallOptions): Promise<Migration[]> {
    return this.run(options, (signal) => this.world.nova.listMigrations(instanceId, signal));
  }

  listEvacuations(sourceHost: string, options?: CallOptions): Promise<Migration[]> {
    return this.run(options, (signal) => this.world.nova.listEvacuations(sourceHost, signal));
  }

  /**
   * Rejects with the signal's reason as soon as it aborts, without relying on the backend to notice. No
   * copying here: the world builds every answer fresh from its records, so callers already own what they get.
   */
  private async run<T>(options: CallOptions | undefined, call: (signal?: AbortSignal) => Promise<T>): Promise<T> {
    const signal = options?.signal;
    if (signal?.aborted) throw signal.reason;
    if (!signal) return call();
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([call(signal), aborted]);
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }
}
