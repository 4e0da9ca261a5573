import { createHash } from 'node:crypto';
import type { ComputeService, Host, Instance, Migration, ServerGroupPolicy } from '../../../../domain';
import { VM_STATES, type InstanceActionView, type SimInstanceFault } from '../state';
import { stableUuid } from './ids';
import type { Microversion } from './microversion';

/*
 * Domain records → Nova's JSON, microversion by microversion. Only fields Nova really returns, with Nova's
 * names, types and time formats; values the sim does not model get Nova's neutral defaults.
 */

/** Integer ids (< 2.53) and UUIDs (≥ 2.53) for services and hypervisors, stable for a host name. */
export class HostIds {
  private readonly ints = new Map<string, number>();

  constructor(hostNames: readonly string[]) {
    for (const name of hostNames) this.intId(name);
  }

  intId(host: string): number {
    let id = this.ints.get(host);
    if (id === undefined) this.ints.set(host, (id = this.ints.size + 1));
    return id;
  }

  serviceUuid(host: string): string {
    return stableUuid(`service:${host}`);
  }

  hypervisorUuid(host: string): string {
    return stableUuid(`hypervisor:${host}`);
  }

  /** The host of a service id given in a URL (either form), if any. */
  hostOfService(id: string, hostNames: readonly string[]): string | undefined {
    return hostNames.find((h) => this.serviceUuid(h) === id || String(this.intId(h)) === id);
  }
}

export interface ViewContext {
  readonly mv: Microversion;
  /** http://host:port/compute/v2.1 as the client addressed it. */
  readonly computeUrl: string;
  readonly ids: HostIds;
}

/** Nova's DB time format (services, migrations, instance actions): 2026-01-01T00:00:00.000000. */
export const novaTime = (ms: number): string => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000');
/** Nova's API time format (servers): 2026-01-01T00:00:00Z. */
export const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function serviceJson(s: ComputeService, zone: string, ctx: ViewContext): Record<string, unknown> {
  return {
    id: ctx.mv >= 53 ? ctx.ids.serviceUuid(s.host) : ctx.ids.intId(s.host),
    binary: 'nova-compute',
    disabled_reason: s.disabledReason ?? null,
    host: s.host,
    state: s.state,
    status: s.status,
    updated_at: novaTime(Date.parse(s.updatedAt)),
    zone,
    ...(ctx.mv >= 11 ? { forced_down: s.forcedDown } : {}),
  };
}

export function hypervisorJson(h: Host, service: ComputeService, runningVms: number, servers: readonly { readonly id: string; readonly name: string }[] | undefined, ctx: ViewContext): Record<string, unknown> {
  const json: Record<string, unknown> = {
    id: ctx.mv >= 53 ? ctx.ids.hypervisorUuid(h.name) : ctx.ids.intId(h.name),
    hypervisor_hostname: h.name,
    state: service.state,
    status: service.status,
    hypervisor_type: 'QEMU',
    hypervisor_version: 8002000,
    host_ip: '127.0.0.1',
    service: { host: h.name, id: ctx.mv >= 53 ? ctx.ids.serviceUuid(h.name) : ctx.ids.intId(h.name), disabled_reason: service.disabledReason ?? null },
  };
  if (ctx.mv < 88) {
    Object.assign(json, {
      vcpus: h.vcpus,
      memory_mb: h.ramMb,
      local_gb: 0,
      vcpus_used: h.usedVcpus,
      memory_mb_used: h.usedRamMb,
      local_gb_used: 0,
      free_ram_mb: h.ramMb - h.usedRamMb,
      free_disk_gb: 0,
      current_workload: 0,
      running_vms: runningVms,
      disk_available_least: 0,
      cpu_info: ctx.mv >= 28 ? { arch: 'x86_64', model: 'host-model', vendor: 'Intel', features: [], topology: { cores: 1, sockets: h.vcpus, threads: 1 } } : '{"arch": "x86_64"}',
    });
  } else {
    json.uptime = null;
  }
  if (servers !== undefined) json.servers = servers.map((i) => ({ name: i.name, uuid: i.id }));
  return json;
}

const POWER_STATE: Readonly<Record<Instance['powerState'], number>> = { NOSTATE: 0, RUNNING: 1, PAUSED: 3, SHUTDOWN: 4, CRASHED: 6 };

/** Nova's host_status (≥ 2.16): forced down ⇒ DOWN, disabled ⇒ MAINTENANCE, else UP or UNKNOWN (no heartbeat). */
export function hostStatus(service: ComputeService | undefined): string {
  if (!service) return '';
  if (service.forcedDown) return 'DOWN';
  if (service.status === 'disabled') return 'MAINTENANCE';
  return service.state === 'up' ? 'UP' : 'UNKNOWN';
}

