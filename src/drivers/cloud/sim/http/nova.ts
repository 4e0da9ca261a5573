import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ComputeService, Instance, Migration } from '../../../../domain';
import { toResurrectError } from '../../../../domain';
import type { SimWorld } from '../world';
import { describeFailure, HttpFault, novaFaultBody } from './errors';
import { isUuidLike } from './ids';
import { header, type Keystone, type TokenContext } from './keystone';
import { MAX_MICROVERSION, MIN_MICROVERSION, microversionHeaders, requestedMicroversion, versionString, type Microversion } from './microversion';
import {
  briefServerJson,
  flavorJson,
  HostIds,
  hypervisorJson,
  instanceActionJson,
  migrationJson,
  migrationUuid,
  serverGroupJson,
  serverJson,
  serviceJson,
  type FlavorInfo,
  type ServerGroupInfo,
  type ServerExtras,
  type ViewContext,
} from './nova-views';

/*
 * Nova's compute API (the subset recovery uses) over a SimWorld. The HTTP layer validates what Nova's
 * schemas and handlers validate (bodies per microversion, ids, the checks done before the compute API is
 * called), then calls the world's SimNova, which applies Nova's rules, latency, faults and counters, and
 * renders the answer as Nova does. It decides nothing the sim decides.
 */

export interface NovaRouteOptions {
  readonly world: SimWorld;
  readonly keystone: Keystone;
  readonly log: Logger;
}

interface NovaContext {
  readonly mv: Microversion;
  readonly token: TokenContext;
}

type Query = Record<string, string | string[] | undefined>;
type Req = FastifyRequest<{ Params: Record<string, string>; Querystring: Query; Body: unknown }>;

const MAX_LIMIT = 1000;
const VERSION_UPDATED = '2013-07-23T11:33:21Z';

