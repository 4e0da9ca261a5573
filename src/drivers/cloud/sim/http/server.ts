import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { InputError } from '../../../../domain';
import type { SimWorld } from '../world';
import { controlRoutes } from './control';
import { HttpFault } from './errors';
import { glanceRoutes } from './glance';
import { Keystone, keystoneRoutes, type AppCredential, type KeystoneCredentials } from './keystone';
import { novaRoutes } from './nova';
import { DEFAULT_BMC_CREDENTIALS, redfishRoutes, systemsUri, type BmcCredentialSource } from './redfish';
import { loopbackCertificate } from './tls';

/*
 * The simulated cloud as a service: one SimWorld behind the HTTP APIs of the real thing, so that a real
 * client (the engine's OpenStack driver, keystoneauth, Debian's fence_redfish) can drive it.
 *
 *   http://127.0.0.1:P/identity            Keystone v3 (version discovery, /v3/auth/tokens)
 *   http://127.0.0.1:P/compute/v2.1        Nova (microversions 2.1–2.95)
 *   http://127.0.0.1:P/image               Glance v2 (GET /v2/images/{id})
 *   http://127.0.0.1:P/sim                 test hooks, no auth (control, counters, state)
 *   https://127.0.0.1:R/redfish/v1         one Redfish BMC per host: /redfish/v1/Systems/<host>
 *
 * Loopback only: the sim has default passwords and unauthenticated hooks.
 */

export interface SimServerOptions {
  readonly world: SimWorld;
  /** Loopback only; anything else is refused. */
  readonly host?: '127.0.0.1';
  /** Keystone/Nova/Glance/control port; 0 (default) picks a free one. */
  readonly port?: number;
  /** Redfish (HTTPS) port; 0 (default) picks a free one. */
  readonly redfishPort?: number;
  /** The one Keystone user. Default admin / secret, project admin, domains Default. */
  readonly credentials?: KeystoneCredentials;
  readonly appCredentials?: readonly AppCredential[];
  /** Token lifetime in seconds (fractions allowed). Default 3600, Keystone's. */
  readonly tokenLifetimeSeconds?: number;
  /** BMC login, for all hosts or per host. Default admin / password. */
  readonly bmc?: BmcCredentialSource;
  readonly log: Logger;
}

export interface SimServer {
  /** Keystone base, e.g. http://127.0.0.1:P/identity (what clouds.yaml calls auth_url). */
  readonly authUrl: string;
  /** http://127.0.0.1:P/compute/v2.1 */
  readonly computeUrl: string;
  /** http://127.0.0.1:P/image */
  readonly imageUrl: string;
  readonly redfish: {
    /** https://127.0.0.1:R */
    readonly url: string;
    readonly port: number;
    /** /redfish/v1/Systems/<host> */
    systemsUri(host: string): string;
    /** The self-signed certificate the BMCs present (trust it, or skip verification). */
    readonly caCertPem: string;
  };
  /** http://127.0.0.1:P/sim */
  readonly controlUrl: string;
  /** Every token issued so far expires now (as `POST /sim/keystone/expire-tokens`); how many were valid. */
  expireTokens(): number;
  close(): Promise<void>;
}

export const DEFAULT_CREDENTIALS: KeystoneCredentials = { username: 'admin', password: 'secret', project: 'admin', userDomain: 'Default', projectDomain: 'Default' };

const LOOPBACK = '127.0.0.1';

export async function startSimServer(options: SimServerOptions): Promise<SimServer> {
  const bind = options.host ?? LOOPBACK;
  if (bind !== LOOPBACK) {
    throw new InputError(`the simulated cloud listens on loopback only, not ${String(bind)}`, [{ path: 'host', message: 'must be 127.0.0.1' }]);
  }
  const log = options.log.child({ component: 'sim-server' });
  const urls = { identity: '', compute: '', image: '' };
  const keystone = new Keystone({
    credentials: { ...DEFAULT_CREDENTIALS, ...options.credentials },
    appCredentials: options.appCredentials ?? [],
    tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 3600,
    urls: () => urls,
  });

  const api = Fastify({ logger: false, forceCloseConnections: true, routerOptions: { ignoreTrailingSlash: true }, bodyLimit: 1024 * 1024 });
  lenientJson(api);
  api.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/sim')) reply.header('x-openstack-request-id', `req-${randomUUID()}`);
  });
  api.addHook('onResponse', async (request, reply) => {
    log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, `${request.method} ${request.url} ${reply.statusCode}`);
  });
  await api.register(keystoneRoutes(keystone, () => urls.identity), { prefix: '/identity' });
  await api.register(novaRoutes({ world: options.world, keystone, log }), { prefix: '/compute' });
  await api.register(glanceRoutes({ world: options.world, keystone }), { prefix: '/image' });
  await api.register(controlRoutes({ world: options.world, keystone, log }), { prefix: '/sim' });
  api.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: { code: 404, message: 'The resource could not be found.' } }));

  const cert = await loopbackCertificate();
  // Typed as the plain-HTTP instance the route modules are written against; fastify's API is the same.
  const bmcs = Fastify({
    logger: false,
    forceCloseConnections: true,
    routerOptions: { ignoreTrailingSlash: true },
    https: { key: cert.keyPem, cert: cert.certPem },
  }) as unknown as FastifyInstance;
  lenientJson(bmcs);
  bmcs.addHook('onResponse', async (request, reply) => {
    log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, `redfish ${request.method} ${request.url} ${reply.statusCode}`);
  });
  await bmcs.register(redfishRoutes({ world: options.world, bmc: options.bmc ?? DEFAULT_BMC_CREDENTIALS, log }));

  try {
    await api.listen({ host: LOOPBACK, port: options.port ?? 0 });
    await bmcs.listen({ host: LOOPBACK, port: options.redfishPort ?? 0 });
  } catch (error) {
    await Promise.allSettled([api.close(), bmcs.close()]);
    throw error;
  }
  const port = (api.server.address() as AddressInfo).port;
  const redfishPort = (bmcs.server.address() as AddressInfo).port;
  const base = `http://${LOOPBACK}:${port}`;
  urls.identity = `${base}/identity`;
  urls.compute = `${base}/compute/v2.1`;
  urls.image = `${base}/image`;
  log.info({ authUrl: urls.identity, computeUrl: urls.compute, redfish: `https://${LOOPBACK}:${redfishPort}` }, 'simulated cloud served');

  let closing: Promise<void> | undefined;
  return {
    authUrl: urls.identity,
    computeUrl: urls.compute,
    imageUrl: urls.image,
    redfish: { url: `https://${LOOPBACK}:${redfishPort}`, port: redfishPort, systemsUri, caCertPem: cert.certPem },
    controlUrl: `${base}/sim`,
    expireTokens: () => keystone.expireAll(),
    close: () => (closing ??= Promise.all([api.close(), bmcs.close()]).then(() => undefined)),
  };
}

/** JSON bodies whatever the content type (clients are sloppy about it); empty ⇒ undefined; malformed ⇒ 400. */
function lenientJson(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text) as unknown);
    } catch {
      done(new HttpFault(400, 'Malformed request body'), undefined);
    }
  });
}