export interface ServerExtras {
  readonly zone: string;
  readonly service: ComputeService | undefined;
  readonly userId: string;
  /** The instance's latest fault, if it has one. */
  readonly fault?: SimInstanceFault | undefined;
}

/** `show` is `GET /servers/{id}`; `detail` is `servers/detail`, which Nova renders without `server_groups`. */
export function serverJson(i: Instance, extras: ServerExtras, ctx: ViewContext, view: 'show' | 'detail' = 'detail'): Record<string, unknown> {
  const base = ctx.computeUrl;
  const bookmark = base.replace(/\/v2\.1$/, '');
  const updated = Date.parse(i.updatedAt);
  const flavor =
    ctx.mv >= 47
      ? { original_name: i.flavor.name, vcpus: i.flavor.vcpus, ram: i.flavor.ramMb, disk: 0, ephemeral: 0, swap: 0, extra_specs: { ...i.flavor.extraSpecs } }
      : { id: i.flavor.name, links: [{ rel: 'bookmark', href: `${bookmark}/flavors/${encodeURIComponent(i.flavor.name)}` }] };
  const image = i.image === '' ? '' : { id: i.image, links: [{ rel: 'bookmark', href: `${bookmark}/images/${encodeURIComponent(i.image)}` }] };
  const json: Record<string, unknown> = {
    id: i.id,
    name: i.name,
    status: i.status,
    tenant_id: i.project,
    user_id: extras.userId,
    metadata: { ...i.metadata },
    hostId: createHash('sha224').update(`${i.project}${i.host}`).digest('hex'),
    image,
    flavor,
    created: isoSeconds(updated),
    updated: isoSeconds(updated),
    addresses: {},
    accessIPv4: '',
    accessIPv6: '',
    links: [
      { rel: 'self', href: `${base}/servers/${i.id}` },
      { rel: 'bookmark', href: `${bookmark}/servers/${i.id}` },
    ],
    key_name: null,
    config_drive: '',
    progress: 0,
    security_groups: [{ name: 'default' }],
    'OS-DCF:diskConfig': 'MANUAL',
    'OS-EXT-AZ:availability_zone': extras.zone,
    'OS-EXT-SRV-ATTR:host': i.host,
    'OS-EXT-SRV-ATTR:hypervisor_hostname': i.host,
    'OS-EXT-SRV-ATTR:instance_name': `instance-${i.id.replace(/-/g, '').slice(0, 8)}`,
    'OS-EXT-STS:vm_state': VM_STATES[i.status],
    'OS-EXT-STS:task_state': i.taskState,
    'OS-EXT-STS:power_state': POWER_STATE[i.powerState],
    'OS-SRV-USG:launched_at': novaTime(updated),
    'OS-SRV-USG:terminated_at': null,
    'os-extended-volumes:volumes_attached':
      i.image === '' ? [{ id: stableUuid(`volume:${i.id}`), ...(ctx.mv >= 3 ? { delete_on_termination: false } : {}) }] : [],
  };
  // Nova shows the latest fault of a server in ERROR (or DELETED); `details` (the traceback of a 500) to admins,
  // which every sim token is.
  if (i.status === 'ERROR' && extras.fault) {
    const { code, message, details, created } = extras.fault;
    json.fault = { code, created: isoSeconds(created), message, ...(details === '' ? {} : { details }) };
  }
  if (ctx.mv >= 9) json.locked = i.locked ?? false;
  if (ctx.mv >= 16) json.host_status = hostStatus(extras.service);
  if (ctx.mv >= 19) json.description = null;
  if (ctx.mv >= 26) json.tags = [];
  if (ctx.mv >= 63) json.trusted_image_certificates = null;
  if (ctx.mv >= 71 && view === 'show') json.server_groups = i.serverGroup ? [i.serverGroup.id] : [];
  if (ctx.mv >= 73) json.locked_reason = null;
  return json;
}

export function briefServerJson(i: Instance, ctx: ViewContext): Record<string, unknown> {
  const bookmark = ctx.computeUrl.replace(/\/v2\.1$/, '');
  return {
    id: i.id,
    name: i.name,
    links: [
      { rel: 'self', href: `${ctx.computeUrl}/servers/${i.id}` },
      { rel: 'bookmark', href: `${bookmark}/servers/${i.id}` },
    ],
  };
}

/** A server group as the sim knows it: from its members' `serverGroup` (the sim has no group records). */
export interface ServerGroupInfo {
  readonly id: string;
  readonly policy: ServerGroupPolicy;
  readonly members: readonly string[];
  /** The project of its first member. */
  readonly project: string;
}

