import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { toResurrectError, type PowerState } from '../../../../domain';
import { isDeviceFault } from '../faults';
import type { SimWorld } from '../world';
import { HttpFault } from './errors';
import { stableUuid } from './ids';

/*
 * One Redfish BMC per simulated host, all on one HTTPS server: /redfish/v1/Systems/<host> is the host's
 * ComputerSystem. Power comes from the world's BMC device of that host, so its faults show the way a real
 * BMC shows them: `bmc-lies-off` reads Off while the host runs, `bmc-stuck-on` accepts ForceOff and stays On,
 * `bmc-unreachable` (or the host's PDU outlet off) drops the connection, `bmc-hangs` never answers.
 */

export interface BmcCredentials {
  readonly username: string;
  readonly password: string;
}

/** One pair for every BMC, or a pair per host (a test gives one host a password the caller does not know). */
export type BmcCredentialSource = BmcCredentials | ((host: string) => BmcCredentials);

export const DEFAULT_BMC_CREDENTIALS: BmcCredentials = { username: 'admin', password: 'password' };

export const systemsUri = (host: string): string => `/redfish/v1/Systems/${encodeURIComponent(host)}`;

const RESET_TYPES = ['On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart', 'ForceRestart', 'ForceOn', 'PowerCycle', 'PushPowerButton', 'Nmi'] as const;
type ResetType = (typeof RESET_TYPES)[number];

/** Thrown to make the handler drop the TCP connection without an answer (an unreachable BMC). */
class Unreachable extends Error {}

export function redfishRoutes(options: { readonly world: SimWorld; readonly bmc: BmcCredentialSource; readonly log: Logger }) {
  const { world, log } = options;
  const credentialsOf = (host: string): BmcCredentials => (typeof options.bmc === 'function' ? options.bmc(host) : options.bmc);

  return async (app: FastifyInstance): Promise<void> => {
    app.addHook('onSend', async (_request, reply, payload) => {
      reply.header('odata-version', '4.0');
      return payload;
    });

    app.setErrorHandler((error, request, reply) => {
      if (error instanceof Unreachable) return drop(request, reply);
      if (error instanceof HttpFault) return redfishError(reply.headers(error.headers), error.status, error.message);
      const e = toResurrectError(error);
      if (e.code === 'RSR_DRIVER_UNAVAILABLE' && e.details.device !== undefined) return drop(request, reply);
      const status = typeof e.details.httpStatus === 'number' ? e.details.httpStatus : typeof (error as { statusCode?: unknown }).statusCode === 'number' ? (error as { statusCode: number }).statusCode : 500;
      log.debug({ err: e.message, url: request.url }, 'sim redfish answers an error');
      return redfishError(reply, status, e.message);
    });
    app.setNotFoundHandler((request, reply) => redfishError(reply, 404, `The resource at the URI ${request.url} was not found.`, 'Base.1.8.ResourceMissingAtURI'));

    const serviceRoot = async () => ({
      '@odata.id': '/redfish/v1/',
      '@odata.type': '#ServiceRoot.v1_5_0.ServiceRoot',
      Id: 'RootService',
      Name: 'Resurrect simulated BMCs',
      RedfishVersion: '1.6.0',
      UUID: stableUuid('redfish-service-root'),
      Systems: { '@odata.id': '/redfish/v1/Systems' },
      Links: { Sessions: { '@odata.id': '/redfish/v1/SessionService/Sessions' } },
    });
    app.get('/redfish', async () => ({ v1: '/redfish/v1/' }));
    app.get('/redfish/v1', serviceRoot);

    app.get('/redfish/v1/Systems', async (request) => {
      const hosts = world.hostNames();
      if (!hosts.some((h) => authorized(request, credentialsOf(h)))) throw unauthorized();
      return {
        '@odata.id': '/redfish/v1/Systems',
        '@odata.type': '#ComputerSystemCollection.ComputerSystemCollection',
        Name: 'Computer System Collection',
        'Members@odata.count': hosts.length,
        Members: hosts.map((h) => ({ '@odata.id': systemsUri(h) })),
      };
    });

    app.get('/redfish/v1/Systems/:host', async (request: FastifyRequest<{ Params: { host: string } }>, reply) => {
      const host = known(request, request.params.host);
      const power = await world.powerDevice(host, 'bmc').status(signalOf(reply));
      return systemJson(host, power);
    });

    app.post('/redfish/v1/Systems/:host/Actions/ComputerSystem.Reset', async (request: FastifyRequest<{ Params: { host: string }; Body: unknown }>, reply) => {
      const body = request.body;
      const resetType = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).ResetType : undefined;
      const host = known(request, request.params.host);
      if (resetType === undefined) throw new HttpFault(400, 'The action ComputerSystem.Reset requires the parameter ResetType to be present in the request body.');
      if (typeof resetType !== 'string' || !(RESET_TYPES as readonly string[]).includes(resetType)) {
        throw new HttpFault(400, `The value ${JSON.stringify(resetType)} for the parameter ResetType in the action ComputerSystem.Reset is not in the list of acceptable values.`);
      }
      const device = world.powerDevice(host, 'bmc');
      const signal = signalOf(reply);
      switch (resetType as ResetType) {
        case 'On':
        case 'ForceOn':
          await device.on(signal);
          break;
        case 'ForceOff':
        case 'GracefulShutdown': // the sim has no ACPI: a graceful shutdown powers off at once
          await device.off(signal);
          break;
        case 'ForceRestart':
        case 'GracefulRestart':
        case 'PowerCycle':
          await device.off(signal);
          await device.on(signal);
          break;
        case 'PushPowerButton':
          if ((await device.status(signal)) === 'off') await device.on(signal);
          else await device.off(signal);
          break;
        case 'Nmi':
          break;
      }
      return reply.code(204).send();
    });

    /**
     * Resolves the host of a system URL in the order a BMC would fail: not reachable at all (connection
     * dropped, or never answered for a hung one, the device call hangs then), bad credentials (401),
     * unknown system (404).
     */
    function known(request: FastifyRequest, host: string): string {
      const exists = world.hostNames().includes(host);
      if (exists) {
        const reach = reachability(world, host);
        if (reach === 'unreachable') throw new Unreachable();
        if (reach === 'hangs') return host; // the device call itself never answers
      }
      const creds = exists ? [credentialsOf(host)] : world.hostNames().map(credentialsOf);
      if (!creds.some((c) => authorized(request, c))) throw unauthorized();
      if (!exists) throw new HttpFault(404, `The resource at the URI ${request.url} was not found.`);
      return host;
    }
  };
}

