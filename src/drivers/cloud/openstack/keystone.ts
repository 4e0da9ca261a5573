/**
 * A Keystone v3 session: one token at a time (password or application credential), kept until shortly
 * before it expires, renewed once when a service answers 401, and the service catalog it came with.
 * `call` is how every service request goes out: token header, endpoint from the catalog, transport rules
 * of `http.ts`, error answers turned into typed errors.
 */
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/Either';
import { describeErrors, nonRetryable, retryable, type ResurrectError } from '../../../domain';
import type { CloudAuth, CloudConfig, DomainRef, Interface, Scope, UserRef } from './clouds';
import { httpError, pathOf, send, type HttpAnswer, type HttpMethod, type HttpSettings } from './http';
import { Secret } from './secret';

const Endpoint = t.intersection([t.type({ interface: t.string, url: t.string }), t.partial({ region: t.union([t.string, t.null]), region_id: t.union([t.string, t.null]) })]);
const CatalogEntry = t.intersection([t.type({ type: t.string, endpoints: t.array(Endpoint) }), t.partial({ name: t.string })]);
const Named = t.partial({ id: t.string, name: t.string });
const TokenBody = t.type({
  token: t.intersection([
    t.type({ expires_at: t.string }),
    t.partial({ issued_at: t.string, catalog: t.array(CatalogEntry), user: Named, project: Named }),
  ]),
}, 'TokenBody');

export type CatalogEntry = t.TypeOf<typeof CatalogEntry>;

export interface Token {
  readonly value: Secret;
  /** Local clock time after which the token is not used any more (shortly before Keystone's expiry). */
  readonly refreshAt: number;
  readonly catalog: readonly CatalogEntry[];
  readonly user?: string;
  readonly project?: string;
}

/** Renew this long before expiry (or a quarter of a short token's life). */
const REFRESH_MARGIN_MS = 60_000;

export interface ServiceCall {
  /** Catalog type: `compute`, `image`. */
  readonly service: 'compute' | 'image';
  readonly method: HttpMethod;
  /** A path under the service endpoint (`/servers/x`), or a function of the endpoint URL giving the URL. */
  readonly target: string | ((endpoint: string) => string);
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly idempotent: boolean;
  /** Statuses returned as answers instead of thrown (404 for "does this image exist"). */
  readonly accept?: readonly number[];
  readonly signal?: AbortSignal;
}

export class KeystoneSession {
  private current?: Token;
  private pending?: Promise<Token>;

  constructor(
    readonly cloud: CloudConfig,
    private readonly http: HttpSettings,
  ) {}

  /** `{auth_url}/v3/auth/tokens`, whether auth_url ends in `/v3` or not. */
  get tokensUrl(): string {
    const base = this.cloud.authUrl.replace(/\/+$/, '');
    return /\/v3$/.test(base) ? `${base}/auth/tokens` : `${base}/v3/auth/tokens`;
  }

  /** A valid token: the cached one, or one shared authentication for all callers waiting at that moment. */
  async token(signal?: AbortSignal): Promise<Token> {
    if (signal?.aborted) throw signal.reason;
    const cached = this.current;
    if (cached && this.http.clock.now() < cached.refreshAt) return cached;
    if (!this.pending) {
      // Not tied to one caller's signal: another caller may be waiting for the same token.
      this.pending = this.authenticate().finally(() => (this.pending = undefined));
    }
    return raceSignal(this.pending, signal);
  }

  /** Drops `token` (a service refused it) unless a newer one already replaced it. */
  invalidate(token: Token): void {
    if (this.current === token) this.current = undefined;
  }

  /** The endpoint of a service type for the cloud's interface and region; undefined when the catalog has none. */
  findEndpoint(token: Token, type: 'compute' | 'image'): string | undefined {
    const override = this.cloud.endpointOverrides[type];
    if (override) return override;
    const wanted: Interface = this.cloud.interface;
    const region = this.cloud.region;
    for (const entry of token.catalog) {
      if (entry.type !== type) continue;
      const found = entry.endpoints.find((e) => normalizeInterface(e.interface) === wanted && (region === undefined || e.region_id === region || e.region === region));
      if (found) return found.url;
    }
    return undefined;
  }

  endpoint(token: Token, type: 'compute' | 'image'): string {
    const url = this.findEndpoint(token, type);
    if (url !== undefined) return url;
    const offered = token.catalog.filter((e) => e.type === type).flatMap((e) => e.endpoints.map((x) => `${x.interface}@${x.region_id ?? x.region ?? '-'}`));
    throw nonRetryable('RSR_CONFIG_INVALID', `the catalog of cloud "${this.cloud.name}" has no ${type} endpoint for interface ${this.cloud.interface}${this.cloud.region ? ` in region ${this.cloud.region}` : ''}${offered.length ? ` (it has ${offered.join(', ')})` : ''}`, {
      details: { cloud: this.cloud.name, service: type, interface: this.cloud.interface, region: this.cloud.region, offered },
    });
  }

