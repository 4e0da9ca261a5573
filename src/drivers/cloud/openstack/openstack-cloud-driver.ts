/**
 * The CloudDriver over a real OpenStack: Keystone v3 for the token and catalog, Nova's compute API for
 * everything else, Glance for image existence. Configured like the OpenStack CLI (clouds.yaml or OS_*),
 * see `clouds.ts`; HTTP rules (timeouts, retries, error mapping) in `http.ts`; microversion-dependent
 * routes and bodies in `nova-client.ts`; Nova JSON → domain in `nova-mapping.ts`.
 *
 * Nothing is sent at construction: authentication and microversion negotiation happen at first use, so an
 * engine starts (and reports clearly) while Keystone or Nova are briefly away.
 *
 * Server groups (`Instance.serverGroup`, which placement keeps): `GET /servers/{id}` names a server's group
 * at ≥ 2.71 (`server_groups`), `servers/detail` never does; so a listing, and a server read below 2.71, find
 * the group among the members of `GET /os-server-groups?all_projects` (every microversion). Policies and the
 * listing are kept SERVER_GROUP_TTL_MS per driver; a group that cannot be read leaves `serverGroup` out
 * (warned once per group) rather than failing the call.
 */
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/Either';
import type { Logger } from 'pino';
import { InputError, nonRetryable, systemClock, toResurrectError, type Clock, type ComputeService, type Host, type Instance, type Migration, type ServerGroupRef } from '../../../domain';
import type { DriverFactory } from '../../../plugins/api';
import type { ActionAccepted, CallOptions, CloudDriver } from '../port';
import { loadCloudConfig, type CloudConfig } from './clouds';
import type { HttpAnswer } from './http';
import { KeystoneSession, raceSignal } from './keystone';
import { atLeast, DEFAULT_MICROVERSION_CAP, formatMicroversion, MV, parseMicroversion } from './microversion';
import { NovaClient } from './nova-client';
import { toHosts, toInstance, toMigrations, toServerGroupRef, toService, type NovaServer, type NovaServerGroup, type SharedStorageRule } from './nova-mapping';

export interface OpenStackDriverSettings {
  /** Per HTTP request (each retry has its own). Default 30000. */
  readonly timeoutMs?: number;
  /** Highest compute microversion to use ("2.NN"). Default the cloud's `compute_api_version`, else 2.95. */
  readonly microversion?: string;
  /** Extra attempts of GETs and state-setting PUTs on 502/503/504 or connection errors. Default 3. */
  readonly retries?: number;
  /** First retry delay, doubled each time (with jitter). Default 250. */
  readonly retryBaseMs?: number;
  /** `limit` for paged lists (servers, migrations). Default 500 (Nova's max_limit is 1000). */
  readonly pageSize?: number;
  /** Server metadata key / flavor extra spec saying whether an instance is on shared storage. Default `resurrect:shared_storage`. */
  readonly sharedStorageKey?: string;
  /** Shared storage of an image-backed instance when neither the metadata nor the flavor says. Default false. */
  readonly sharedStorageDefault?: boolean;
  /** Aggregate metadata key (value `true`) marking its hosts as reserved spares. Default `resurrect:reserved`. */
  readonly reservedKey?: string;
  readonly log?: Logger;
  readonly clock?: Clock;
}

export type ResetStateTarget = 'error' | 'active';

export class OpenStackCloudDriver implements CloudDriver {
  private readonly session: KeystoneSession;
  private readonly nova: NovaClient;
  private readonly shared: SharedStorageRule;
  private readonly reservedKey: string;
  private readonly log?: Logger;
  private readonly groups: ServerGroups;
  private readonly clock: Clock;
  /** Image id → until when it is taken as usable (see imageExists). */
  private readonly usableImages = new Map<string, number>();
  private readonly imageLookups = new Map<string, Promise<boolean>>();
  /** Instance id → when a read last found it (for listMigrations' existence check). */
  private readonly existing = new Map<string, number>();
  /** Server reads in flight, by instance id. */
  private readonly serverReads = new Map<string, Promise<void>>();
  private warnedNoStats = false;

