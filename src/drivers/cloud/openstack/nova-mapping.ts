/**
 * Nova's JSON (codecs for what the driver reads) and its translation into the domain's shapes. Pure.
 * Codecs are lenient on purpose: optional where a microversion or a policy may leave a field out.
 */
import * as t from 'io-ts';
import { ServerGroupPolicy, type ComputeService, type Flavor, type Host, type HostName, type Instance, type InstanceId, type InstanceStatus, type IsoTime, type Migration, type ServerGroupRef } from '../../../domain';

const nullable = <C extends t.Mixed>(codec: C) => t.union([codec, t.null]);

export const NovaService = t.intersection([
  t.type({ id: t.union([t.string, t.number]), host: t.string, binary: t.string }),
  t.partial({
    zone: nullable(t.string),
    status: t.string,
    state: nullable(t.string),
    disabled_reason: nullable(t.string),
    updated_at: nullable(t.string),
    forced_down: t.boolean,
  }),
], 'NovaService');
export type NovaService = t.TypeOf<typeof NovaService>;
export const ServicesBody = t.type({ services: t.array(NovaService) }, 'ServicesBody');
export const ServiceBody = t.type({ service: NovaService }, 'ServiceBody');

export const NovaAggregate = t.intersection([
  t.type({ name: t.string }),
  t.partial({ hosts: nullable(t.array(t.string)), metadata: nullable(t.record(t.string, t.unknown)), availability_zone: nullable(t.string) }),
], 'NovaAggregate');
export type NovaAggregate = t.TypeOf<typeof NovaAggregate>;
export const AggregatesBody = t.type({ aggregates: t.array(NovaAggregate) }, 'AggregatesBody');

export const NovaHypervisor = t.partial({
  hypervisor_hostname: nullable(t.string),
  service: nullable(t.partial({ host: nullable(t.string) })),
  vcpus: nullable(t.number),
  memory_mb: nullable(t.number),
  vcpus_used: nullable(t.number),
  memory_mb_used: nullable(t.number),
}, 'NovaHypervisor');
export type NovaHypervisor = t.TypeOf<typeof NovaHypervisor>;
export const HypervisorsBody = t.type({ hypervisors: t.array(NovaHypervisor) }, 'HypervisorsBody');

const Link = t.type({ rel: t.string, href: t.string });
export type Link = t.TypeOf<typeof Link>;

/** `flavor` at ≥ 2.47 (embedded); older microversions give `{id, links}` and the flavor is fetched. */
export const EmbeddedFlavor = t.intersection([
  t.type({ vcpus: t.number, ram: t.number }),
  t.partial({ original_name: t.string, extra_specs: nullable(t.record(t.string, t.unknown)) }),
], 'EmbeddedFlavor');
export const FlavorRef = t.type({ id: t.string }, 'FlavorRef');

export const NovaServer = t.intersection([
  t.type({ id: t.string, status: t.string }),
  t.partial({
    name: t.string,
    tenant_id: t.string,
    metadata: nullable(t.record(t.string, t.unknown)),
    updated: t.string,
    'OS-EXT-STS:task_state': nullable(t.string),
    'OS-EXT-STS:power_state': nullable(t.number),
    'OS-EXT-SRV-ATTR:host': nullable(t.string),
    flavor: t.union([EmbeddedFlavor, FlavorRef]),
    image: t.union([t.string, t.null, t.type({ id: t.string })]),
    locked: t.boolean,
    /** ≥ 2.71, and on `GET /servers/{id}` only (not in `servers/detail`): the UUIDs of its groups (at most one). */
    server_groups: nullable(t.array(t.string)),
  }),
], 'NovaServer');
export type NovaServer = t.TypeOf<typeof NovaServer>;
export const ServerBody = t.type({ server: NovaServer }, 'ServerBody');
export const ServersPage = t.intersection([t.type({ servers: t.array(NovaServer) }), t.partial({ servers_links: t.array(Link) })], 'ServersPage');