  /**
   * One service request with the token. A 401 drops the token and the request goes once more with a new
   * one (the service did nothing with a request it refused to authenticate); a second 401 is final.
   */
  async call(request: ServiceCall): Promise<HttpAnswer> {
    if (request.signal?.aborted) throw request.signal.reason;
    for (let renewed = false; ; renewed = true) {
      const token = await this.token(request.signal);
      const endpoint = this.endpoint(token, request.service).replace(/\/+$/, '');
      const url = typeof request.target === 'string' ? `${endpoint}${request.target}` : request.target(endpoint);
      const http = {
        service: request.service,
        method: request.method,
        url,
        headers: { ...request.headers, 'x-auth-token': token.value.reveal() },
        body: request.body,
        idempotent: request.idempotent,
        signal: request.signal,
      };
      const answer = await send(http, this.http);
      if (answer.status === 401 && !renewed) {
        this.http.log?.info({ cloud: this.cloud.name, service: request.service, path: pathOf(url) }, 'token refused (401); authenticating again');
        this.invalidate(token);
        continue;
      }
      if ((answer.status >= 200 && answer.status < 300) || request.accept?.includes(answer.status)) return answer;
      throw httpError(http, answer);
    }
  }

  private async authenticate(): Promise<Token> {
    const url = this.tokensUrl;
    const request = { service: 'identity', method: 'POST' as const, url, body: authBody(this.cloud.auth), idempotent: true };
    const answer = await send(request, this.http);
    if (answer.status !== 201 && answer.status !== 200) throw this.authError(request, answer);
    const subject = answer.headers.get('x-subject-token');
    if (!subject) {
      throw retryable('RSR_DRIVER_UNAVAILABLE', `Keystone answered ${answer.status} to ${pathOf(url)} without an X-Subject-Token header`, {
        details: { service: 'identity', cloud: this.cloud.name, httpStatus: answer.status, path: pathOf(url), requestId: answer.requestId },
      });
    }
    const decoded = TokenBody.decode(answer.body);
    if (isLeft(decoded)) {
      const problems = describeErrors(decoded.left).map((p) => `${p.path}: ${p.message}`).join('; ');
      throw retryable('RSR_DRIVER_UNAVAILABLE', `Keystone's token answer could not be read: ${problems}`, {
        details: { service: 'identity', cloud: this.cloud.name, path: pathOf(url), requestId: answer.requestId },
      });
    }
    const body = decoded.right.token;
    const now = this.http.clock.now();
    const expires = Date.parse(body.expires_at);
    const issued = body.issued_at === undefined ? Number.NaN : Date.parse(body.issued_at);
    // Lifetime from Keystone's own two stamps, counted from now: immune to clock skew between us and Keystone.
    const lifetime = Number.isFinite(issued) && expires > issued ? expires - issued : expires - now;
    const refreshAt = now + lifetime - Math.min(REFRESH_MARGIN_MS, Math.max(0, lifetime) / 4);
    const token: Token = {
      value: new Secret(subject),
      refreshAt,
      catalog: body.catalog ?? [],
      ...(body.user?.name ?? body.user?.id ? { user: body.user?.name ?? body.user?.id } : {}),
      ...(body.project?.name ?? body.project?.id ? { project: body.project?.name ?? body.project?.id } : {}),
    };
    this.current = token;
    this.http.log?.debug({ cloud: this.cloud.name, user: token.user, project: token.project, validForMs: Math.round(refreshAt - now), services: token.catalog.map((c) => c.type) }, `authenticated to cloud ${this.cloud.name}`);
    return token;
  }

  /** Keystone refused: bad credentials or scope are final; an auth_url that is not Keystone v3 is configuration. */
  private authError(request: { service: string; method: HttpMethod; url: string; idempotent: boolean }, answer: HttpAnswer): ResurrectError {
    const mapped = httpError(request, answer);
    if (mapped.retryable) return mapped;
    const details = { ...mapped.details, cloud: this.cloud.name, authType: this.cloud.auth.type };
    if (answer.status === 404 || answer.status === 405) {
      return nonRetryable('RSR_CONFIG_INVALID', `${this.cloud.source}: auth_url of cloud "${this.cloud.name}" is not a Keystone v3 endpoint (${answer.status} from ${pathOf(request.url)})`, { details });
    }
    return nonRetryable('RSR_CLOUD_REJECTED', `Keystone refused to authenticate cloud "${this.cloud.name}" (${answer.status}: ${mapped.message})`, { details });
  }
}

const INTERFACE_ALIASES: Record<string, Interface> = { public: 'public', publicurl: 'public', internal: 'internal', internalurl: 'internal', admin: 'admin', adminurl: 'admin' };
const normalizeInterface = (value: string): Interface | undefined => INTERFACE_ALIASES[value.toLowerCase()];

const domain = (d: DomainRef) => ('id' in d ? { id: d.id } : { name: d.name });
const user = (u: UserRef) => ('id' in u ? { id: u.id } : { name: u.name, domain: domain(u.domain) });

function scope(s: Scope): Record<string, unknown> {
  if ('system' in s) return { system: { all: true } };
  if ('domain' in s) return { domain: domain(s.domain) };
  return { project: 'id' in s.project ? { id: s.project.id } : { name: s.project.name, domain: domain(s.project.domain) } };
}

/** The v3 token request body (reference §8). Built at send time, never stored or logged. */
export function authBody(auth: CloudAuth): unknown {
  if (auth.type === 'password') {
    return {
      auth: {
        identity: { methods: ['password'], password: { user: { ...user(auth.user), password: auth.password.reveal() } } },
        scope: scope(auth.scope),
      },
    };
  }
  const credential = 'id' in auth.credential ? { id: auth.credential.id } : { name: auth.credential.name, user: user(auth.credential.user) };
  return { auth: { identity: { methods: ['application_credential'], application_credential: { ...credential, secret: auth.secret.reveal() } } } };
}

/** Waits for a shared promise, but lets this caller leave early when its own signal aborts. */
export function raceSignal<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