  constructor(
    readonly cloud: CloudConfig,
    settings: OpenStackDriverSettings = {},
  ) {
    const capText = settings.microversion ?? cloud.computeApiVersion ?? DEFAULT_MICROVERSION_CAP;
    const cap = parseMicroversion(capText);
    if (!cap || cap.major !== 2 || !atLeast(cap, '2.1')) {
      throw new InputError(`OpenStack driver: microversion must look like 2.NN (≥ 2.1), got "${capText}"`, [{ path: 'microversion', message: 'expected 2.NN' }], 'RSR_CONFIG_INVALID');
    }
    this.log = settings.log;
    const http = {
      timeoutMs: settings.timeoutMs ?? 30_000,
      retries: settings.retries ?? 3,
      retryBaseMs: settings.retryBaseMs ?? 250,
      clock: settings.clock ?? systemClock,
      ...(settings.log ? { log: settings.log } : {}),
    };
    this.session = new KeystoneSession(cloud, http);
    this.nova = new NovaClient(this.session, { cap, pageSize: settings.pageSize ?? 500, ...(settings.log ? { log: settings.log } : {}) });
    this.shared = { key: settings.sharedStorageKey ?? 'resurrect:shared_storage', default: settings.sharedStorageDefault ?? false };
    this.reservedKey = settings.reservedKey ?? 'resurrect:reserved';
    this.groups = new ServerGroups(this.nova, http.clock, cloud.name, settings.log);
    this.clock = http.clock;
  }

  /** The negotiated compute microversion ("2.NN"); negotiates if not done yet. */
  async microversion(options?: CallOptions): Promise<string> {
    return formatMicroversion(await this.nova.microversion(options?.signal));
  }

  async connect(options?: CallOptions): Promise<string> {
    return `cloud ${this.cloud.name}: logged in, compute API microversion ${await this.microversion(options)}`;
  }

  async listHosts(options?: CallOptions): Promise<Host[]> {
    const signal = options?.signal;
    const [services, aggregates, hypervisors] = await Promise.all([
      this.nova.listServices(undefined, signal),
      this.nova.listAggregates(signal),
      this.nova.listHypervisors(signal),
    ]);
    if (!this.warnedNoStats && hypervisors.some((h) => h.vcpus === undefined || h.vcpus === null)) {
      this.warnedNoStats = true;
      this.log?.warn({ cloud: this.cloud.name }, 'os-hypervisors reports no vcpus/memory: host capacity and usage read as 0');
    }
    return toHosts(services, aggregates, hypervisors, { reservedKey: this.reservedKey });
  }

  /** With `observedAt` from the `Date` header of the same nova-api answer (undefined when it has none readable). */
  async getService(host: string, options?: CallOptions): Promise<ComputeService> {
    const { service, observedAt } = await this.nova.serviceReading(host, options?.signal);
    return { ...toService(service), ...(observedAt === undefined ? {} : { observedAt }) };
  }

  async setServiceForcedDown(host: string, forcedDown: boolean, options?: CallOptions): Promise<ComputeService> {
    const signal = options?.signal;
    const version = await this.nova.microversion(signal);
    const service = await this.nova.service(host, signal);
    if (atLeast(version, MV.serviceUuids)) return toService(await this.nova.updateService(String(service.id), { forced_down: forcedDown }, signal));
    if (!atLeast(version, MV.forcedDown)) {
      throw nonRetryable('RSR_CLOUD_REJECTED', `forced_down needs compute API ${MV.forcedDown}; this cloud speaks ${formatMicroversion(version)}`, { details: { host, microversion: formatMicroversion(version) } });
    }
    await this.nova.legacyUpdateService('force-down', { host, forced_down: forcedDown }, signal);
    return this.getService(host, options);
  }

  async setServiceEnabled(host: string, enabled: boolean, reason?: string, options?: CallOptions): Promise<ComputeService> {
    const signal = options?.signal;
    const version = await this.nova.microversion(signal);
    const service = await this.nova.service(host, signal);
    if (atLeast(version, MV.serviceUuids)) {
      // A reason with "enabled" is a 400 at 2.53: dropped, as enabling clears it anyway.
      const body = enabled ? { status: 'enabled' } : { status: 'disabled', ...(reason === undefined ? {} : { disabled_reason: reason }) };
      return toService(await this.nova.updateService(String(service.id), body, signal));
    }
    if (enabled) await this.nova.legacyUpdateService('enable', { host }, signal);
    else if (reason === undefined) await this.nova.legacyUpdateService('disable', { host }, signal);
    else await this.nova.legacyUpdateService('disable-log-reason', { host, disabled_reason: reason }, signal);
    return this.getService(host, options);
  }

