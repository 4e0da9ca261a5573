import type { Logger } from 'pino';
import type { ComputeService, Host, Instance, Migration } from '../../domain';
import type { TokenBucket } from '../redis/token-bucket';
import type { ActionAccepted, CallOptions, CloudDriver } from './port';

/**
 * The cloud API rate limit (`limits.cloudApi`): every call to the wrapped driver first takes a token from a
 * bucket all workers share, reads as well as writes, since Nova's API workers serve both and a mass failure's
 * polling can starve its evacuations as surely as the evacuations themselves. The call's signal also cancels
 * the wait, so a step timeout is not stretched by time spent queueing for a token.
 */
export class RateLimitedCloud implements CloudDriver {
  constructor(private readonly inner: CloudDriver, private readonly bucket: TokenBucket, private readonly log: Logger) {}

  // Not limited: one call per process start, before any recovery runs.
  get connect(): CloudDriver['connect'] {
    return this.inner.connect ? (options) => this.inner.connect!(options) : undefined;
  }

  listHosts(options?: CallOptions): Promise<Host[]> {
    return this.limited('listHosts', options, () => this.inner.listHosts(options));
  }

  getService(host: string, options?: CallOptions): Promise<ComputeService> {
    return this.limited('getService', options, () => this.inner.getService(host, options));
  }

  setServiceForcedDown(host: string, forcedDown: boolean, options?: CallOptions): Promise<ComputeService> {
    return this.limited('setServiceForcedDown', options, () => this.inner.setServiceForcedDown(host, forcedDown, options));
  }

  setServiceEnabled(host: string, enabled: boolean, reason?: string, options?: CallOptions): Promise<ComputeService> {
    return this.limited('setServiceEnabled', options, () => this.inner.setServiceEnabled(host, enabled, reason, options));
  }

  listInstances(host: string, options?: CallOptions): Promise<Instance[]> {
    return this.limited('listInstances', options, () => this.inner.listInstances(host, options));
  }

  getInstance(id: string, options?: CallOptions): Promise<Instance> {
    return this.limited('getInstance', options, () => this.inner.getInstance(id, options));
  }

  imageExists(imageId: string, options?: CallOptions): Promise<boolean> {
    return this.limited('imageExists', options, () => this.inner.imageExists(imageId, options));
  }

  evacuate(id: string, targetHost?: string, options?: CallOptions): Promise<ActionAccepted> {
    return this.limited('evacuate', options, () => this.inner.evacuate(id, targetHost, options));
  }

  liveMigrate(id: string, targetHost?: string, options?: CallOptions): Promise<ActionAccepted> {
    return this.limited('liveMigrate', options, () => this.inner.liveMigrate(id, targetHost, options));
  }

  startInstance(id: string, options?: CallOptions): Promise<ActionAccepted> {
    return this.limited('startInstance', options, () => this.inner.startInstance(id, options));
  }

  stopInstance(id: string, options?: CallOptions): Promise<ActionAccepted> {
    return this.limited('stopInstance', options, () => this.inner.stopInstance(id, options));
  }

  rebootInstance(id: string, type: 'SOFT' | 'HARD', options?: CallOptions): Promise<ActionAccepted> {
    return this.limited('rebootInstance', options, () => this.inner.rebootInstance(id, type, options));
  }

  listMigrations(instanceId: string, options?: CallOptions): Promise<Migration[]> {
    return this.limited('listMigrations', options, () => this.inner.listMigrations(instanceId, options));
  }

  listEvacuations(sourceHost: string, options?: CallOptions): Promise<Migration[]> {
    return this.limited('listEvacuations', options, () => this.inner.listEvacuations(sourceHost, options));
  }

  private async limited<T>(call: string, options: CallOptions | undefined, run: () => Promise<T>): Promise<T> {
    const { waitedMs } = await this.bucket.take(options?.signal);
    if (waitedMs > 0) this.log.debug({ call, waitedMs }, `cloud API rate limit: ${call} waited ${waitedMs} ms for a token`);
    return run();
  }
}
