/**
 * The Nova (and image) calls the driver makes, at the negotiated microversion. Knows routes, bodies per
 * microversion, paging and which calls may be repeated; returns Nova's records (decoded), not domain types.
 */
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/Either';
import type { Logger } from 'pino';
import { describeErrors, nonRetryable, retryable, type Flavor, type IsoTime } from '../../../domain';
import type { HttpAnswer } from './http';
import { httpDate, pathOf } from './http';
import { raceSignal, type KeystoneSession, type ServiceCall } from './keystone';
import { atLeast, formatMicroversion, lower, MV, negotiate, parseMicroversion, type Microversion } from './microversion';
import {
  AggregatesBody,
  embeddedFlavor,
  ExtraSpecsBody,
  FlavorBody,
  HypervisorsBody,
  MigrationsPage,
  nextMarker,
  ServerBody,
  ServerGroupBody,
  ServerGroupsBody,
  ServiceBody,
  ServicesBody,
  ServersPage,
  VersionDocument,
  type NovaAggregate,
  type NovaHypervisor,
  type NovaMigration,
  type NovaServer,
  type NovaServerGroup,
  type NovaService,
} from './nova-mapping';

export interface NovaClientSettings {
  /** Highest microversion to speak. */
  readonly cap: Microversion;
  /** `limit` of paged lists. */
  readonly pageSize: number;
  readonly log?: Logger;
}

/** Legacy (< 2.53) service actions: `PUT /os-services/<action>` with `{host, binary, …}`. */
export type LegacyServiceAction = 'enable' | 'disable' | 'disable-log-reason' | 'force-down';

const MAX_PAGES = 10_000;
const enc = encodeURIComponent;

export class NovaClient {
  private range?: { min: Microversion; max: Microversion; chosen: Microversion };
  private pendingRange?: Promise<{ min: Microversion; max: Microversion; chosen: Microversion }>;
  private readonly flavors = new Map<string, Promise<Flavor>>();
  private warnedNoAggregates = false;

  constructor(
    private readonly session: KeystoneSession,
    private readonly settings: NovaClientSettings,
  ) {}

  /** The microversion in use; negotiated once, at first use (a failed negotiation is tried again next time). */
  async microversion(signal?: AbortSignal): Promise<Microversion> {
    return (await this.versions(signal)).chosen;
  }