  async listInstances(host: string, options?: CallOptions): Promise<Instance[]> {
    const signal = options?.signal;
    // servers/detail does not name groups: their members come from the (kept) listing of groups, asked for
    // alongside. It never rejects.
    const members = this.groups.members();
    // Nova answers an unknown host filter with an empty list; the port wants RSR_CLOUD_NOT_FOUND.
    const [, servers] = await Promise.all([this.nova.service(host, signal), this.nova.listServers(host, signal)]);
    if (servers.length === 0) return [];
    const groupOf = await raceSignal(members, signal);
    return Promise.all(servers.map((s) => this.instance(s, signal, groupOf)));
  }

  async getInstance(id: string, options?: CallOptions): Promise<Instance> {
    const read = this.nova.getServer(id, options?.signal);
    // listMigrations' existence check joins it rather than asking again.
    const noted = read.then(() => this.noteExists(id));
    this.serverReads.set(id, noted);
    void noted.catch(() => undefined).finally(() => {
      if (this.serverReads.get(id) === noted) this.serverReads.delete(id);
    });
    return this.instance(await read, options?.signal);
  }

  /**
   * The VMs of a failed host mostly share a handful of images, and every one of them is checked at once: one
   * lookup per image answers all the callers asking meanwhile, and an image found usable is taken as such for
   * IMAGE_TTL_MS. An image found missing is asked again next time (it may have been a transient listing).
   */
  async imageExists(imageId: string, options?: CallOptions): Promise<boolean> {
    const signal = options?.signal;
    if (signal?.aborted) throw signal.reason;
    if (imageId === '') return false;
    const kept = this.usableImages.get(imageId);
    if (kept !== undefined && kept > this.clock.now()) return true;
    let pending = this.imageLookups.get(imageId);
    if (!pending) {
      // Not tied to one caller's signal: other callers may wait for the same answer (each request has its own timeout).
      const lookup = this.nova.imageExists(imageId).then((usable) => {
        if (usable) this.usableImages.set(imageId, this.clock.now() + IMAGE_TTL_MS);
        else this.usableImages.delete(imageId);
        return usable;
      }).finally(() => {
        if (this.imageLookups.get(imageId) === lookup) this.imageLookups.delete(imageId);
      });
      this.imageLookups.set(imageId, (pending = lookup));
    }
    return raceSignal(pending, signal);
  }

  /**
   * `{"evacuate": {"host"?}}`; below 2.14 with the required `onSharedStorage` from the shared-storage rule.
   * Never `force` (2.29–2.67): a given host stays subject to the scheduler's filters.
   */
  async evacuate(id: string, targetHost?: string, options?: CallOptions): Promise<ActionAccepted> {
    const signal = options?.signal;
    const version = await this.nova.microversion(signal);
    const body: Record<string, unknown> = targetHost === undefined ? {} : { host: targetHost };
    if (!atLeast(version, MV.evacuateWithoutSharedStorage)) body.onSharedStorage = (await this.getInstance(id, options)).sharedStorage;
    return accepted(await this.nova.serverAction(id, { evacuate: body }, signal));
  }

  /** `{"os-migrateLive": {"host", "block_migration": "auto"}}` (≥ 2.25; before, block migration unless shared). */
  async liveMigrate(id: string, targetHost?: string, options?: CallOptions): Promise<ActionAccepted> {
    const signal = options?.signal;
    const version = await this.nova.microversion(signal);
    const host = targetHost ?? null;
    const body = atLeast(version, MV.liveMigrateAuto)
      ? { host, block_migration: 'auto' }
      : { host, block_migration: !(await this.getInstance(id, options)).sharedStorage, disk_over_commit: false };
    return accepted(await this.nova.serverAction(id, { 'os-migrateLive': body }, signal));
  }