/** `GET /os-server-groups[/{id}]`: `policy` (and `rules`) ≥ 2.64, `policies: [name]` before. */
export const NovaServerGroup = t.intersection([
  t.type({ id: t.string }),
  t.partial({ name: nullable(t.string), policy: nullable(t.string), policies: nullable(t.array(t.string)), members: nullable(t.array(t.string)), project_id: nullable(t.string) }),
], 'NovaServerGroup');
export type NovaServerGroup = t.TypeOf<typeof NovaServerGroup>;
export const ServerGroupBody = t.type({ server_group: NovaServerGroup }, 'ServerGroupBody');
export const ServerGroupsBody = t.type({ server_groups: t.array(NovaServerGroup) }, 'ServerGroupsBody');

/** `GET /flavors/{id}` (< 2.47 only) and `GET /flavors/{id}/os-extra_specs`. */
export const FlavorBody = t.type({ flavor: t.intersection([t.type({ vcpus: t.number, ram: t.number }), t.partial({ name: t.string })]) }, 'FlavorBody');
export const ExtraSpecsBody = t.type({ extra_specs: t.record(t.string, t.unknown) }, 'ExtraSpecsBody');

export const NovaMigration = t.intersection([
  t.type({ instance_uuid: t.string, status: t.string }),
  t.partial({
    id: t.union([t.number, t.string]),
    uuid: t.string,
    migration_type: t.string,
    source_compute: nullable(t.string),
    dest_compute: nullable(t.string),
    created_at: nullable(t.string),
  }),
], 'NovaMigration');
export type NovaMigration = t.TypeOf<typeof NovaMigration>;
export const MigrationsPage = t.intersection([t.type({ migrations: t.array(NovaMigration) }), t.partial({ migrations_links: t.array(Link) })], 'MigrationsPage');

/** Compute version document: `GET /v2.1` gives `version`, `GET /` gives `versions`. */
const VersionEntry = t.intersection([t.type({ id: t.string }), t.partial({ version: nullable(t.string), min_version: nullable(t.string), status: t.string })]);
export type VersionEntry = t.TypeOf<typeof VersionEntry>;
export const VersionDocument = t.union([t.type({ version: VersionEntry }), t.type({ versions: t.array(VersionEntry) })], 'VersionDocument');

// ---- translation -------------------------------------------------------------------------------------

/**
 * Nova writes most times without a zone (`2026-01-01T10:00:00.000000`) and means UTC; `Date.parse` would
 * read them as local time. Unreadable times become the epoch rather than failing the call.
 */
export function isoTime(text: string | null | undefined): IsoTime {
  if (!text) return new Date(0).toISOString() as IsoTime;
  const zoned = /(Z|[+-]\d\d:?\d\d)$/i.test(text) ? text : `${text}Z`;
  const ms = Date.parse(zoned);
  return new Date(Number.isNaN(ms) ? 0 : ms).toISOString() as IsoTime;
}

const strings = (record: Record<string, unknown> | null | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(record ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));

export function toService(s: NovaService): ComputeService {
  return {
    host: s.host as HostName,
    // ≥ 2.69 a service in an unreachable cell has no state: it cannot be shown up.
    state: s.state === 'up' ? 'up' : 'down',
    status: s.status === 'disabled' ? 'disabled' : 'enabled',
    forcedDown: s.forced_down ?? false,
    updatedAt: isoTime(s.updated_at),
    ...(s.disabled_reason ? { disabledReason: s.disabled_reason } : {}),
  };
}

export interface HostRules {
  /** Aggregate metadata key whose value `true` marks the aggregate's hosts as reserved spares. */
  readonly reservedKey: string;
}

/**
 * Hosts are the nova-compute services. Zone from the service; aggregates by name; tags are the aggregate
 * metadata keys set to `true` (InstanceHA's `evacuable=true` style) on any of the host's aggregates;
 * capacity and usage are summed over the host's hypervisors (nodes).
 */