  private versions(signal?: AbortSignal): Promise<{ min: Microversion; max: Microversion; chosen: Microversion }> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.range) return Promise.resolve(this.range);
    if (!this.pendingRange) {
      this.pendingRange = this.discover().then(
        (range) => {
          this.range = range;
          this.pendingRange = undefined;
          return range;
        },
        (error: unknown) => {
          this.pendingRange = undefined;
          throw error;
        },
      );
    }
    return raceSignal(this.pendingRange, signal);
  }

  /**
   * Reads the compute version document: the endpoint itself (`…/v2.1` answers `{"version"}`), then the
   * endpoint cut after its `/v2.1` (a catalog URL may end in a project id), then the root (`{"versions"}`).
   */
  private async discover(): Promise<{ min: Microversion; max: Microversion; chosen: Microversion }> {
    const endpoint = this.session.endpoint(await this.session.token(), 'compute').replace(/\/+$/, '');
    const candidates = [...new Set([endpoint, endpoint.replace(/(\/v2(\.\d+)?)(\/.*)$/, '$1'), `${new URL(endpoint).origin}/`])];
    for (const url of candidates) {
      const answer = await this.session.call({ service: 'compute', method: 'GET', target: () => url, idempotent: true, accept: [300, 404] });
      const range = versionRange(answer.body);
      if (!range) continue;
      const chosen = negotiate(range, this.settings.cap);
      if (!chosen) {
        throw nonRetryable('RSR_CONFIG_INVALID', `the compute API supports ${formatMicroversion(range.min)}–${formatMicroversion(range.max)}; the configured microversion ${formatMicroversion(this.settings.cap)} is below that`, {
          details: { min: formatMicroversion(range.min), max: formatMicroversion(range.max), cap: formatMicroversion(this.settings.cap) },
        });
      }
      this.settings.log?.info({ min: formatMicroversion(range.min), max: formatMicroversion(range.max), microversion: formatMicroversion(chosen) }, `compute API microversion ${formatMicroversion(chosen)}`);
      return { ...range, chosen };
    }
    throw nonRetryable('RSR_CONFIG_INVALID', `no compute API version document found at ${candidates.map(pathOf).join(', ')}: is the compute endpoint a Nova v2.1 API?`, {
      details: { tried: candidates.map(pathOf) },
    });
  }

  // ---- services ------------------------------------------------------------------------------------

  /** nova-compute services, all or of one host. */
  async listServices(host: string | undefined, signal?: AbortSignal): Promise<NovaService[]> {
    return (await this.readServices(host, signal)).services;
  }

  /** The one nova-compute service of `host`, or RSR_CLOUD_NOT_FOUND. */
  async service(host: string, signal?: AbortSignal): Promise<NovaService> {
    return (await this.serviceReading(host, signal)).service;
  }

  /**
   * The one nova-compute service of `host` and when nova-api answered, on its clock (the response's `Date`
   * header; undefined when missing or unreadable), or RSR_CLOUD_NOT_FOUND. The `Date` is nova-api's clock, the
   * clock Nova itself judges `updated_at` against when it reports a service up or down.
   */
  async serviceReading(host: string, signal?: AbortSignal): Promise<{ service: NovaService; observedAt?: IsoTime }> {
    const { services: [found], observedAt } = await this.readServices(host, signal);
    if (!found) {
      throw nonRetryable('RSR_CLOUD_NOT_FOUND', `Compute host ${host} could not be found.`, {
        details: { host, service: 'compute', method: 'GET', path: `/os-services?binary=nova-compute&host=${enc(host)}` },
      });
    }
    return { service: found, ...(observedAt === undefined ? {} : { observedAt }) };
  }

  private async readServices(host: string | undefined, signal?: AbortSignal): Promise<{ services: NovaService[]; observedAt?: IsoTime }> {
    const query = new URLSearchParams({ binary: 'nova-compute', ...(host === undefined ? {} : { host }) });
    const path = `/os-services?${query}`;
    const answer = await this.call({ method: 'GET', target: path, idempotent: true, signal });
    const body = decode(ServicesBody, answer, 'GET', path);
    const observedAt = httpDate(answer.headers.get('date'));
    return {
      services: body.services.filter((s) => s.binary === 'nova-compute' && (host === undefined || s.host === host)),
      ...(observedAt === undefined ? {} : { observedAt }),
    };
  }

  /** ≥ 2.53: `PUT /os-services/{uuid}`; answers the whole service. Setting a state is safe to repeat. */
  async updateService(id: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<NovaService> {
    const answer = await this.call({ method: 'PUT', target: `/os-services/${enc(id)}`, body, idempotent: true, signal });
    return decode(ServiceBody, answer, 'PUT', `/os-services/${id}`).service;
  }

  /** < 2.53: `PUT /os-services/<action>`; the answer is partial, the caller reads the service again. */
  async legacyUpdateService(action: LegacyServiceAction, body: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    await this.call({ method: 'PUT', target: `/os-services/${action}`, body: { binary: 'nova-compute', ...body }, idempotent: true, signal });
  }

  // ---- hosts ---------------------------------------------------------------------------------------

  /** Host aggregates; a compute API without `os-aggregates` (404) has none, with a warning. */
  async listAggregates(signal?: AbortSignal): Promise<NovaAggregate[]> {
    const answer = await this.call({ method: 'GET', target: '/os-aggregates', idempotent: true, accept: [404], signal });
    if (answer.status === 404) {
      if (!this.warnedNoAggregates) this.settings.log?.warn('the compute API has no os-aggregates: hosts are reported without aggregates, tags or reserved flag');
      this.warnedNoAggregates = true;
      return [];
    }
    return decode(AggregatesBody, answer, 'GET', '/os-aggregates').aggregates;
  }

  /** At ≤ 2.87, the last microversion where hypervisors still report vcpus/memory and their usage. */
  async listHypervisors(signal?: AbortSignal): Promise<NovaHypervisor[]> {
    const range = await this.versions(signal);
    const statsVersion = lower(range.chosen, parseMicroversion(MV.hypervisorStats)!);
    const version = atLeast(statsVersion, formatMicroversion(range.min)) ? statsVersion : range.chosen;
    return (await this.get(HypervisorsBody, '/os-hypervisors/detail', signal, version)).hypervisors;
  }

  // ---- servers -------------------------------------------------------------------------------------

  /** Every server on `host` (all projects), following pages by marker. */
  async listServers(host: string, signal?: AbortSignal): Promise<NovaServer[]> {
    const byId = new Map<string, NovaServer>();
    let marker: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const query = new URLSearchParams({ all_tenants: '1', host, limit: String(this.settings.pageSize), ...(marker ? { marker } : {}) });
      const body = await this.get(ServersPage, `/servers/detail?${query}`, signal);
      for (const s of body.servers) byId.set(s.id, s);
      const next = nextMarker(body.servers_links, body.servers.at(-1)?.id);
      if (next === undefined || body.servers.length === 0 || next === marker) break;
      marker = next;
    }
    // The host filter is Nova's; checked again so that a server moving meanwhile is not reported here.
    return [...byId.values()].filter((s) => s['OS-EXT-SRV-ATTR:host'] === host);
  }

  async getServer(id: string, signal?: AbortSignal): Promise<NovaServer> {
    const server = (await this.get(ServerBody, `/servers/${enc(id)}`, signal)).server;
    if (!('OS-EXT-SRV-ATTR:host' in server)) {
      throw nonRetryable('RSR_CLOUD_REJECTED', `server ${id} comes without OS-EXT-SRV-ATTR:host: the cloud's credentials need the admin role`, {
        details: { instance: id, service: 'compute', method: 'GET', path: `/servers/${id}` },
      });
    }
    return server;
  }

  /** The server's flavor: embedded (≥ 2.47), else fetched by id once and kept (flavors never change). */
  async flavor(server: NovaServer, signal?: AbortSignal): Promise<Flavor> {
    const embedded = embeddedFlavor(server);
    if (embedded) return embedded;
    const id = server.flavor && 'id' in server.flavor ? server.flavor.id : undefined;
    if (id === undefined) return { name: '', vcpus: 0, ramMb: 0, extraSpecs: {} };
    let pending = this.flavors.get(id);
    if (!pending) {
      // Shared by the servers of one listing that use the same flavor; forgotten if it fails.
      pending = this.fetchFlavor(id, server.id);
      this.flavors.set(id, pending);
      pending.catch(() => this.flavors.delete(id));
    }
    return raceSignal(pending, signal);
  }

  /** Not tied to one caller's signal: other listings may wait for the same flavor. */
  private async fetchFlavor(id: string, instance: string): Promise<Flavor> {
    const found = await this.call({ method: 'GET', target: `/flavors/${enc(id)}`, idempotent: true, accept: [404] });
    if (found.status === 404) {
      // Not kept: a flavor id can come back (flavors are recreated by name in some clouds).
      this.settings.log?.warn({ flavor: id, instance }, `flavor ${id} of ${instance} is deleted; its size is unknown`);
      this.flavors.delete(id);
      return { name: id, vcpus: 0, ramMb: 0, extraSpecs: {} };
    }
    const body = decode(FlavorBody, found, 'GET', `/flavors/${id}`).flavor;
    const specsAnswer = await this.call({ method: 'GET', target: `/flavors/${enc(id)}/os-extra_specs`, idempotent: true, accept: [404] });
    const specs = specsAnswer.status === 404 ? {} : decode(ExtraSpecsBody, specsAnswer, 'GET', `/flavors/${id}/os-extra_specs`).extra_specs;
    return { name: body.name ?? id, vcpus: body.vcpus, ramMb: body.ram, extraSpecs: Object.fromEntries(Object.entries(specs).map(([k, v]) => [k, String(v)])) };
  }

  // ---- server groups -------------------------------------------------------------------------------

  /**
   * Every server group of every project (`all_projects`, admin), with members. The listing has no links:
   * paged by `limit`/`offset` until an empty page (a page shorter than `limit` may only be Nova's
   * `max_limit`), or a page that brings nothing new (a Nova that ignores `offset`).
   */
  async listServerGroups(signal?: AbortSignal): Promise<NovaServerGroup[]> {
    const byId = new Map<string, NovaServerGroup>();
    let offset = 0;
    for (let page = 0; page < MAX_PAGES; page++) {
      const query = new URLSearchParams({ all_projects: 'True', limit: String(this.settings.pageSize), offset: String(offset) });
      const body = await this.get(ServerGroupsBody, `/os-server-groups?${query}`, signal);
      const before = byId.size;
      for (const g of body.server_groups) byId.set(g.id, g);
      if (body.server_groups.length === 0 || byId.size === before) break;
      offset += body.server_groups.length;
    }
    return [...byId.values()];
  }

  /** `GET /os-server-groups/{id}`; an unknown id is Nova's 404 (RSR_CLOUD_NOT_FOUND). */
  async serverGroup(id: string, signal?: AbortSignal): Promise<NovaServerGroup> {
    return (await this.get(ServerGroupBody, `/os-server-groups/${enc(id)}`, signal)).server_group;
  }

  /** `POST /servers/{id}/action`: sent once, never repeated (it may start work). */
  async serverAction(id: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<HttpAnswer> {
    return this.call({ method: 'POST', target: `/servers/${enc(id)}/action`, body, idempotent: false, signal });
  }

  // ---- migrations ----------------------------------------------------------------------------------

  /**
   * Migration records of one instance (≥ 2.59 paged by marker). Below 2.23 records carry no
   * `migration_type`: the two types recovery cares about are then asked for one at a time with Nova's
   * `migration_type` filter, and typed after the query that found them.
   */
  async listMigrations(instanceId: string, signal?: AbortSignal): Promise<NovaMigration[]> {
    const version = await this.microversion(signal);
    const mine = (m: NovaMigration) => m.instance_uuid === instanceId;
    if (atLeast(version, MV.migrationType)) return this.migrationPages({ instance_uuid: instanceId }, mine, atLeast(version, MV.migrationPaging), signal);
    const typed = await Promise.all((['evacuation', 'live-migration'] as const).map(async (type) =>
      (await this.migrationPages({ instance_uuid: instanceId, migration_type: type }, mine, false, signal)).map((m) => ({ ...m, migration_type: m.migration_type ?? type }))));
    return typed.flat();
  }

  /**
   * Evacuation records from `host` (`source_compute` and `migration_type` filters, the latter honoured at every
   * microversion; records below 2.23 carry no type and are typed after the query, ≥ 2.59 paged by marker).
   */
  async listEvacuationsFrom(host: string, signal?: AbortSignal): Promise<NovaMigration[]> {
    const version = await this.microversion(signal);
    // Checked again: a Nova that ignored a filter must not make another host's records (or a resize) count here.
    const fromHost = (m: NovaMigration) => m.source_compute === host && (m.migration_type ?? 'evacuation') === 'evacuation';
    const records = await this.migrationPages({ source_compute: host, migration_type: 'evacuation' }, fromHost, atLeast(version, MV.migrationPaging), signal);
    return records.map((m) => ({ ...m, migration_type: m.migration_type ?? 'evacuation' }));
  }

  private async migrationPages(filters: Record<string, string>, keep: (m: NovaMigration) => boolean, paged: boolean, signal?: AbortSignal): Promise<NovaMigration[]> {
    const out: NovaMigration[] = [];
    let marker: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const query = new URLSearchParams({
        ...filters,
        ...(paged ? { limit: String(this.settings.pageSize) } : {}),
        ...(marker ? { marker } : {}),
      });
      const body = await this.get(MigrationsPage, `/os-migrations?${query}`, signal);
      out.push(...body.migrations.filter(keep));
      const next = paged ? nextMarker(body.migrations_links, body.migrations.at(-1)?.uuid) : undefined;
      if (next === undefined || body.migrations.length === 0 || next === marker) break;
      marker = next;
    }
    return out;
  }

  // ---- images --------------------------------------------------------------------------------------

  /**
   * Glance `GET /v2/images/{id}` when the catalog has an image service; otherwise Nova's image proxy at
   * 2.35 (the last microversion that has it). 404 ⇒ false; an image that exists but is not `active`
   * (queued, killed, deleted, deactivated…) cannot be rebuilt from ⇒ false.
   */
  async imageExists(imageId: string, signal?: AbortSignal): Promise<boolean> {
    const token = await this.session.token(signal);
    if (this.session.findEndpoint(token, 'image') !== undefined) {
      const answer = await this.session.call({
        service: 'image',
        method: 'GET',
        target: (endpoint) => `${/\/v2(\.\d+)?$/.test(endpoint) ? endpoint : `${endpoint}/v2`}/images/${enc(imageId)}`,
        idempotent: true,
        accept: [404],
        signal,
      });
      if (answer.status === 404) return false;
      const status = (answer.body as { status?: unknown } | undefined)?.status;
      return status === undefined || status === 'active';
    }
    const range = await this.versions(signal);
    const proxy = lower(range.chosen, parseMicroversion(MV.imageProxy)!);
    const answer = await this.call({ method: 'GET', target: `/images/${enc(imageId)}`, idempotent: true, accept: [404], signal }, proxy);
    if (answer.status === 404) return false;
    const status = (answer.body as { image?: { status?: unknown } } | undefined)?.image?.status;
    return status === undefined || (typeof status === 'string' && status.toUpperCase() === 'ACTIVE');
  }

  // ---- plumbing ------------------------------------------------------------------------------------

  private async get<C extends t.Mixed>(codec: C, path: string, signal: AbortSignal | undefined, version?: Microversion): Promise<t.TypeOf<C>> {
    const answer = await this.call({ method: 'GET', target: path, idempotent: true, signal }, version);
    return decode(codec, answer, 'GET', path);
  }

  /** A compute request with the microversion headers (the negotiated one unless `version` is given). */
  private async call(request: Omit<ServiceCall, 'service'>, version?: Microversion): Promise<HttpAnswer> {
    const v = formatMicroversion(version ?? (await this.microversion(request.signal)));
    return this.session.call({
      ...request,
      service: 'compute',
      headers: { ...request.headers, 'openstack-api-version': `compute ${v}`, 'x-openstack-nova-api-version': v },
    });
  }
}