  async startInstance(id: string, options?: CallOptions): Promise<ActionAccepted> {
    return accepted(await this.nova.serverAction(id, { 'os-start': null }, options?.signal));
  }

  async stopInstance(id: string, options?: CallOptions): Promise<ActionAccepted> {
    return accepted(await this.nova.serverAction(id, { 'os-stop': null }, options?.signal));
  }

  async rebootInstance(id: string, type: 'SOFT' | 'HARD', options?: CallOptions): Promise<ActionAccepted> {
    return accepted(await this.nova.serverAction(id, { reboot: { type } }, options?.signal));
  }

  /**
   * Nova `os-resetState` (admin): sets vm_state and clears task_state, e.g. to make an instance whose stop
   * hung on a dead host evacuable again. Not part of the CloudDriver port.
   */
  async resetState(id: string, state: ResetStateTarget, options?: CallOptions): Promise<ActionAccepted> {
    if (state !== 'error' && state !== 'active') throw nonRetryable('RSR_INPUT_INVALID', `resetState: state must be error or active, got ${String(state)}`);
    return accepted(await this.nova.serverAction(id, { 'os-resetState': { state } }, options?.signal));
  }

  async listMigrations(instanceId: string, options?: CallOptions): Promise<Migration[]> {
    const signal = options?.signal;
    const records = await this.nova.listMigrations(instanceId, signal);
    // os-migrations filters silently: an unknown instance has no migrations. The port wants NOT_FOUND. An
    // instance read a moment ago (a step reads it alongside its records) is not asked about a second time.
    if (records.length === 0 && !this.existedLately(instanceId)) {
      const joined = await this.serverReads.get(instanceId)?.then(() => true, () => false);
      if (!joined) {
        await this.nova.getServer(instanceId, signal);
        this.noteExists(instanceId);
      }
    }
    return toMigrations(records);
  }

  async listEvacuations(sourceHost: string, options?: CallOptions): Promise<Migration[]> {
    const signal = options?.signal;
    // os-migrations filters silently too: an unknown host has no records; the service lookup says NOT_FOUND.
    const [, records] = await Promise.all([this.nova.service(sourceHost, signal), this.nova.listEvacuationsFrom(sourceHost, signal)]);
    return toMigrations(records);
  }

  private noteExists(id: string): void {
    const now = this.clock.now();
    if (this.existing.size >= EXISTING_KEPT) {
      for (const [known, at] of this.existing) if (now - at > EXISTED_LATELY_MS) this.existing.delete(known);
      if (this.existing.size >= EXISTING_KEPT) this.existing.clear();
    }
    this.existing.delete(id);
    this.existing.set(id, now);
  }

  /** Read (found) within EXISTED_LATELY_MS. */
  private existedLately(id: string): boolean {
    const at = this.existing.get(id);
    return at !== undefined && this.clock.now() - at <= EXISTED_LATELY_MS;
  }

  private async instance(server: NovaServer, signal?: AbortSignal, groupOf?: GroupMembers): Promise<Instance> {
    const [flavor, group] = await Promise.all([this.nova.flavor(server, signal), this.serverGroup(server, signal, groupOf)]);
    return toInstance(server, flavor, this.shared, group);
  }

  /** The server's group as the server names it (≥ 2.71, `GET /servers/{id}`), else as the listing of groups has it. */
  private async serverGroup(server: NovaServer, signal?: AbortSignal, groupOf?: GroupMembers): Promise<ServerGroupRef | undefined> {
    const named = atLeast(await this.nova.microversion(signal), MV.serverGroupsInServer) && Array.isArray(server.server_groups);
    const id = named ? server.server_groups![0] : (groupOf ?? (await raceSignal(this.groups.members(), signal))).get(server.id);
    return id === undefined ? undefined : raceSignal(this.groups.ref(id), signal);
  }
}

/** How long an instance found by a read is taken as existing when its migration list comes back empty. */
export const EXISTED_LATELY_MS = 5_000;
/** Bound on the instances remembered as existing (a big failure reads thousands). */
const EXISTING_KEPT = 10_000;

