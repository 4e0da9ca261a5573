/**
 * A route of the REST API as data (bull-board's `routes.ts` shape): method, URL, who may call it, the io-ts
 * codecs of its inputs and of its success response, and a handler that never sees fastify. `server.ts` turns
 * each definition into a fastify route (decode with field paths, authorize, encode the response), and the
 * OpenAPI document is generated from the same definitions (`openapi.ts`), so the two cannot drift apart.
 */
import type * as t from 'io-ts';
import type { Logger } from 'pino';
import type { Config } from '../config/config';
import type { App } from '../container';

/** Ordered: each role may do what the roles before it may (viewer < operator < admin). */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];
/** `public`: no token needed (health, readiness, the OpenAPI document). */
export type Access = 'public' | Role;

/** Who is calling: the name is what the audit trail records (`by`). */
export interface Principal {
  readonly name: string;
  readonly role: Role;
}

/** Does `role` grant `access`? */
export function allows(role: Role | undefined, access: Access): boolean {
  if (access === 'public') return true;
  return role !== undefined && ROLES.indexOf(role) >= ROLES.indexOf(access);
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** The codecs of a route's inputs; a missing one means the route takes none (anything sent is refused). */
export interface RouteInput {
  readonly params?: t.Mixed;
  readonly query?: t.Mixed;
  readonly body?: t.Mixed;
  /**
   * Request headers the route reads (`last-event-id`), named in lower case. Only the headers it declares are
   * decoded (and documented); every request carries others, which are not refused.
   */
  readonly headers?: t.Mixed;
}

type Decoded<C> = C extends t.Mixed ? t.TypeOf<C> : undefined;

/** What every handler may use besides its inputs. */
export interface ApiDeps {
  readonly app: App;
  /** The whole configuration (the plan, the policy file); `config.api` is the block the server was built with. */
  readonly config: Config;
  readonly log: Logger;
  /** The generated OpenAPI document (served at /openapi.json). */
  openapi(): unknown;
}

export interface RouteContext<I extends RouteInput> {
  readonly params: Decoded<I['params']>;
  readonly query: Decoded<I['query']>;
  readonly body: Decoded<I['body']>;
  readonly headers: Decoded<I['headers']>;
  /** Set on every route but public ones. */
  readonly principal: Principal | undefined;
  readonly deps: ApiDeps;
  /** The request's logger (carries the request id). */
  readonly log: Logger;
  /** Aborted when the client goes away (or the server closes): a stream ends with it. */
  readonly signal: AbortSignal;
}

/** A handler's answer: one of the route's success statuses and a body its response codec accepts. */
export interface Reply<T> {
  readonly status: number;
  readonly body: T;
  /** Overrides the route's `response.contentType` (the metrics say their own). */
  readonly contentType?: string;
}

/** One server-sent event: `id: <id>`, `event: <event>`, `data: <data as JSON>` (checked against `response.events`). */
export interface ServerSentEvent {
  readonly id: string;
  readonly event: string;
  readonly data: unknown;
}

/**
 * The answer of a streaming route (one with `response.events`): `text/event-stream`, one event per item, a
 * comment heartbeat meanwhile, until the iterable ends or the client disconnects (the context's `signal` aborts,
 * and the iterator is returned). Errors in the handler before it answers are ordinary JSON errors.
 */
export interface EventStream {
  readonly status: number;
  readonly events: AsyncIterable<ServerSentEvent>;
}

export interface RouteDefinition<I extends RouteInput, R extends t.Mixed> {
  readonly method: Method;
  /** fastify syntax: `/api/v1/incidents/:id`. */
  readonly url: string;
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  readonly access: Access;
  readonly input: I;
  readonly response: {
    readonly codec: R;
    /** The success statuses the handler may answer with, each with what it means. */
    readonly statuses: Readonly<Record<number, string>>;
    /** Default `application/json`; a string body is then sent as is (`/metrics`). */
    readonly contentType?: string;
    /**
     * Server-sent events: the codec of each event's data. The route streams `text/event-stream` (its handler
     * answers with an EventStream); `codec` then only documents the stream's text.
     */
    readonly events?: t.Mixed;
  };
  /** Error statuses this route answers besides the ones every route may (400, 401, 403, 404, 413, 429). */
  readonly errors?: Readonly<Record<number, string>>;
  /** Changes state (a POST that is not a dry run): documented, and covered by the audit-trail tests. */
  readonly mutates: boolean;
  /** Exempt from the per-token rate limit (health probes). */
  readonly unlimited?: boolean;
  handler(context: RouteContext<I>): Promise<Reply<t.TypeOf<R>> | EventStream>;
}

/** Typed at the definition; stored as `AnyRoute` in the route table (handler parameters are bivariant). */
export function defineRoute<I extends RouteInput, R extends t.Mixed>(route: RouteDefinition<I, R>): RouteDefinition<I, R> {
  return route;
}

export type AnyRoute = RouteDefinition<RouteInput, t.Mixed>;