export function novaRoutes(options: NovaRouteOptions) {
  const { world, keystone } = options;
  const contexts = new WeakMap<FastifyRequest, NovaContext>();
  const ids = new HostIds(world.hostNames());

  const computeUrl = (request: FastifyRequest) => `http://${request.headers.host ?? '127.0.0.1'}/compute/v2.1`;
  const ctxOf = (request: FastifyRequest): NovaContext => {
    const ctx = contexts.get(request);
    if (!ctx) throw new HttpFault(500, 'no request context');
    return ctx;
  };
  const view = (request: FastifyRequest): ViewContext => ({ mv: ctxOf(request).mv, computeUrl: computeUrl(request), ids });

  /** Aborts the sim call when the client goes away, so a queued call gives its slot back. */
  const signalOf = (reply: FastifyReply): AbortSignal => {
    const controller = new AbortController();
    reply.raw.once('close', () => controller.abort(new Error('client disconnected')));
    return controller.signal;
  };

  const versionDoc = (request: FastifyRequest) => ({
    id: 'v2.1',
    status: 'CURRENT',
    version: versionString(MAX_MICROVERSION),
    min_version: versionString(MIN_MICROVERSION),
    updated: VERSION_UPDATED,
    links: [
      { rel: 'self', href: `${computeUrl(request)}/` },
      { rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' },
    ],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
  });

  /** Extra, uncounted facts about hosts for views (zone, service), cached for one request. */
  const hostFacts = () => {
    const cache = new Map<string, { zone: string; service: ComputeService } | undefined>();
    return (host: string) => {
      if (!cache.has(host)) {
        try {
          const state = world.hostState(host);
          cache.set(host, { zone: state.zone, service: state.service });
        } catch {
          cache.set(host, undefined);
        }
      }
      return cache.get(host);
    };
  };

  const serverExtras = (facts: ReturnType<typeof hostFacts>, i: Instance): ServerExtras => {
    const f = facts(i.host);
    const fault = i.status === 'ERROR' ? faultOf(i.id) : undefined;
    return { zone: f?.zone ?? 'nova', service: f?.service, userId: keystone.userId, fault };
  };

  /** The instance's latest fault (an uncounted look at the world, as the view reads Nova's instance_faults). */
  const faultOf = (id: string) => {
    try {
      return world.instanceState(id).fault;
    } catch {
      return undefined;
    }
  };

  return async (app: FastifyInstance): Promise<void> => {
    // ---- pipeline: token, then microversion; Nova faults for every error ----------------------------

    app.addHook('onRequest', async (request, reply) => {
      const route = request.routeOptions.url;
      // Version documents need no token; unknown routes are the not-found handler's.
      if (route === undefined || !route.startsWith('/compute/v2.1/')) return;
      const token = keystone.validate(header(request, 'x-auth-token'));
      const mv = requestedMicroversion(request.headers);
      contexts.set(request, { mv, token });
      reply.headers(microversionHeaders(mv));
    });

    // Nova's Date is the world's clock, not Node's: the clock of every `updated_at` served here (a manual or
    // offset clock in tests, the wall clock under `sim serve`), as a real nova-api's Date and its database's
    // times are one clock. Errors and version documents included. (Keystone's is the wall clock, its tokens'.)
    app.addHook('onSend', async (_request, reply) => {
      reply.header('date', new Date(world.clock.now()).toUTCString());
    });

    app.setErrorHandler((error, request, reply) => {
      const { status, message, headers } = describeFailure(error);
      if (status >= 500 && !(error instanceof HttpFault)) options.log.debug({ err: toResurrectError(error).message, url: request.url }, 'sim nova answers an error');
      reply.headers(headers);
      if (status === 401) return reply.code(401).send({ error: { code: 401, title: 'Unauthorized', message } });
      return reply.code(status).send(novaFaultBody(status, message));
    });

    app.setNotFoundHandler((request, reply) => {
      if (request.url.startsWith('/compute/v2.1/')) {
        try {
          keystone.validate(header(request, 'x-auth-token'));
        } catch (error) {
          const { status, message, headers } = describeFailure(error);
          return reply.code(status).headers(headers).send({ error: { code: status, title: 'Unauthorized', message } });
        }
      }
      return reply.code(404).send(novaFaultBody(404, 'The resource could not be found.'));
    });

    // ---- version documents (no token) -----------------------------------------------------------------

    const versions = async (request: FastifyRequest) => ({
      versions: [
        { id: 'v2.0', status: 'DEPRECATED', version: '', min_version: '', updated: '2025-07-04T12:00:00Z', links: [{ rel: 'self', href: `http://${request.headers.host ?? '127.0.0.1'}/compute/v2/` }] },
        { ...versionDoc(request), 'media-types': undefined },
      ].map((v) => JSON.parse(JSON.stringify(v)) as unknown),
    });
    app.get('/', versions);
    app.get('/v2.1', async (request) => ({ version: versionDoc(request) }));

    // ---- os-services ------------------------------------------------------------------------------------

    app.get('/v2.1/os-services', async (request: Req, reply) => {
      const ctx = view(request);
      const binary = q(request.query, 'binary');
      const host = q(request.query, 'host');
      if (binary !== undefined && binary !== 'nova-compute') return { services: [] };
      const services = host === undefined ? await world.nova.listServices(signalOf(reply)) : await oneOrNone(world.nova.getService(host, signalOf(reply)));
      const facts = hostFacts();
      return { services: services.map((s) => serviceJson(s, facts(s.host)?.zone ?? 'nova', ctx)) };
    });

    app.put('/v2.1/os-services/:id', async (request: Req, reply) => {
      const ctx = view(request);
      const id = request.params.id ?? '';
      if (ctx.mv >= 53) return { service: await updateService253(id, request.body, ctx, signalOf(reply)) };
      return { service: await updateServiceLegacy(id, request.body, ctx, signalOf(reply)) };
    });

    async function updateService253(id: string, body: unknown, ctx: ViewContext, signal: AbortSignal): Promise<Record<string, unknown>> {
      if (!isUuidLike(id)) throw new HttpFault(400, `Invalid uuid ${id}`);
      const fields = schemaObject('body', body, { status: 'enum:enabled,disabled', disabled_reason: 'reason', forced_down: 'bool' }, []);
      const host = ids.hostOfService(id, world.hostNames());
      if (host === undefined || ids.serviceUuid(host) !== id) throw new HttpFault(404, `Service ${id} could not be found.`);
      // Only nova-compute services exist in the sim: the "Updating a <binary> service is not supported" 400
      // cannot arise.
      if (fields.status === 'enabled' && fields.disabled_reason !== undefined) {
        throw new HttpFault(400, "Specifying 'disabled_reason' with status 'enabled' is invalid.");
      }
      if (fields.status === undefined && fields.forced_down === undefined) {
        throw new HttpFault(400, "No updates were requested. Fields 'status' or 'forced_down' should be specified.");
      }
      // forced_down first: it is the part that can be refused (evacuations not cleaned up), and Nova saves
      // nothing when it is.
      let service: ComputeService | undefined;
      if (fields.forced_down !== undefined) service = await world.nova.setServiceForcedDown(host, fields.forced_down as boolean, signal);
      if (fields.status !== undefined) {
        service = await world.nova.setServiceEnabled(host, fields.status === 'enabled', fields.disabled_reason as string | undefined, signal);
      }
      return serviceJson(service!, zoneOf(host), ctx);
    }

    async function updateServiceLegacy(action: string, body: unknown, ctx: ViewContext, signal: AbortSignal): Promise<Record<string, unknown>> {
      const known = ['enable', 'disable', 'disable-log-reason', ...(ctx.mv >= 11 ? ['force-down'] : [])];
      if (!known.includes(action)) throw new HttpFault(404, 'Unknown action');
      const spec: Record<string, string> = { host: 'hostname', binary: 'string' };
      if (action === 'disable-log-reason') spec.disabled_reason = 'reason';
      if (action === 'force-down') spec.forced_down = 'bool';
      const fields = schemaObject('body', body, spec, Object.keys(spec));
      const host = fields.host as string;
      const binary = fields.binary as string;
      if (binary !== 'nova-compute' || !world.hostNames().includes(host)) throw new HttpFault(404, `Could not find binary ${binary} on host ${host}.`);
      switch (action) {
        case 'enable':
          await world.nova.setServiceEnabled(host, true, undefined, signal);
          return { host, binary, status: 'enabled' };
        case 'disable':
          await world.nova.setServiceEnabled(host, false, undefined, signal);
          return { host, binary, status: 'disabled' };
        case 'disable-log-reason': {
          const reason = fields.disabled_reason as string;
          await world.nova.setServiceEnabled(host, false, reason, signal);
          return { host, binary, status: 'disabled', disabled_reason: reason };
        }
        default: {
          const forced = fields.forced_down as boolean;
          await world.nova.setServiceForcedDown(host, forced, signal);
          return { host, binary, forced_down: forced };
        }
      }
    }

    const zoneOf = (host: string): string => {
      try {
        return world.hostState(host).zone;
      } catch {
        return 'nova';
      }
    };

    // ---- os-hypervisors ---------------------------------------------------------------------------------

    const hypervisors = async (request: Req, reply: FastifyReply, detail: boolean) => {
      const ctx = view(request);
      const pattern = ctx.mv >= 53 ? q(request.query, 'hypervisor_hostname_pattern') : undefined;
      const withServers = ctx.mv >= 53 && parseBoolParam('with_servers', q(request.query, 'with_servers')) === true;
      const hosts = (await world.nova.listHosts(signalOf(reply))).filter((h) => pattern === undefined || h.name.includes(pattern));
      if (pattern !== undefined && hosts.length === 0) throw new HttpFault(404, `No hypervisor matching '${pattern}' could be found.`);
      const facts = hostFacts();
      const list = hosts.map((h) => {
        const service = facts(h.name)!.service;
        const servers = withServers ? world.instanceIds(h.name).map((id) => ({ id, name: world.instanceState(id).name })) : undefined;
        const full = hypervisorJson(h, service, world.instanceIds(h.name).length, servers, ctx);
        if (detail) return full;
        return { id: full.id, hypervisor_hostname: full.hypervisor_hostname, state: full.state, status: full.status, ...(servers ? { servers: full.servers } : {}) };
      });
      return { hypervisors: list };
    };
    app.get('/v2.1/os-hypervisors/detail', (request: Req, reply) => hypervisors(request, reply, true));
    app.get('/v2.1/os-hypervisors', (request: Req, reply) => hypervisors(request, reply, false));

    // ---- servers ----------------------------------------------------------------------------------------

    const listServers = async (request: Req, reply: FastifyReply, detail: boolean) => {
      const ctx = view(request);
      const { token } = ctxOf(request);
      const query = request.query;
      const allTenants = parseBoolParam('all_tenants', q(query, 'all_tenants'), true) === true;
      const host = q(query, 'host') ?? q(query, 'node');
      const instances = host === undefined ? await world.nova.listAllInstances(signalOf(reply)) : await oneOrNone(world.nova.listInstances(host, signalOf(reply)));
      const project = allTenants ? (q(query, 'project_id') ?? q(query, 'tenant_id')) : undefined;
      const status = q(query, 'status')?.toUpperCase();
      const name = q(query, 'name');
      let nameRe: RegExp | undefined;
      if (name !== undefined) {
        try {
          nameRe = new RegExp(name);
        } catch {
          throw new HttpFault(400, `Invalid regular expression for name: ${name}`);
        }
      }
      const filtered = instances.filter(
        (i) =>
          (allTenants ? project === undefined || i.project === project : i.project === token.projectName || i.project === token.projectId) &&
          (status === undefined || i.status === status) &&
          (nameRe === undefined || nameRe.test(i.name)),
      );
      const { items, more } = paginate(filtered, (i) => i.id, q(query, 'limit'), q(query, 'marker'));
      const facts = hostFacts();
      const servers = items.map((i) => (detail ? serverJson(i, serverExtras(facts, i), ctx) : briefServerJson(i, ctx)));
      const links = more ? { servers_links: [{ rel: 'next', href: nextLink(ctx.computeUrl, detail ? '/servers/detail' : '/servers', query, items[items.length - 1]!.id) }] } : {};
      return { servers, ...links };
    };
    app.get('/v2.1/servers/detail', (request: Req, reply) => listServers(request, reply, true));
    app.get('/v2.1/servers', (request: Req, reply) => listServers(request, reply, false));

    app.get('/v2.1/servers/:id', async (request: Req, reply) => {
      const instance = await world.nova.getInstance(request.params.id ?? '', signalOf(reply));
      return { server: serverJson(instance, serverExtras(hostFacts(), instance), view(request), 'show') };
    });

    app.post('/v2.1/servers/:id/action', async (request: Req, reply) => {
      const id = request.params.id ?? '';
      const body = request.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body) || Object.keys(body).length !== 1) throw new HttpFault(400, 'Malformed request body');
      const [name, value] = Object.entries(body)[0] as [string, unknown];
      const ctx = view(request);
      const signal = signalOf(reply);
      const accepted = (requestId: string, code: number, payload?: unknown) => {
        reply.header('x-openstack-request-id', requestId).code(code);
        return payload === undefined ? reply.send() : reply.send(payload);
      };
      switch (name) {
        case 'evacuate':
          return evacuate(id, value, ctx, signal, accepted);
        case 'os-migrateLive': {
          const spec: Record<string, string> = ctx.mv >= 25 ? { block_migration: 'bool-or-auto', host: 'hostname-or-null' } : { block_migration: 'bool', disk_over_commit: 'bool', host: 'hostname-or-null' };
          if (ctx.mv >= 30 && ctx.mv < 68) spec.force = 'bool';
          const fields = schemaObject(name, value, spec, ctx.mv >= 25 ? ['block_migration', 'host'] : ['block_migration', 'disk_over_commit', 'host']);
          const host = (fields.host as string | null) ?? undefined;
          if (fields.force === true && host === undefined) throw new HttpFault(400, "Can't force to a non-provided destination");
          try {
            const { requestId } = await world.nova.liveMigrate(id, host, signal);
            return accepted(requestId, 202);
          } catch (error) {
            // Nova's live-migrate handler answers an unknown destination with 400, not 404.
            const e = toResurrectError(error);
            if (e.code === 'RSR_CLOUD_NOT_FOUND' && e.details.host !== undefined) throw new HttpFault(400, `Compute host ${host} could not be found.`);
            throw error;
          }
        }
        case 'os-start':
          return accepted((await world.nova.startInstance(id, signal)).requestId, 202);
        case 'os-stop':
          return accepted((await world.nova.stopInstance(id, signal)).requestId, 202);
        case 'reboot': {
          const fields = schemaObject(name, value, { type: 'enum:HARD,Hard,hard,SOFT,Soft,soft' }, ['type']);
          const type = String(fields.type).toUpperCase() === 'HARD' ? 'HARD' : 'SOFT';
          return accepted((await world.nova.rebootInstance(id, type, signal)).requestId, 202);
        }
        case 'os-resetState': {
          const fields = schemaObject(name, value, { state: 'enum:active,error' }, ['state']);
          return accepted((await world.nova.resetState(id, fields.state as 'active' | 'error', signal)).requestId, 202);
        }
        default:
          throw new HttpFault(400, `There is no such action: ${name}`);
      }
    });

    async function evacuate(id: string, value: unknown, ctx: ViewContext, signal: AbortSignal, accepted: (requestId: string, code: number, payload?: unknown) => FastifyReply) {
      const spec: Record<string, string> = { host: 'hostname', adminPass: 'string' };
      if (ctx.mv < 14) spec.onSharedStorage = 'bool';
      if (ctx.mv >= 29 && ctx.mv < 68) spec.force = 'bool';
      const fields = schemaObject('evacuate', value, spec, ctx.mv < 14 ? ['onSharedStorage'] : []);
      const host = fields.host as string | undefined;
      const exists = world.instanceIds().includes(id);
      // Checks Nova makes in the API handler once the server is known (a missing server is the sim's 404).
      let password: string | null = null;
      if (exists && ctx.mv < 14) {
        const shared = fields.onSharedStorage as boolean;
        if (fields.adminPass !== undefined && shared) throw new HttpFault(400, "admin password can't be changed on existing disk");
        password = (fields.adminPass as string | undefined) ?? (shared ? null : generatePassword());
      }
      if (exists && fields.force === true && host === undefined) throw new HttpFault(400, "Can't force to a non-provided destination");
      let requestId: string;
      try {
        ({ requestId } = await world.nova.evacuate(id, host, signal, { stopOnDestination: ctx.mv >= 95 }));
      } catch (error) {
        const e = toResurrectError(error);
        if (e.code === 'RSR_CLOUD_NOT_FOUND' && e.details.host !== undefined) throw new HttpFault(404, `Compute host ${host} not found.`);
        throw error;
      }
      return ctx.mv < 14 ? accepted(requestId, 200, { adminPass: password }) : accepted(requestId, 200);
    }

    // ---- instance actions -------------------------------------------------------------------------------

    app.get('/v2.1/servers/:id/os-instance-actions', async (request: Req, reply) => {
      const ctx = view(request);
      const id = request.params.id ?? '';
      const actions = await world.nova.listInstanceActions(id, signalOf(reply));
      const project = world.instanceState(id).project;
      const paged = ctx.mv >= 58 ? paginate(actions, (a) => a.requestId, q(request.query, 'limit'), q(request.query, 'marker')) : { items: actions, more: false };
      const list = paged.items.map((a) => instanceActionJson(a, project, keystone.userId, false, ctx));
      const links = paged.more ? { links: [{ rel: 'next', href: nextLink(ctx.computeUrl, `/servers/${id}/os-instance-actions`, request.query, paged.items[paged.items.length - 1]!.requestId) }] } : {};
      return { instanceActions: list, ...links };
    });

    app.get('/v2.1/servers/:id/os-instance-actions/:requestId', async (request: Req, reply) => {
      const ctx = view(request);
      const id = request.params.id ?? '';
      const requestId = request.params.requestId ?? '';
      const action = (await world.nova.listInstanceActions(id, signalOf(reply))).find((a) => a.requestId === requestId);
      if (!action) throw new HttpFault(404, `Action for request_id ${requestId} on instance ${id} not found`);
      return { instanceAction: instanceActionJson(action, world.instanceState(id).project, keystone.userId, true, ctx) };
    });

    // ---- os-migrations ----------------------------------------------------------------------------------

    app.get('/v2.1/os-migrations', async (request: Req, reply) => {
      const ctx = view(request);
      const query = request.query;
      const instance = q(query, 'instance_uuid');
      const type = q(query, 'migration_type');
      const source = q(query, 'source_compute');
      // Nova filters in its database; the sim asks the narrowest call (so the counters name it), then filters the rest.
      const all = instance !== undefined
        ? await oneOrNone(world.nova.listMigrations(instance, signalOf(reply)))
        : source !== undefined && type === 'evacuation'
          ? await oneOrNone(world.nova.listEvacuations(source, signalOf(reply)))
          : await world.nova.listAllMigrations(signalOf(reply));
      const dest = q(query, 'dest_compute');
      const status = q(query, 'status');
      const host = q(query, 'host');
      const filtered = all.filter(
        (m: Migration) =>
          (type === undefined || m.type === type) &&
          (source === undefined || m.source === source) &&
          (dest === undefined || m.dest === dest) &&
          (status === undefined || m.status === status) &&
          (host === undefined || m.source === host || m.dest === host),
      );
      const paged = ctx.mv >= 59 ? paginate(filtered, migrationUuid, q(query, 'limit'), q(query, 'marker')) : { items: filtered, more: false };
      const projectOf = (m: Migration) => {
        try {
          return world.instanceState(m.instance).project;
        } catch {
          return '';
        }
      };
      const migrations = paged.items.map((m) => migrationJson(m, projectOf(m), keystone.userId, ctx));
      const links = paged.more ? { migrations_links: [{ rel: 'next', href: nextLink(ctx.computeUrl, '/os-migrations', query, migrationUuid(paged.items[paged.items.length - 1]!)) }] } : {};
      return { migrations, ...links };
    });

    // ---- os-server-groups (those the instances belong to: the sim has no group records) -----------------

    const serverGroups = (): ServerGroupInfo[] => {
      const byId = new Map<string, { policy: ServerGroupInfo['policy']; members: string[]; project: string }>();
      for (const id of world.instanceIds()) {
        const i = world.instanceState(id);
        if (!i.serverGroup) continue;
        const group = byId.get(i.serverGroup.id);
        if (group) group.members.push(id);
        else byId.set(i.serverGroup.id, { policy: i.serverGroup.policy, members: [id], project: i.project });
      }
      return [...byId.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([id, g]) => ({ id, ...g }));
    };

    // Nova lists the groups of the token's project; `all_projects` (any value, admin) lists every project's.
    // `limit` (capped at max_limit) and `offset`; no links.
    app.get('/v2.1/os-server-groups', async (request: Req) => {
      const ctx = view(request);
      const { token } = ctxOf(request);
      const query = request.query;
      const all = query !== undefined && 'all_projects' in query;
      const groups = serverGroups().filter((g) => all || g.project === token.projectName || g.project === token.projectId);
      const limit = nonNegative('limit', q(query, 'limit')) || MAX_LIMIT;
      const offset = nonNegative('offset', q(query, 'offset'));
      return { server_groups: groups.slice(offset, offset + Math.min(limit, MAX_LIMIT)).map((g) => serverGroupJson(g, keystone.userId, ctx)) };
    });

    app.get('/v2.1/os-server-groups/:id', async (request: Req) => {
      const id = request.params.id ?? '';
      const group = serverGroups().find((g) => g.id === id);
      if (!group) throw new HttpFault(404, `Instance group ${id} could not be found.`);
      return { server_group: serverGroupJson(group, keystone.userId, view(request)) };
    });

    // ---- flavors (those the instances use: the sim has no flavor catalog) --------------------------------

    const flavors = (): FlavorInfo[] => {
      const byName = new Map<string, FlavorInfo>();
      for (const id of world.instanceIds()) {
        const f = world.instanceState(id).flavor;
        if (!byName.has(f.name)) byName.set(f.name, { name: f.name, vcpus: f.vcpus, ramMb: f.ramMb, extraSpecs: f.extraSpecs });
      }
      return [...byName.values()].sort((a, b) => a.ramMb - b.ramMb || a.name.localeCompare(b.name));
    };
    app.get('/v2.1/flavors/detail', async (request: Req) => ({ flavors: flavors().map((f) => flavorJson(f, view(request))) }));
    app.get('/v2.1/flavors', async (request: Req) => ({
      flavors: flavors().map((f) => {
        const full = flavorJson(f, view(request));
        return { id: full.id, name: full.name, links: full.links, ...(view(request).mv >= 55 ? { description: null } : {}) };
      }),
    }));
    app.get('/v2.1/flavors/:id/os-extra_specs', async (request: Req) => {
      const flavor = flavors().find((f) => f.name === request.params.id);
      if (!flavor) throw new HttpFault(404, `Flavor ${request.params.id ?? ''} could not be found.`);
      return { extra_specs: { ...flavor.extraSpecs } };
    });
    app.get('/v2.1/flavors/:id', async (request: Req) => {
      const flavor = flavors().find((f) => f.name === request.params.id);
      if (!flavor) throw new HttpFault(404, `Flavor ${request.params.id ?? ''} could not be found.`);
      return { flavor: flavorJson(flavor, view(request)) };
    });
  };
}