/**
 * `GET /os-server-groups[/{id}]`: `policy` and `rules` ≥ 2.64, `policies: [name]` and an always-empty
 * `metadata` before; `project_id`/`user_id` ≥ 2.13. The sim has no group names: the name is the id.
 */
export function serverGroupJson(g: ServerGroupInfo, userId: string, ctx: ViewContext): Record<string, unknown> {
  const json: Record<string, unknown> = { id: g.id, name: g.id };
  if (ctx.mv >= 64) {
    json.policy = g.policy;
    json.rules = {};
  } else {
    json.policies = [g.policy];
    json.metadata = {};
  }
  json.members = [...g.members];
  if (ctx.mv >= 13) {
    json.project_id = g.project;
    json.user_id = userId;
  }
  return json;
}

const migrationNumber = (m: Migration): number => Number(/(\d+)$/.exec(m.id)?.[1] ?? 0);
export const migrationUuid = (m: Migration): string => stableUuid(`migration:${m.id}`);
const LIVE_IN_PROGRESS = new Set(['queued', 'preparing', 'running', 'post-migrating']);

export function migrationJson(m: Migration, project: string, userId: string, ctx: ViewContext): Record<string, unknown> {
  const created = novaTime(Date.parse(m.createdAt));
  const json: Record<string, unknown> = {
    id: migrationNumber(m),
    instance_uuid: m.instance,
    source_compute: m.source,
    source_node: m.source,
    dest_compute: m.dest,
    dest_node: m.dest,
    dest_host: m.dest === null ? null : '127.0.0.1',
    status: m.status,
    old_instance_type_id: 1,
    new_instance_type_id: 1,
    source_region: 'RegionOne',
    dest_region: 'RegionOne',
    created_at: created,
    updated_at: created,
  };
  if (ctx.mv >= 23) {
    json.migration_type = m.type;
    if (m.type === 'live-migration' && LIVE_IN_PROGRESS.has(m.status)) {
      json.links = [
        { rel: 'self', href: `${ctx.computeUrl}/servers/${m.instance}/migrations/${migrationNumber(m)}` },
        { rel: 'bookmark', href: `${ctx.computeUrl.replace(/\/v2\.1$/, '')}/servers/${m.instance}/migrations/${migrationNumber(m)}` },
      ];
    }
  }
  if (ctx.mv >= 59) json.uuid = migrationUuid(m);
  if (ctx.mv >= 80) {
    json.user_id = userId;
    json.project_id = project;
  }
  return json;
}

export function instanceActionJson(a: InstanceActionView, project: string, userId: string, withEvents: boolean, ctx: ViewContext): Record<string, unknown> {
  const json: Record<string, unknown> = {
    action: a.action,
    instance_uuid: a.instance,
    message: a.message,
    project_id: project,
    request_id: a.requestId,
    start_time: novaTime(a.startTime),
    user_id: userId,
  };
  if (ctx.mv >= 58) json.updated_at = novaTime(a.updatedAt);
  if (withEvents) {
    json.events = a.events.map((e) => {
      const event: Record<string, unknown> = {
        event: e.event,
        start_time: novaTime(e.startTime),
        finish_time: e.finishTime === null ? null : novaTime(e.finishTime),
        result: e.result,
        traceback: null,
      };
      if (ctx.mv >= 62) {
        event.host = e.host ?? 'controller';
        event.hostId = createHash('sha224').update(`${project}${e.host ?? 'controller'}`).digest('hex');
      }
      if (ctx.mv >= 84) event.details = e.result === 'Error' ? 'Error' : null;
      return event;
    });
  }
  return json;
}

export interface FlavorInfo {
  readonly name: string;
  readonly vcpus: number;
  readonly ramMb: number;
  readonly extraSpecs: Readonly<Record<string, string>>;
}

export function flavorJson(f: FlavorInfo, ctx: ViewContext): Record<string, unknown> {
  const bookmark = ctx.computeUrl.replace(/\/v2\.1$/, '');
  const json: Record<string, unknown> = {
    id: f.name,
    name: f.name,
    vcpus: f.vcpus,
    ram: f.ramMb,
    disk: 0,
    'OS-FLV-EXT-DATA:ephemeral': 0,
    'OS-FLV-DISABLED:disabled': false,
    'os-flavor-access:is_public': true,
    swap: ctx.mv >= 75 ? 0 : '',
    rxtx_factor: 1.0,
    links: [
      { rel: 'self', href: `${ctx.computeUrl}/flavors/${encodeURIComponent(f.name)}` },
      { rel: 'bookmark', href: `${bookmark}/flavors/${encodeURIComponent(f.name)}` },
    ],
  };
  if (ctx.mv >= 55) json.description = null;
  if (ctx.mv >= 61) json.extra_specs = { ...f.extraSpecs };
  return json;
}
