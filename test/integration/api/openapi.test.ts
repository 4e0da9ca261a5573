/**
 * The OpenAPI document against the routes: every route of the table, and every route fastify registered, is
 * documented with its method, path parameters, query parameters, body schema, success statuses, security and
 * role; nothing is documented that is not routed; and the document is valid OpenAPI 3 (a maintained
 * validator, @seriousme/openapi-schema-validator).
 */
import test from 'ava';
import type * as t from 'io-ts';
import { Validator } from '@seriousme/openapi-schema-validator';
import { toJsonSchema } from '../../../src/api/json-schema';
import { BEARER_SCHEME, operationId } from '../../../src/api/openapi';
import { ROUTES } from '../../../src/api/routes';
import { createRedisFixture } from '../../helpers/redis';
import type { ApiHarness } from './harness';
import { startApi } from './harness';

const lifecycle = createRedisFixture();
let api: ApiHarness;
let doc: OpenApi;

interface Operation {
  operationId: string;
  summary: string;
  description: string;
  tags: string[];
  security: Record<string, string[]>[];
  'x-required-role': string;
  parameters?: { in: string; name: string; required: boolean; schema: Record<string, unknown> }[];
  requestBody?: { required: boolean; content: Record<string, { schema: { type?: string; properties?: Record<string, unknown>; required?: string[] } }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: Record<string, unknown> }> }>;
}
interface OpenApi {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, { type: string; scheme: string }> };
}

test.before(async () => {
  await lifecycle.setup();
  api = await startApi(lifecycle.fixture);
  const res = await api.request('GET', '/openapi.json');
  if (res.statusCode !== 200) throw new Error(res.body);
  doc = res.json() as OpenApi;
});
test.after.always(async () => {
  await api?.close();
  await lifecycle.teardown();
});

const openapiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');
const fastifyPath = (path: string) => path.replace(/\{(\w+)\}/g, ':$1');

test('the document is valid OpenAPI 3.0 (@seriousme/openapi-schema-validator)', async (t) => {
  const result = await new Validator().validate(structuredClone(doc) as never);
  t.true(result.valid, JSON.stringify(result.errors, null, 2));
  t.is(doc.openapi, '3.0.3');
  t.like(doc.components.securitySchemes[BEARER_SCHEME], { type: 'http', scheme: 'bearer' });
});

for (const route of ROUTES) {
  test(`${route.method} ${route.url} is documented: method, parameters, body, responses, security and role`, (t) => {
    const operation = doc.paths[openapiPath(route.url)]?.[route.method.toLowerCase()];
    if (!operation) return t.fail(`${route.method} ${openapiPath(route.url)} is not in the document`);
    t.is(operation.operationId, operationId(route));
    t.is(operation.summary, route.summary);
    t.deepEqual(operation.tags, [...route.tags]);
    t.is(operation['x-required-role'], route.access);
    if (route.access === 'public') {
      t.deepEqual(operation.security, []);
      t.regex(operation.description, /Public: no token needed/);
    } else {
      t.deepEqual(operation.security, [{ [BEARER_SCHEME]: [] }]);
      t.true(operation.description.includes(`role **${route.access}** or higher`), operation.description);
      t.truthy(operation.responses['401'] && operation.responses['403'], '401 and 403 documented');
    }

    const pathParams = [...route.url.matchAll(/:(\w+)/g)].map((m) => m[1]);
    const documentedPath = (operation.parameters ?? []).filter((p) => p.in === 'path');
    t.deepEqual(documentedPath.map((p) => p.name).sort(), [...pathParams].sort(), 'path parameters');
    t.true(documentedPath.every((p) => p.required));

    const queryProps = route.input.query ? Object.keys(toJsonSchema(route.input.query as t.Mixed).properties as object) : [];
    t.deepEqual((operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name).sort(), queryProps.sort(), 'query parameters');

    if (route.input.body) {
      const expected = toJsonSchema(route.input.body as t.Mixed);
      const schema = operation.requestBody?.content['application/json']?.schema;
      t.truthy(schema, 'request body documented');
      t.deepEqual(Object.keys(schema?.properties ?? {}).sort(), Object.keys((expected.properties ?? {}) as object).sort(), 'body properties');
      t.deepEqual([...(schema?.required ?? [])].sort(), [...((expected.required ?? []) as string[])].sort(), 'required body fields');
    } else {
      t.is(operation.requestBody, undefined, 'no body documented');
    }

    for (const status of Object.keys(route.response.statuses)) {
      const response = operation.responses[status];
      t.truthy(response?.content, `${status} documented with its schema`);
    }
    t.truthy(operation.responses['500']);
    const error = operation.responses['400']?.content?.['application/json']?.schema as { properties?: { error?: { properties?: object } } };
    t.deepEqual(Object.keys(error?.properties?.error?.properties ?? {}).sort(), ['code', 'message', 'path', 'paths'], 'the one error shape');
  });
}

test('nothing is documented that is not routed, and every route fastify serves is documented', (t) => {
  const documented = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${fastifyPath(path)}`)).sort();
  const registered = api.server.registeredRoutes.filter((r) => r.method !== 'HEAD').map((r) => `${r.method} ${r.url}`).sort();
  const table = ROUTES.map((r) => `${r.method} ${r.url}`).sort();
  t.deepEqual(documented, registered, 'the document lists exactly the routes fastify serves');
  t.deepEqual(documented, table, 'and those are the route table');
  for (const entry of documented) {
    const [method, url] = entry.split(' ') as [string, string];
    t.true(api.server.hasRoute({ method: method as 'GET', url }), entry);
  }
});

test('operation ids are unique', (t) => {
  const ids = ROUTES.map(operationId);
  t.is(new Set(ids).size, ids.length);
});

test('a streaming route is documented as text/event-stream, with the headers it reads as header parameters', (t) => {
  const streaming = ROUTES.filter((r) => r.response.events);
  t.deepEqual(streaming.map((r) => `${r.method} ${r.url}`), ['GET /api/v1/events']);
  for (const route of streaming) {
    const operation = doc.paths[openapiPath(route.url)]![route.method.toLowerCase()]!;
    t.deepEqual(Object.keys(operation.responses['200']?.content ?? {}), ['text/event-stream']);
    t.deepEqual(Object.keys(operation.responses['400']?.content ?? {}), ['application/json'], 'refusals are ordinary JSON errors');
    const headers = (operation.parameters ?? []).filter((p) => p.in === 'header').map((p) => p.name);
    t.deepEqual(headers, Object.keys(toJsonSchema(route.input.headers as t.Mixed).properties as object));
    t.true(headers.includes('last-event-id'));
  }
});