// ---- helpers ----------------------------------------------------------------------------------------------

function q(query: Query | undefined, name: string): string | undefined {
  const value = query?.[name];
  return Array.isArray(value) ? value[value.length - 1] : value;
}

/** A lookup that Nova answers with an empty list when the host or instance is unknown. */
async function oneOrNone<T>(call: Promise<T | T[]>): Promise<T[]> {
  try {
    const value = await call;
    return Array.isArray(value) ? value : [value];
  } catch (error) {
    if (toResurrectError(error).code === 'RSR_CLOUD_NOT_FOUND') return [];
    throw error;
  }
}

const TRUE = ['true', 't', '1', 'on', 'y', 'yes'];
const FALSE = ['false', 'f', '0', 'off', 'n', 'no'];

/** oslo's strict bool_from_string for query parameters; an empty value counts as true where Nova says so. */
function parseBoolParam(name: string, value: string | undefined, emptyIsTrue = false): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === '' && emptyIsTrue) return true;
  const v = value.trim().toLowerCase();
  if (TRUE.includes(v)) return true;
  if (FALSE.includes(v)) return false;
  throw new HttpFault(400, `Invalid value '${value}' for ${name}`);
}

/** Nova's parameter_types.boolean: JSON booleans and the usual strings. */
function parseBoolValue(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'string') return undefined;
  const v = value.toLowerCase();
  if (TRUE.includes(v)) return true;
  if (FALSE.includes(v)) return false;
  return undefined;
}

