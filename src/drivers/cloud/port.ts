import type { ComputeService, Host, Instance, Migration } from '../../domain';

export const CLOUD_DRIVER = Symbol.for('resurrect.CloudDriver');

/** Every driver call can be cancelled: a step's timeout aborts the call in flight. */
export interface CallOptions {
  readonly signal?: AbortSignal;
}

export interface ActionAccepted {
  /** The cloud's request id for the action (Nova: X-OpenStack-Request-Id), for tracking and the audit. */
  readonly requestId: string;
}

/**
 * The cloud as a recovery engine needs it: a subset of the Nova compute API. Implementations: the simulated
 * cloud (in process), OpenStack over HTTP. Errors are ResurrectErrors:
 * - RSR_CLOUD_NOT_FOUND (not retryable) for an unknown host or instance;
 * - RSR_CLOUD_CONFLICT (retryable) when the object's state refuses the action now (Nova 409, or the 400
 *   "Compute service of … is still in use" for an evacuation from a host not yet seen down, or the 400 "Unable
 *   to force up host …" for lifting forced_down while evacuations from the host are still `done`);
 * - RSR_NO_CAPACITY (retryable) when no target host has room and the cloud says so at once (a live
 *   migration); an evacuation is accepted all the same, as Nova does, and fails later (instance ERROR on its
 *   source, migration `error`);
 * - RSR_DRIVER_TIMEOUT / RSR_DRIVER_UNAVAILABLE (retryable) for transport trouble.
 * Actions are asynchronous, as in Nova: accepted now, effective later; poll `getInstance`/`listMigrations`.
 */
export interface CloudDriver {
  listHosts(options?: CallOptions): Promise<Host[]>;
  /**
   * The host's nova-compute service. `observedAt` is when the cloud answered, on the cloud's clock (Nova: the
   * response's `Date` header), so that `observedAt − updatedAt` is the heartbeat's age without any clock skew
   * between the cloud and us; leave it undefined rather than guess (from our clock, or a garbled header).
   */
  getService(host: string, options?: CallOptions): Promise<ComputeService>;
  /** Nova `forced_down`: marks the service down at once instead of waiting for missed heartbeats. */
  setServiceForcedDown(host: string, forcedDown: boolean, options?: CallOptions): Promise<ComputeService>;
  setServiceEnabled(host: string, enabled: boolean, reason?: string, options?: CallOptions): Promise<ComputeService>;
  listInstances(host: string, options?: CallOptions): Promise<Instance[]>;
  getInstance(id: string, options?: CallOptions): Promise<Instance>;
  imageExists(imageId: string, options?: CallOptions): Promise<boolean>;
  /**
   * Rebuild on another host (Nova evacuate). `targetHost` undefined lets the scheduler choose. Accepted whatever
   * the task state (Nova 26) and whether or not any host has room (no valid host ⇒ ERROR later).
   */
  evacuate(id: string, targetHost?: string, options?: CallOptions): Promise<ActionAccepted>;
  liveMigrate(id: string, targetHost?: string, options?: CallOptions): Promise<ActionAccepted>;
  startInstance(id: string, options?: CallOptions): Promise<ActionAccepted>;
  stopInstance(id: string, options?: CallOptions): Promise<ActionAccepted>;
  rebootInstance(id: string, type: 'SOFT' | 'HARD', options?: CallOptions): Promise<ActionAccepted>;
  /** Migration records of one instance, newest first (Nova os-migrations). */
  listMigrations(instanceId: string, options?: CallOptions): Promise<Migration[]>;
  /**
   * Evacuation records whose source is `sourceHost`, newest first (Nova `os-migrations?source_compute=…&
   * migration_type=evacuation`). Those still `done` are what the host's restarted nova-compute must clean up
   * (→ `completed`) before Nova lets its forced_down be lifted. An unknown host is RSR_CLOUD_NOT_FOUND.
   */
  listEvacuations(sourceHost: string, options?: CallOptions): Promise<Migration[]>;
  /**
   * Optional: log in and agree on the API version now, ahead of the first recovery, whose first call would
   * otherwise pay for it (a Keystone token, the version document). Resolves to a line saying what was reached.
   */
  connect?(options?: CallOptions): Promise<string>;
}