function reachability(world: SimWorld, host: string): 'ok' | 'unreachable' | 'hangs' {
  const kinds = new Set(world.faults().flatMap(({ spec }) => (isDeviceFault(spec) && spec.host === host && (spec.device ?? 'bmc') === 'bmc' ? [spec.kind] : [])));
  if (kinds.has('bmc-unreachable') || world.hostState(host).outlet === 'off') return 'unreachable';
  return kinds.has('bmc-hangs') ? 'hangs' : 'ok';
}

function systemJson(host: string, power: PowerState): Record<string, unknown> {
  const uri = systemsUri(host);
  return {
    '@odata.id': uri,
    '@odata.type': '#ComputerSystem.v1_10_0.ComputerSystem',
    Id: host,
    Name: host,
    HostName: host,
    SystemType: 'Physical',
    Manufacturer: 'Resurrect',
    Model: 'Simulated compute host',
    UUID: stableUuid(`system:${host}`),
    // A BMC that cannot tell leaves PowerState out (fence agents then fail the status, as they should).
    ...(power === 'unknown' ? {} : { PowerState: power === 'on' ? 'On' : 'Off' }),
    Status: { State: 'Enabled', Health: 'OK' },
    Actions: {
      '#ComputerSystem.Reset': {
        target: `${uri}/Actions/ComputerSystem.Reset`,
        'ResetType@Redfish.AllowableValues': [...RESET_TYPES],
      },
    },
  };
}

function authorized(request: FastifyRequest, creds: BmcCredentials): boolean {
  const value = request.headers.authorization;
  if (typeof value !== 'string' || !value.toLowerCase().startsWith('basic ')) return false;
  const decoded = Buffer.from(value.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  return same(decoded.slice(0, colon), creds.username) && same(decoded.slice(colon + 1), creds.password);
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const unauthorized = () => new HttpFault(401, 'Unable to complete the operation because an invalid username and/or password is entered, and therefore authentication failed.', {
  'www-authenticate': 'Basic realm="RedfishService"',
});

function signalOf(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => controller.abort(new Error('client disconnected')));
  return controller.signal;
}

function redfishError(reply: FastifyReply, status: number, message: string, id = status === 401 ? 'Base.1.8.InsufficientPrivilege' : status === 400 ? 'Base.1.8.ActionParameterNotSupported' : 'Base.1.8.GeneralError'): FastifyReply {
  return reply.code(status).send({
    error: {
      code: id,
      message,
      '@Message.ExtendedInfo': [{ '@odata.type': '#Message.v1_0_0.Message', MessageId: id, Message: message, Severity: 'Critical', Resolution: 'None' }],
    },
  });
}

function drop(request: FastifyRequest, reply: FastifyReply): void {
  reply.hijack();
  request.raw.socket.destroy();
}