const HOSTNAME = /^[a-zA-Z0-9-._]*$/;

/**
 * A JSON-schema check the way Nova's validators report it: unknown keys, missing keys and wrong types are
 * 400 "Invalid input for field/attribute <name>. Value: <value>. <reason>". Types: string, hostname,
 * hostname-or-null, reason (1–255 chars), bool, bool-or-auto, enum:a,b.
 */
function schemaObject(name: string, value: unknown, spec: Record<string, string>, required: readonly string[]): Record<string, unknown> {
  const fail = (reason: string): never => {
    throw new HttpFault(400, `Invalid input for field/attribute ${name}. Value: ${JSON.stringify(value)}. ${reason}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(`${JSON.stringify(value)} is not of type 'object'`);
  const body = value as Record<string, unknown>;
  const extra = Object.keys(body).filter((k) => !(k in spec));
  if (extra.length > 0) fail(`Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length === 1 ? 'was' : 'were'} unexpected)`);
  for (const key of required) if (!(key in body)) fail(`'${key}' is a required property`);
  const out: Record<string, unknown> = {};
  for (const [key, type] of Object.entries(spec)) {
    if (!(key in body)) continue;
    const v = body[key];
    if (type === 'string' || type === 'hostname' || type === 'hostname-or-null' || type === 'reason') {
      if (v === null && type === 'hostname-or-null') {
        out[key] = null;
        continue;
      }
      if (typeof v !== 'string') fail(`${JSON.stringify(v)} is not of type 'string'`);
      const s = v as string;
      if ((type === 'hostname' || type === 'hostname-or-null') && (s.length < 1 || s.length > 255 || !HOSTNAME.test(s))) fail(`'${s}' does not match '^[a-zA-Z0-9-._]*$'`);
      if (type === 'reason' && (s.length < 1 || s.length > 255)) fail(`'${s}' is ${s.length < 1 ? 'too short' : 'too long'}`);
      out[key] = s;
    } else if (type === 'bool' || type === 'bool-or-auto') {
      if (type === 'bool-or-auto' && v === 'auto') {
        out[key] = 'auto';
        continue;
      }
      const b = parseBoolValue(v);
      if (b === undefined) fail(`${JSON.stringify(v)} is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']`);
      out[key] = b;
    } else if (type.startsWith('enum:')) {
      const allowed = type.slice(5).split(',');
      if (typeof v !== 'string' || !allowed.includes(v)) fail(`${JSON.stringify(v)} is not one of ${JSON.stringify(allowed)}`);
      out[key] = v;
    }
  }
  return out;
}

