/**
 * The REST API server: `buildServer` turns the route table into a fastify instance (not listening; tests
 * call `inject()`), `listen` opens the socket. fastify's build/listen split.
 *
 * One request, in order:
 *   onRequest   identify: the bearer token → Principal (only on routes that need one)
 *   onRequest   rate limit, per token name (per client address without a valid token)          → 429
 *   preParsing  authorize: no or unknown token → 401, role too low → 403 (before the body is read)
 *   parse       JSON only (415 otherwise), body size limit (413), malformed JSON (400)
 *   handler     decode params, query, body (and the headers a route declares) with the route's codecs (400
 *               with field paths), run the route, check the answer against its response codec, send it
 * Every refusal and error has one shape, `{error: {code, message, path?}}` (http-errors.ts).
 *
 * A streaming route (server-sent events) answers like any other until its handler returns its events: then
 * the reply is hijacked and written by `streamEvents` (text/event-stream, a heartbeat comment, each event's
 * data checked against the route's codec) until the events end, the client disconnects or the server closes.
 */
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/Either';
import Fastify from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import type { Logger } from 'pino';
import type { Config } from '../config/config';
import type { App } from '../container';
import { TOKENS } from '../container';
import { describeErrors, nonRetryable } from '../domain';
import type { Authenticator } from './auth';
import { bearerOf, staticAuthenticator } from './auth';
import { decodeInput, jsonDepth, MAX_JSON_DEPTH } from './decode-input';
import { ApiError, toHttpError } from './http-errors';
import { DOC_KEY, docSchemaOf, swaggerOptions } from './openapi';
import type { Access, AnyRoute, ApiDeps, EventStream, Principal } from './route';
import { allows } from './route';
import { ROUTES } from './routes';

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route fastify registered (method and URL, automatic HEAD routes included): the OpenAPI test checks the document against it. */
    readonly registeredRoutes: readonly { readonly method: string; readonly url: string }[];
  }
  interface FastifyRequest {
    /** Who is calling (set by the identify hook on routes that need a token). */
    principal?: Principal;
    /** An Authorization header was sent (to tell "no token" from "a token we do not know"). */
    authorizationSent?: boolean;
  }
}

export interface ServerOptions {
  /** Default: the static tokens of `api.tokens` and RESURRECT_API_TOKENS (auth.ts). */
  readonly authenticator?: Authenticator;
  /** Where RESURRECT_API_TOKENS is read from (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Default: the app's logger. */
  readonly log?: Logger;
  /** Default: the route table (routes/index.ts). */
  readonly routes?: readonly AnyRoute[];
  /** How often an idle event stream sends a comment line, so proxies and clients see it alive (default 15 s). */
  readonly heartbeatMs?: number;
}

export const DEFAULT_HEARTBEAT_MS = 15_000;

/** Logged values that must never appear, whatever a caller logs by mistake. */
const REDACT = [
  'req.headers.authorization', 'headers.authorization', '*.headers.authorization', 'authorization', '*.authorization',
  'token', '*.token', '*.tokens', 'password', '*.password', 'sha256', '*.sha256',
];

/** Longest path parameter the router matches; longer ones get 414 (ids are at most 128 characters). */
const MAX_PARAM_LENGTH = 512;

