import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpFault, keystoneErrorBody, UNAUTHORIZED_MESSAGE } from './errors';
import { stableHex } from './ids';

/*
 * Keystone v3, the part a client library needs to get a project-scoped admin token: version discovery,
 * password and application-credential authentication, token validation, and a catalog pointing at the
 * served Nova and Glance. One user, one project; tokens live in memory.
 */

export interface KeystoneCredentials {
  readonly username: string;
  readonly password: string;
  readonly project: string;
  /** Domain names (ids are accepted too: `default` for `Default`). Default `Default`. */
  readonly userDomain?: string;
  readonly projectDomain?: string;
}

export interface AppCredential {
  readonly id: string;
  readonly secret: string;
}

export interface KeystoneOptions {
  readonly credentials: KeystoneCredentials;
  readonly appCredentials: readonly AppCredential[];
  readonly tokenLifetimeSeconds: number;
  /** The served endpoints, known once the server listens. */
  readonly urls: () => { readonly identity: string; readonly compute: string; readonly image: string };
}

export const REGION = 'RegionOne';

interface Domain {
  readonly id: string;
  readonly name: string;
}

interface TokenRecord {
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly methods: readonly string[];
  readonly appCredential?: string;
  readonly auditId: string;
}

/** A validated token, as the services see it. */
export interface TokenContext {
  readonly userId: string;
  readonly projectId: string;
  readonly projectName: string;
  readonly roles: readonly string[];
}

const domainOf = (name: string): Domain => ({ id: name === 'Default' ? 'default' : stableHex(`domain:${name}`), name });
const ROLES = ['admin', 'member', 'reader'] as const;

export class Keystone {
  private readonly tokens = new Map<string, TokenRecord>();
  readonly userDomain: Domain;
  readonly projectDomain: Domain;
  readonly userId: string;
  readonly projectId: string;

  constructor(private readonly options: KeystoneOptions) {
    const c = options.credentials;
    this.userDomain = domainOf(c.userDomain ?? 'Default');
    this.projectDomain = domainOf(c.projectDomain ?? 'Default');
    this.userId = stableHex(`user:${c.username}`);
    this.projectId = stableHex(`project:${c.project}`);
  }

  /** The token of a service call, or a 401 (missing, unknown or expired). */
  validate(token: string | undefined): TokenContext {
    const record = token === undefined ? undefined : this.tokens.get(token);
    if (!record || record.expiresAt <= Date.now()) {
      if (record && token !== undefined) this.tokens.delete(token);
      throw new HttpFault(401, UNAUTHORIZED_MESSAGE, { 'www-authenticate': `Keystone uri="${this.options.urls().identity}"` });
    }
    return { userId: this.userId, projectId: this.projectId, projectName: this.options.credentials.project, roles: ROLES };
  }

  /** POST /v3/auth/tokens: the token id and its body, or a 401 / 400. */
  authenticate(body: unknown, withCatalog: boolean): { token: string; body: unknown } {
    const auth = field(body, 'auth');
    const identity = field(auth, 'identity');
    const methods = field(identity, 'methods');
    if (!Array.isArray(methods) || methods.length === 0 || !methods.every((m) => typeof m === 'string')) {
      throw new HttpFault(400, "Invalid input for field 'identity/methods': it must be a non-empty list of strings.");
    }
    let appCredential: string | undefined;
    if (methods.includes('application_credential')) {
      appCredential = this.checkAppCredential(field(identity, 'application_credential'));
    } else if (methods.includes('password')) {
      this.checkPassword(field(identity, 'password'));
      this.checkScope(field(auth, 'scope'));
    } else {
      throw unauthorized();
    }
    const issuedAt = Date.now();
    const record: TokenRecord = {
      issuedAt,
      expiresAt: issuedAt + this.options.tokenLifetimeSeconds * 1000,
      methods: appCredential === undefined ? ['password'] : ['application_credential'],
      auditId: randomBytes(16).toString('base64url').slice(0, 22),
      ...(appCredential === undefined ? {} : { appCredential }),
    };
    const token = `gAAAAA${randomBytes(48).toString('base64url')}`;
    this.prune(issuedAt);
    this.tokens.set(token, record);
    return { token, body: this.tokenBody(record, withCatalog) };
  }

  /** GET /v3/auth/tokens: the body of a token another holder shows (X-Subject-Token). */
  describe(token: string | undefined, withCatalog: boolean): unknown {
    const record = token === undefined ? undefined : this.tokens.get(token);
    if (!record || record.expiresAt <= Date.now()) {
      throw new HttpFault(404, `Could not find token: ${token ?? ''}.`);
    }
    return this.tokenBody(record, withCatalog);
  }

  revoke(token: string | undefined): boolean {
    return token !== undefined && this.tokens.delete(token);
  }

  /**
   * Every token issued so far expires now, as when Keystone's fernet keys rotate past their window: a
   * what-if for clients that cache tokens, and an expiry that does not depend on how fast the machine is.
   * Returns how many were still valid.
   */
  expireAll(): number {
    const now = Date.now();
    let expired = 0;
    for (const [token, record] of this.tokens) {
      if (record.expiresAt > now) expired += 1;
      this.tokens.set(token, { ...record, expiresAt: now });
    }
    return expired;
  }

  catalog(): unknown[] {
    const urls = this.options.urls();
    const service = (type: string, name: string, url: string) => ({
      id: stableHex(`service:${type}`),
      type,
      name,
      endpoints: (['public', 'internal', 'admin'] as const).map((iface) => ({
        id: stableHex(`endpoint:${type}:${iface}`),
        interface: iface,
        region: REGION,
        region_id: REGION,
        url,
      })),
    });
    return [service('identity', 'keystone', urls.identity), service('compute', 'nova', urls.compute), service('image', 'glance', urls.image)];
  }