/** The version range of a compute version document; undefined when the body is not one. */
export function versionRange(body: unknown): { min: Microversion; max: Microversion } | undefined {
  const decoded = VersionDocument.decode(body);
  if (isLeft(decoded)) return undefined;
  const doc = decoded.right;
  const entry = 'version' in doc ? doc.version : doc.versions.find((v) => v.id === 'v2.1') ?? doc.versions.find((v) => !!v.version);
  if (!entry) return undefined;
  const max = parseMicroversion(entry.version ?? '');
  const min = parseMicroversion(entry.min_version ?? '') ?? { major: 2, minor: 1 };
  if (max) return { min, max };
  // v2.1 without microversions (very old Nova) speaks 2.1 only; v2.0 is not supported.
  return entry.id === 'v2.1' ? { min, max: { major: 2, minor: 1 } } : undefined;
}

function decode<C extends t.Mixed>(codec: C, answer: HttpAnswer, method: string, path: string): t.TypeOf<C> {
  const decoded = codec.decode(answer.body);
  if (isLeft(decoded)) {
    const problems = describeErrors(decoded.left).slice(0, 5).map((p) => `${p.path}: ${p.message}`).join('; ');
    throw retryable('RSR_DRIVER_UNAVAILABLE', `compute answered ${method} ${path} with a body that cannot be read (${problems})`, {
      details: { service: 'compute', method, path, httpStatus: answer.status, ...(answer.requestId ? { requestId: answer.requestId } : {}) },
    });
  }
  return decoded.right;
}