export async function buildServer(app: App, api: Config['api'], options: ServerOptions = {}): Promise<FastifyInstance> {
  const config = app.container.get<Config>(TOKENS.config);
  const base = options.log ?? app.container.get<Logger>(TOKENS.log);
  const log = base.child({ component: 'api' }, { redact: { paths: REDACT, censor: '[redacted]' } });
  const authenticator = options.authenticator ?? staticAuthenticator(api, options.env);
  const routes = options.routes ?? ROUTES;

  const server = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: api.bodyLimitBytes,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // A malformed URL (bad percent-encoding) is the client's error, answered in our shape.
    frameworkErrors: (error, request, reply) => sendError(reply, error, request),
  });
  const registered: { method: string; url: string }[] = [];
  server.decorate('registeredRoutes', registered);
  server.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) registered.push({ method, url: route.url });
  });
  server.decorateRequest('principal', undefined);
  server.decorateRequest('authorizationSent', false);

  // JSON only. An empty body with a JSON content type reads as no body (`curl -X POST -H 'content-type: …'`).
  const json = server.getDefaultJsonParser('error', 'error');
  server.removeAllContentTypeParsers();
  server.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.trim() === '') done(null, undefined);
    else if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) done(new ApiError(400, 'RSR_INPUT_INVALID', `request body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
    else json(request, text, done);
  });

  server.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    const access = accessOf(request);
    if (access === undefined || access === 'public') return;
    const header = request.headers.authorization;
    request.authorizationSent = header !== undefined;
    const token = bearerOf(header);
    if (token !== undefined) request.principal = await authenticator.authenticate(token);
  });

  await server.register(fastifyRateLimit, {
    global: true,
    max: api.rateLimit.max,
    timeWindow: api.rateLimit.windowMs,
    // Never the token itself: the principal's name, or the client address for everyone without a valid one.
    keyGenerator: (request: FastifyRequest) => (request.principal ? `token:${request.principal.name}` : `addr:${request.ip}`),
    errorResponseBuilder: (_request: FastifyRequest, context: { max: number; after: string }) =>
      new ApiError(429, 'RSR_API_RATE_LIMITED', `rate limit exceeded: at most ${context.max} requests per ${api.rateLimit.windowMs} ms; retry in ${context.after}`),
  });

  server.addHook('preParsing', async (request, _reply, payload) => {
    const access = accessOf(request);
    if (access === undefined || access === 'public') return payload;
    if (!request.principal) {
      const challenge = request.authorizationSent ? 'Bearer realm="resurrect", error="invalid_token"' : 'Bearer realm="resurrect"';
      throw new ApiError(401, 'RSR_API_UNAUTHENTICATED', request.authorizationSent
        ? 'the bearer token is not valid (Authorization: Bearer <token>)'
        : 'this route needs a bearer token (Authorization: Bearer <token>)', { headers: { 'www-authenticate': challenge } });
    }
    if (!allows(request.principal.role, access)) {
      throw new ApiError(403, 'RSR_API_FORBIDDEN', `${request.principal.name} has role ${request.principal.role}; this route needs ${access} or higher`);
    }
    return payload;
  });

  server.setErrorHandler((error, request, reply) => sendError(reply, error, request));
  server.setNotFoundHandler((request, reply) => {
    // The path only: a query string is not repeated back.
    const path = request.url.split('?')[0] ?? '';
    const url = path.length > 200 ? `${path.slice(0, 197)}...` : path;
    sendError(reply, new ApiError(404, 'RSR_API_NOT_FOUND', `no route ${request.method} ${url}`), request);
  });

  // Open event streams: the server closing ends them (an open stream would keep close() waiting forever).
  const streams = new Set<{ stop(): void; done: Promise<void> }>();
  server.addHook('preClose', async () => {
    const open = [...streams];
    for (const stream of open) stream.stop();
    await Promise.all(open.map((stream) => stream.done));
  });
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;

  let document: unknown;
  const deps: ApiDeps = {
    app, config, log,
    openapi: () => (document ??= server.swagger()),
  };

  await server.register(fastifySwagger, swaggerOptions({
    title: 'Resurrect API',
    version: 'v1',
    description: 'Policy-driven recovery of OpenStack VMs: incidents, recoveries, the mass-failure breaker, policies, SLAs and plans. Errors: {error: {code, message, path?}}. docs/api.md.',
  }));

  for (const route of routes) {
    server.route({
      method: route.method,
      url: route.url,
      config: { access: route.access, [DOC_KEY]: docSchemaOf(route), ...(route.unlimited ? { rateLimit: false } : {}) },
      handler: async (request, reply) => {
        const params = decodeInput('params', route.input.params, request.params);
        const query = decodeInput('query', route.input.query, request.query);
        const body = decodeInput('body', route.input.body, request.body);
        const headers = decodeInput('headers', route.input.headers, request.headers);
        // Aborted when the client goes away (the response closes before or after it is finished).
        const controller = new AbortController();
        reply.raw.once('close', () => controller.abort());
        const answer = await route.handler({ params, query, body, headers, principal: request.principal, deps, log: request.log as Logger, signal: controller.signal } as never);
        if ('events' in answer) {
          if (!route.response.events) throw nonRetryable('RSR_INTERNAL', `${route.method} ${route.url} answered with events but is not a streaming route`);
          streamEvents(route, answer, reply, { controller, heartbeatMs, streams, log: request.log as Logger });
          return reply;
        }
        const encoded = encodeAnswer(route, answer.status, answer.body, request.log as Logger);
        const contentType = answer.contentType ?? route.response.contentType ?? 'application/json; charset=utf-8';
        reply.code(answer.status).type(contentType);
        return typeof encoded === 'string' && !contentType.startsWith('application/json') ? encoded : JSON.stringify(encoded);
      },
    });
  }
  await server.ready();
  return server;
}

/** Starts listening; returns the URL. */
export async function listen(server: FastifyInstance, address: { host: string; port: number }): Promise<string> {
  return server.listen({ host: address.host, port: address.port });
}

/**
 * Writes a route's events to the client as `text/event-stream`: the headers at once (with those the hooks set:
 * request id, rate limit), then per event `id:`, `event:` and `data:` (its JSON, checked against the route's
 * event codec), a comment every `heartbeatMs` while idle, until the events end, the client disconnects or the
 * server closes. Ending returns the events' iterator, which frees what it holds (the feed's Redis connection).
 */
function streamEvents(route: AnyRoute, answer: EventStream, reply: FastifyReply, context: {
  controller: AbortController; heartbeatMs: number; streams: Set<{ stop(): void; done: Promise<void> }>; log: Logger;
}): void {
  const { controller, heartbeatMs, streams, log } = context;
  const codec = route.response.events as t.Mixed;
  const raw = reply.raw;
  reply.hijack();
  const headers: Record<string, string | number | string[]> = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value as string | number | string[];
  raw.writeHead(answer.status, {
    ...headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx and its kind would otherwise buffer the stream.
    'x-accel-buffering': 'no',
  });
  const iterator = answer.events[Symbol.asyncIterator]();
  if (reply.request.method === 'HEAD') {
    // The headers only (fastify answers HEAD with the GET route): no stream to hold open.
    raw.end();
    iterator.return?.()?.catch(() => undefined);
    return;
  }
  // A first comment sends the headers now: the client knows it is connected before any event.
  raw.write(': connected\n\n');
  const heartbeat = setInterval(() => { if (!raw.writableEnded && !raw.destroyed) raw.write(': heartbeat\n\n'); }, heartbeatMs);
  const entry = { stop: () => controller.abort(), done: Promise.resolve() };
  streams.add(entry);
  const stopped = new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true }));
  entry.done = (async () => {
    try {
      while (!controller.signal.aborted) {
        // An idle feed ends its blocking read when the signal aborts; the race makes sure the stream never waits for it.
        const next = await Promise.race([iterator.next(), stopped.then(() => undefined)]);
        if (next === undefined || next.done || controller.signal.aborted) break;
        const event = next.value;
        const checked = codec.decode(event.data);
        if (isLeft(checked)) {
          log.error({ problems: describeErrors(checked.left).slice(0, 10), id: event.id, route: `${route.method} ${route.url}` }, `an event of ${route.method} ${route.url} does not match its codec; not sent`);
          continue;
        }
        const frame = `id: ${oneLine(event.id)}\nevent: ${oneLine(event.event)}\ndata: ${JSON.stringify(codec.encode(checked.right))}\n\n`;
        if (!raw.write(frame)) await drained(raw, controller.signal);
      }
    } catch (err) {
      if (!controller.signal.aborted) log.error({ err }, `the event stream of ${route.method} ${route.url} failed: ${(err as Error).message}`);
    } finally {
      clearInterval(heartbeat);
      controller.abort();
      streams.delete(entry);
      if (!raw.writableEnded && !raw.destroyed) raw.end();
      // Frees what the events hold (the feed's connection also ends with the abort). Not awaited: an iterable
      // that ignored the signal must not keep the server from closing.
      iterator.return?.()?.catch(() => undefined);
    }
  })();
}

/** Field values of an event are single lines (a newline would start another field). */
function oneLine(text: string): string {
  return text.replace(/[\r\n]/g, ' ');
}

/** Resolves when the socket takes more (`drain`) or the stream is stopped. */
function drained(raw: NodeJS.WritableStream, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      raw.removeListener('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    raw.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

function accessOf(request: FastifyRequest): Access | undefined {
  return (request.routeOptions.config as { access?: Access } | undefined)?.access;
}

/** The answer must be one the route documents and pass its response codec: anything else is our bug (500). */
function encodeAnswer(route: AnyRoute, status: number, body: unknown, log: Logger): unknown {
  if (!(status in route.response.statuses)) {
    throw nonRetryable('RSR_INTERNAL', `${route.method} ${route.url} answered ${status}, which it does not document`);
  }
  const checked = (route.response.codec as t.Mixed).decode(body);
  if (isLeft(checked)) {
    const problems = describeErrors(checked.left).slice(0, 10);
    log.error({ problems, route: `${route.method} ${route.url}` }, `the answer of ${route.method} ${route.url} does not match its response codec`);
    throw nonRetryable('RSR_INTERNAL', `the answer of ${route.method} ${route.url} does not match its response codec`);
  }
  return (route.response.codec as t.Mixed).encode(checked.right);
}

function sendError(reply: FastifyReply, error: unknown, request: FastifyRequest): void {
  const answer = toHttpError(error, request.log as Logger, String(request.id));
  if (reply.sent) return;
  reply.code(answer.status).headers(answer.headers).type('application/json; charset=utf-8').send(JSON.stringify(answer.body));
}