  private tokenBody(record: TokenRecord, withCatalog: boolean): unknown {
    const c = this.options.credentials;
    return {
      token: {
        methods: record.methods,
        user: { id: this.userId, name: c.username, domain: { ...this.userDomain }, password_expires_at: null },
        audit_ids: [record.auditId],
        expires_at: keystoneTime(record.expiresAt),
        issued_at: keystoneTime(record.issuedAt),
        project: { id: this.projectId, name: c.project, domain: { ...this.projectDomain } },
        is_domain: false,
        roles: ROLES.map((name) => ({ id: stableHex(`role:${name}`), name })),
        ...(record.appCredential === undefined ? {} : { application_credential: { id: record.appCredential, name: record.appCredential, restricted: true } }),
        ...(withCatalog ? { catalog: this.catalog() } : {}),
      },
    };
  }

  private checkPassword(password: unknown): void {
    const user = field(password, 'user');
    const c = this.options.credentials;
    const id = field(user, 'id');
    const name = field(user, 'name');
    let known: boolean;
    if (typeof id === 'string') known = id === this.userId;
    else known = name === c.username && matchesDomain(field(user, 'domain'), this.userDomain);
    if (!known || field(user, 'password') !== c.password) throw unauthorized();
  }

  /** A project scope must name our project; no scope gets the default project (as a user with one does). */
  private checkScope(scope: unknown): void {
    if (scope === undefined) return;
    const project = field(scope, 'project');
    if (project === undefined) throw unauthorized(); // domain, system or unknown scopes: no role there
    const id = field(project, 'id');
    const ok = typeof id === 'string' ? id === this.projectId : field(project, 'name') === this.options.credentials.project && matchesDomain(field(project, 'domain'), this.projectDomain);
    if (!ok) throw unauthorized();
  }

  private checkAppCredential(credential: unknown): string {
    const id = field(credential, 'id');
    const name = field(credential, 'name');
    const secret = field(credential, 'secret');
    const found = this.options.appCredentials.find((a) => (typeof id === 'string' ? a.id === id : a.id === name));
    if (!found || secret !== found.secret) throw unauthorized();
    return found.id;
  }

  private prune(now: number): void {
    for (const [token, record] of this.tokens) if (record.expiresAt <= now) this.tokens.delete(token);
  }
}

const unauthorized = () => new HttpFault(401, UNAUTHORIZED_MESSAGE);

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
}

function matchesDomain(given: unknown, domain: Domain): boolean {
  const id = field(given, 'id');
  const name = field(given, 'name');
  return (typeof id === 'string' && id === domain.id) || (typeof name === 'string' && name === domain.name);
}

/** Keystone's time format: 2026-08-08T12:00:00.000000Z. */
export function keystoneTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

const V3_UPDATED = '2024-04-01T00:00:00Z';

function v3Version(identityUrl: string) {
  return {
    id: 'v3.14',
    status: 'stable',
    updated: V3_UPDATED,
    links: [{ rel: 'self', href: `${identityUrl}/v3/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
  };
}

/** Routes under /identity. */
export function keystoneRoutes(keystone: Keystone, identityUrl: () => string) {
  return async (app: FastifyInstance): Promise<void> => {
    app.setErrorHandler((error, _request, reply) => {
      const status = error instanceof HttpFault ? error.status : typeof (error as { statusCode?: unknown }).statusCode === 'number' ? (error as { statusCode: number }).statusCode : 500;
      if (error instanceof HttpFault) reply.headers(error.headers);
      const title = status === 401 ? 'Unauthorized' : status === 404 ? 'Not Found' : status === 400 ? 'Bad Request' : 'Internal Server Error';
      return reply.code(status).send(keystoneErrorBody(status, error instanceof Error ? error.message : String(error), title));
    });
    app.setNotFoundHandler((_request, reply) => reply.code(404).send(keystoneErrorBody(404, 'The resource could not be found.', 'Not Found')));

    // Keystone answers its root with 300 Multiple Choices; keystoneauth follows the v3 link.
    app.get('/', async (_request, reply) => reply.code(300).send({ versions: { values: [v3Version(identityUrl())] } }));
    app.get('/v3', async () => ({ version: v3Version(identityUrl()) }));

    app.post('/v3/auth/tokens', async (request: FastifyRequest<{ Querystring: Record<string, string> }>, reply: FastifyReply) => {
      const withCatalog = !('nocatalog' in (request.query ?? {}));
      const { token, body } = keystone.authenticate(request.body, withCatalog);
      return reply.code(201).header('x-subject-token', token).header('vary', 'X-Auth-Token').send(body);
    });

    app.get('/v3/auth/tokens', async (request: FastifyRequest<{ Querystring: Record<string, string> }>) => {
      keystone.validate(header(request, 'x-auth-token'));
      return keystone.describe(header(request, 'x-subject-token'), !('nocatalog' in (request.query ?? {})));
    });

    app.delete('/v3/auth/tokens', async (request, reply) => {
      keystone.validate(header(request, 'x-auth-token'));
      if (!keystone.revoke(header(request, 'x-subject-token'))) throw new HttpFault(404, 'Could not find token.');
      return reply.code(204).send();
    });

    app.get('/v3/auth/catalog', async (request) => {
      keystone.validate(header(request, 'x-auth-token'));
      return { catalog: keystone.catalog() };
    });
  };
}

export function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