export function toHosts(services: readonly NovaService[], aggregates: readonly NovaAggregate[], hypervisors: readonly NovaHypervisor[], rules: HostRules): Host[] {
  const seen = new Map<string, NovaService>();
  for (const s of services) if (s.binary === 'nova-compute' && !seen.has(s.host)) seen.set(s.host, s);
  return [...seen.values()].sort((a, b) => a.host.localeCompare(b.host)).map((s) => {
    const mine = aggregates.filter((a) => (a.hosts ?? []).includes(s.host));
    const tags = new Set<string>();
    for (const a of mine) for (const [key, value] of Object.entries(a.metadata ?? {})) if (isTrue(value)) tags.add(key);
    const nodes = hypervisors.filter((h) => h.service?.host === s.host);
    const sum = (field: 'vcpus' | 'memory_mb' | 'vcpus_used' | 'memory_mb_used') => nodes.reduce((n, h) => n + (h[field] ?? 0), 0);
    return {
      name: s.host as HostName,
      zone: s.zone ?? '',
      aggregates: mine.map((a) => a.name),
      tags: [...tags].sort(),
      vcpus: sum('vcpus'),
      ramMb: sum('memory_mb'),
      usedVcpus: sum('vcpus_used'),
      usedRamMb: sum('memory_mb_used'),
      reserved: tags.has(rules.reservedKey),
    };
  });
}

const isTrue = (value: unknown): boolean => value === true || (typeof value === 'string' && /^(true|yes|1)$/i.test(value.trim()));
const isFalse = (value: unknown): boolean => value === false || (typeof value === 'string' && /^(false|no|0)$/i.test(value.trim()));

const STATUSES: readonly InstanceStatus[] = ['ACTIVE', 'SHUTOFF', 'ERROR', 'REBUILD', 'MIGRATING', 'BUILD', 'REBOOT', 'HARD_REBOOT', 'PAUSED'];
/** Nova's numeric power states; 7 SUSPENDED and anything unknown read as NOSTATE (no claim either way). */
const POWER_STATES: Record<number, Instance['powerState']> = { 0: 'NOSTATE', 1: 'RUNNING', 3: 'PAUSED', 4: 'SHUTDOWN', 6: 'CRASHED' };

export interface SharedStorageRule {
  /** Server metadata key, then flavor extra spec of the same name: `true`/`false`. */
  readonly key: string;
  /** When neither says and the server has an image (not boot-from-volume). */
  readonly default: boolean;
}

/**
 * Nova does not expose whether an instance's disk is on shared storage (it detects it itself at evacuate
 * time, ≥ 2.14). The rule: the server's metadata `key` (`true`/`false`), else the flavor's extra spec `key`,
 * else boot-from-volume ⇒ shared (the root disk is a volume and survives), else `default`.
 */
export function sharedStorage(metadata: Record<string, string>, extraSpecs: Record<string, string>, image: string, rule: SharedStorageRule): boolean {
  for (const value of [metadata[rule.key], extraSpecs[rule.key]]) {
    if (isTrue(value)) return true;
    if (isFalse(value)) return false;
  }
  return image === '' ? true : rule.default;
}

export function imageOf(server: NovaServer): string {
  const image = server.image;
  return image && typeof image === 'object' ? image.id : '';
}

/** The embedded flavor (≥ 2.47); undefined when the server only references one by id. */
export function embeddedFlavor(server: NovaServer): Flavor | undefined {
  const f = server.flavor;
  if (!f || !('vcpus' in f)) return undefined;
  return { name: f.original_name ?? '', vcpus: f.vcpus, ramMb: f.ram, extraSpecs: strings(f.extra_specs) };
}

/** The group's id and policy; undefined when the policy is none the domain knows (a policy Nova adds later). */
export function toServerGroupRef(group: NovaServerGroup): ServerGroupRef | undefined {
  const policy = group.policy ?? group.policies?.[0];
  return ServerGroupPolicy.is(policy) ? { id: group.id, policy } : undefined;
}