/** How long an image found usable is taken as such without asking Glance again. */
export const IMAGE_TTL_MS = 10_000;

/** How long a server group's policy, and the listing of groups with their members, are kept (groups rarely change). */
export const SERVER_GROUP_TTL_MS = 60_000;

/** Instance id → the id of its server group. */
type GroupMembers = ReadonlyMap<string, string>;

const LISTING = 'os-server-groups listing';

/**
 * Nova server groups, kept per driver for SERVER_GROUP_TTL_MS: each group's policy (one lookup per group
 * however many of its members are read, shared by concurrent readers) and the listing of every group with
 * its members. Nothing here rejects: a group that cannot be read is `undefined` (the instance is reported
 * without it) and warned about once, until it reads again. A failure that may pass (timeout, 5xx) is asked
 * again next time; one that will not (404, 403, an unknown policy) is kept like an answer.
 */
class ServerGroups {
  private readonly policies = new Map<string, { readonly ref: ServerGroupRef | undefined; readonly until: number }>();
  private readonly lookups = new Map<string, Promise<ServerGroupRef | undefined>>();
  private listing?: { readonly members: GroupMembers; readonly until: number };
  private pendingListing?: Promise<GroupMembers>;
  private readonly warned = new Set<string>();

  constructor(
    private readonly nova: NovaClient,
    private readonly clock: Clock,
    private readonly cloud: string,
    private readonly log?: Logger,
  ) {}

  /** Who is in which group, from `GET /os-server-groups?all_projects` (empty when it cannot be read). */
  members(): Promise<GroupMembers> {
    if (this.listing && this.listing.until > this.clock.now()) return Promise.resolve(this.listing.members);
    if (!this.pendingListing) {
      const pending = this.list().finally(() => {
        if (this.pendingListing === pending) this.pendingListing = undefined;
      });
      this.pendingListing = pending;
    }
    return this.pendingListing;
  }

  /** The id and policy of group `id`, kept or looked up (`GET /os-server-groups/{id}`). */
  ref(id: string): Promise<ServerGroupRef | undefined> {
    const kept = this.policies.get(id);
    if (kept && kept.until > this.clock.now()) return Promise.resolve(kept.ref);
    let pending = this.lookups.get(id);
    if (!pending) {
      const lookup = this.lookup(id).finally(() => {
        if (this.lookups.get(id) === lookup) this.lookups.delete(id);
      });
      this.lookups.set(id, (pending = lookup));
    }
    return pending;
  }

  // Not tied to one caller's signal: other readers may wait for the same answer.
  private async list(): Promise<GroupMembers> {
    try {
      const groups = await this.nova.listServerGroups();
      const until = this.clock.now() + SERVER_GROUP_TTL_MS;
      const members = new Map<string, string>();
      for (const g of groups) {
        this.policies.set(g.id, { ref: this.readable(g), until });
        for (const member of g.members ?? []) members.set(member, g.id);
      }
      this.listing = { members, until };
      this.warned.delete(LISTING);
      return members;
    } catch (error) {
      const e = toResurrectError(error);
      this.warnOnce(LISTING, { code: e.code }, `server groups cannot be listed (${e.message}): instances are reported without their server group, so placement does not keep their (anti-)affinity`);
      const members = new Map<string, string>();
      if (!e.retryable) this.listing = { members, until: this.clock.now() + SERVER_GROUP_TTL_MS };
      return members;
    }
  }

  private async lookup(id: string): Promise<ServerGroupRef | undefined> {
    try {
      const ref = this.readable(await this.nova.serverGroup(id));
      this.policies.set(id, { ref, until: this.clock.now() + SERVER_GROUP_TTL_MS });
      return ref;
    } catch (error) {
      const e = toResurrectError(error);
      this.warnOnce(id, { group: id, code: e.code }, `server group ${id} cannot be read (${e.message}): its members are reported without it, so placement does not keep its (anti-)affinity`);
      if (!e.retryable) this.policies.set(id, { ref: undefined, until: this.clock.now() + SERVER_GROUP_TTL_MS });
      return undefined;
    }
  }