/** A `limit`/`offset` query parameter (Nova's non-negative integer); 0 when absent. */
function nonNegative(name: string, text: string | undefined): number {
  if (text === undefined) return 0;
  if (!/^\d+$/.test(text)) throw new HttpFault(400, `Invalid input for query parameters ${name}. Value: ${text}. '${text}' does not match '^[0-9]*$'`);
  return Number(text);
}

/** limit/marker paging, Nova style: limit capped at max_limit, an unknown marker is a 400. */
function paginate<T>(items: readonly T[], key: (item: T) => string, limitText: string | undefined, marker: string | undefined): { items: T[]; more: boolean } {
  let limit = MAX_LIMIT;
  if (limitText !== undefined) {
    if (!/^\d+$/.test(limitText)) throw new HttpFault(400, `Invalid input for query parameters limit. Value: ${limitText}. '${limitText}' does not match '^[0-9]*$'`);
    limit = Math.min(Number(limitText), MAX_LIMIT);
  }
  let start = 0;
  if (marker !== undefined) {
    const at = items.findIndex((item) => key(item) === marker);
    if (at < 0) throw new HttpFault(400, `marker [${marker}] not found`);
    start = at + 1;
  }
  const page = items.slice(start, start + limit);
  return { items: page, more: page.length > 0 && page.length === limit };
}

function nextLink(base: string, path: string, query: Query, marker: string): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (k === 'marker' || v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) params.append(k, one);
  }
  params.set('marker', marker);
  return `${base}${path}?${params.toString()}`;
}

function generatePassword(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  let out = '';
  for (let n = 0; n < 12; n++) out += alphabet[Math.floor(Math.random() * alphabet.length)];
  return out;
}