export function toInstance(server: NovaServer, flavor: Flavor, rule: SharedStorageRule, serverGroup?: ServerGroupRef): Instance {
  const metadata = strings(server.metadata);
  const image = imageOf(server);
  const power = server['OS-EXT-STS:power_state'];
  return {
    id: server.id as InstanceId,
    name: server.name ?? '',
    host: (server['OS-EXT-SRV-ATTR:host'] ?? '') as HostName,
    project: server.tenant_id ?? '',
    status: (STATUSES as readonly string[]).includes(server.status) ? (server.status as InstanceStatus) : 'UNKNOWN',
    taskState: server['OS-EXT-STS:task_state'] ?? null,
    powerState: (power === null || power === undefined ? undefined : POWER_STATES[power]) ?? 'NOSTATE',
    flavor: { name: flavor.name, vcpus: flavor.vcpus, ramMb: flavor.ramMb, extraSpecs: { ...flavor.extraSpecs } },
    image,
    metadata,
    sharedStorage: sharedStorage(metadata, flavor.extraSpecs, image, rule),
    updatedAt: isoTime(server.updated),
    ...(server.locked === undefined ? {} : { locked: server.locked }),
    ...(serverGroup === undefined ? {} : { serverGroup: { id: serverGroup.id, policy: serverGroup.policy } }),
  };
}

const MIGRATION_TYPES: Record<string, Migration['type']> = { evacuation: 'evacuation', 'live-migration': 'live-migration' };
/**
 * Nova's migration statuses onto the domain's. Live migrations pass through queued/preparing/running/
 * post-migrating; anything not known is read as still running, so that nothing is issued twice.
 */
const MIGRATION_STATUSES: Record<string, Migration['status']> = {
  accepted: 'accepted',
  'pre-migrating': 'pre-migrating',
  running: 'running',
  done: 'done',
  completed: 'completed',
  error: 'error',
  failed: 'failed',
  queued: 'accepted',
  preparing: 'pre-migrating',
  migrating: 'running',
  'post-migrating': 'running',
  cancelling: 'running',
  cancelled: 'failed',
};

/** Evacuations and live migrations only (resizes and cold migrations are no recovery), newest first. */
export function toMigrations(records: readonly NovaMigration[]): Migration[] {
  const kept = records.filter((m) => m.migration_type !== undefined && m.migration_type in MIGRATION_TYPES);
  const numericId = (m: NovaMigration) => (typeof m.id === 'number' ? m.id : Number.NaN);
  const sorted = kept
    .map((m, order) => ({ m, order, at: Date.parse(isoTime(m.created_at)) }))
    // Newest first; Nova's own tie-break is the id, descending (NaN for uuids: keep the order given).
    .sort((a, b) => b.at - a.at || numericId(b.m) - numericId(a.m) || a.order - b.order);
  return sorted.map(({ m }) => ({
    id: m.uuid ?? String(m.id ?? ''),
    instance: m.instance_uuid as InstanceId,
    type: MIGRATION_TYPES[m.migration_type!]!,
    source: (m.source_compute ?? '') as HostName,
    dest: (m.dest_compute ?? null) as HostName | null,
    status: MIGRATION_STATUSES[m.status] ?? 'running',
    createdAt: isoTime(m.created_at),
  }));
}

/**
 * Where the next page starts: undefined on the last page (no `next` link), else the link's `marker`, or
 * the last item's id when the link has none.
 */
export function nextMarker(links: readonly Link[] | undefined, lastId: string | undefined): string | undefined {
  const next = links?.find((l) => l.rel === 'next');
  if (!next) return undefined;
  try {
    return new URL(next.href, 'http://placeholder').searchParams.get('marker') ?? lastId;
  } catch {
    return lastId;
  }
}