  private readable(group: NovaServerGroup): ServerGroupRef | undefined {
    const ref = toServerGroupRef(group);
    if (ref) this.warned.delete(group.id);
    else this.warnOnce(group.id, { group: group.id }, `server group ${group.id} has a policy the engine does not know (${JSON.stringify(group.policy ?? group.policies ?? null)}): its members are reported without it`);
    return ref;
  }

  private warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log?.warn({ cloud: this.cloud, ...fields }, message);
  }
}

/** The request id of the call that created the action (reference §1); the one we sent if Nova gave none. */
const accepted = (answer: HttpAnswer): ActionAccepted => ({ requestId: answer.requestId ?? answer.globalRequestId });

// ---- factory -----------------------------------------------------------------------------------------

const PositiveInt = t.refinement(t.number, (n) => Number.isInteger(n) && n > 0, 'PositiveInteger');
const NonNegativeInt = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 0, 'NonNegativeInteger');

/** `cloud.options` of the engine configuration when `cloud.driver` is `openstack`. */
export const OpenStackDriverOptions = t.partial({
  /** clouds.yaml entry; default `$OS_CLOUD`; neither ⇒ OS_* variables. */
  cloud: t.string,
  /** Read this clouds.yaml instead of searching. */
  cloudsYaml: t.string,
  interface: t.keyof({ public: null, internal: null, admin: null }),
  region: t.string,
  timeoutMs: PositiveInt,
  microversion: t.string,
  retries: NonNegativeInt,
  retryBaseMs: NonNegativeInt,
  pageSize: PositiveInt,
  sharedStorageKey: t.string,
  sharedStorageDefault: t.boolean,
  reservedKey: t.string,
}, 'OpenStackDriverOptions');
export type OpenStackDriverOptions = t.TypeOf<typeof OpenStackDriverOptions>;

/** Checks the options (unknown keys too) and resolves the cloud; `env`/`cwd`/`home` are for tests. */
export function createOpenStackCloudDriver(
  options: Record<string, unknown>,
  context: { log?: Logger; clock?: Clock; env?: NodeJS.ProcessEnv; cwd?: string; home?: string } = {},
): OpenStackCloudDriver {
  const stray = Object.keys(options).filter((k) => !(k in OpenStackDriverOptions.props));
  const decoded = OpenStackDriverOptions.decode(options);
  const problems = [
    ...stray.map((k) => ({ path: k, message: 'unknown option' })),
    ...(isLeft(decoded) ? decoded.left.map((e) => ({ path: e.context.filter((c) => c.key !== '').map((c) => c.key).join('.') || '(root)', message: `expected ${e.context.at(-1)?.type.name ?? 'value'}` })) : []),
  ];
  if (problems.length > 0 || isLeft(decoded)) {
    throw new InputError(`invalid openstack driver options: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems, 'RSR_CONFIG_INVALID');
  }
  const o = decoded.right;
  const cloud = loadCloudConfig({
    ...(o.cloud === undefined ? {} : { cloud: o.cloud }),
    ...(o.cloudsYaml === undefined ? {} : { cloudsYaml: o.cloudsYaml }),
    ...(o.interface === undefined ? {} : { interface: o.interface }),
    ...(o.region === undefined ? {} : { region: o.region }),
    ...(context.env ? { env: context.env } : {}),
    ...(context.cwd ? { cwd: context.cwd } : {}),
    ...(context.home ? { home: context.home } : {}),
  });
  context.log?.info({ cloud: cloud.name, source: cloud.source, interface: cloud.interface, region: cloud.region }, `OpenStack cloud "${cloud.name}" from ${cloud.source}`);
  const { cloud: _c, cloudsYaml: _y, interface: _i, region: _r, ...settings } = o;
  return new OpenStackCloudDriver(cloud, { ...settings, ...(context.log ? { log: context.log } : {}), ...(context.clock ? { clock: context.clock } : {}) });
}

/** Registers as the built-in cloud driver `openstack` (`cloud.driver: openstack`, `cloud.options: {…}`). */
export const openstackCloudDriverFactory: DriverFactory<OpenStackCloudDriver> = {
  kind: 'cloud',
  name: 'openstack',
  create: (options, context) => createOpenStackCloudDriver(options, context),
};
