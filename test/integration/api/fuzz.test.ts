/**
 * Property: for every route of the table, malformed params, query strings, bodies (wrong types, missing
 * and extra fields, huge strings, unicode, nested junk, text that is not JSON) and the headers a route reads
 * (`Last-Event-ID`) never get a 5xx, and the
 * requests the API refuses leave the engine's Redis exactly as it was (a DUMP of every key under the app's
 * prefix, before and after). No worker runs, so nothing else writes meanwhile. A streaming route that accepts
 * what it got answers 200 and streams: the harness reads it briefly and disconnects.
 */
import test from 'ava';
import fc from 'fast-check';
import type * as t from 'io-ts';
import { decodeInput } from '../../../src/api/decode-input';
import type { JsonSchema } from '../../../src/api/json-schema';
import { toJsonSchema } from '../../../src/api/json-schema';
import { operationId } from '../../../src/api/openapi';
import type { AnyRoute } from '../../../src/api/route';
import { ROUTES } from '../../../src/api/routes';
import { createRedisFixture } from '../../helpers/redis';
import type { ApiHarness } from './harness';
import { sampleOf, snapshotKeys, startApi, TOKENS } from './harness';

const RUNS_PER_ROUTE = Number(process.env.API_FUZZ_RUNS ?? 200);
const BODY_LIMIT = 128 * 1024;

const lifecycle = createRedisFixture();
let api: ApiHarness;

test.before(async () => {
  await lifecycle.setup();
  api = await startApi(lifecycle.fixture, { api: { bodyLimitBytes: BODY_LIMIT } });
  // Some state to protect: an open incident, its queued recovery and audit trail.
  const opened = await api.request('POST', '/api/v1/incidents', { token: TOKENS.operator, body: { kind: 'host-degraded', host: 'compute-4' } });
  if (opened.statusCode !== 201) throw new Error(`seeding failed: ${opened.body}`);
});
test.after.always(async () => {
  await api?.close();
  await lifecycle.teardown();
});

type JsonType = 'string' | 'number' | 'boolean' | 'null' | 'array' | 'object';
const JSON_TYPES: readonly JsonType[] = ['string', 'number', 'boolean', 'null', 'array', 'object'];

/** The JSON types a schema accepts (all of them when it does not say). */
function acceptedTypes(schema: JsonSchema): Set<JsonType> {
  if (Array.isArray(schema.anyOf)) return new Set((schema.anyOf as JsonSchema[]).flatMap((s) => [...acceptedTypes(s)]));
  if (Array.isArray(schema.allOf)) return acceptedTypes((schema.allOf as JsonSchema[])[0] ?? {});
  if (schema.type === 'integer') return new Set(['number']);
  if (typeof schema.type === 'string') return new Set([schema.type as JsonType]);
  if (Array.isArray(schema.enum)) return new Set((schema.enum as unknown[]).map((v) => (v === null ? 'null' : typeof v) as JsonType));
  return new Set(JSON_TYPES);
}

const valueOfType: Record<JsonType, fc.Arbitrary<unknown>> = {
  string: fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 200 })),
  number: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })),
  boolean: fc.boolean(),
  null: fc.constant(null),
  array: fc.array(fc.jsonValue(), { maxLength: 5 }),
  object: fc.dictionary(fc.string({ unit: 'binary', maxLength: 20 }), fc.jsonValue(), { maxKeys: 5 }),
};

/** A value of a JSON type the schema does not accept. */
function wrongType(schema: JsonSchema): fc.Arbitrary<unknown> | undefined {
  const accepted = acceptedTypes(schema);
  const others = JSON_TYPES.filter((type) => !accepted.has(type));
  return others.length === 0 ? undefined : fc.oneof(...others.map((type) => valueOfType[type]));
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const huge = fc.integer({ min: 2_000, max: 3 * BODY_LIMIT }).map((n) => 'x'.repeat(n));
const nasty = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }),
  fc.constantFrom('../../etc/passwd', '%00', '\u0000', ' ', 'a b', '<script>', "'; DROP TABLE", '\u202e', '😀'.repeat(40), '__proto__', 'constructor', 'toString'),
  huge,
);

interface Attempt {
  readonly url: string;
  readonly body?: unknown;
  /** Sent as is with Content-Type application/json (not JSON text). */
  readonly raw?: string;
  readonly headers?: Record<string, string>;
  readonly what: string;
}

/** Malformed bodies: invalid by construction, or checked against the route's own codecs. */
function bodies(route: AnyRoute, url: string, sample: unknown): fc.Arbitrary<Attempt>[] {
  const schema = route.input.body ? toJsonSchema(route.input.body as t.Mixed) : { type: 'null' };
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = (schema.required ?? []) as string[];
  const base = isPlainObject(sample) ? sample : {};
  const out: fc.Arbitrary<Attempt>[] = [
    fc.oneof(valueOfType.string, valueOfType.number, valueOfType.boolean, valueOfType.array, fc.constant(null))
      .map((body) => ({ url, body, what: 'not an object' })),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 200 })
      .filter((text) => text.trim() !== '' && !parses(text))
      .map((raw) => ({ url, raw, what: 'not JSON' })),
    fc.tuple(fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), fc.constantFrom('constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf')).filter((k) => !Object.hasOwn(properties, k)), fc.jsonValue())
      .map(([key, value]) => ({ url, body: { ...base, [key]: value }, what: `extra key ${JSON.stringify(key)}` })),
    fc.jsonValue({ maxDepth: 6 }).map((junk) => ({ url, body: { ...base, nested: { deeper: [junk, { junk }] } }, what: 'nested junk' })),
    // Nesting deep enough to exhaust a recursive decoder or JSON.stringify.
    fc.tuple(fc.constantFrom(...Object.keys(properties), 'nested'), fc.oneof(fc.integer({ min: 33, max: 200 }), fc.integer({ min: 5_000, max: 60_000 })), fc.constantFrom('[]', '{"a":}'))
      .map(([key, depth, kind]) => {
        const [open, close] = kind === '[]' ? ['[', ']'] : ['{"a":', '}'];
        const inner = kind === '[]' ? '' : '1';
        return { url, raw: `{${JSON.stringify(key)}:${open.repeat(depth)}${inner}${close.repeat(depth)}}`, what: `${key}: nested ${depth} deep` };
      }),
  ];
  if (required.length > 0) {
    out.push(fc.constantFrom(...required).map((key) => {
      const body = { ...base };
      delete body[key];
      return { url, body, what: `missing ${key}` };
    }));
  }
  for (const [key, prop] of Object.entries(properties)) {
    const wrong = wrongType(prop);
    if (wrong) out.push(wrong.map((value) => ({ url, body: { ...base, [key]: value }, what: `${key}: wrong type` })));
    out.push(nasty.map((value) => ({ url, body: { ...base, [key]: value }, what: `${key}: odd string` })));
  }
  return out;
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** encodeURIComponent throws on a lone surrogate: those become U+FFFD, as a client would have to send them. */
const encode = (text: string) => encodeURIComponent(text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD'));

/** The sample URL with its path parameters replaced by junk. */
function params(route: AnyRoute, sample: { url: string; body?: unknown }): fc.Arbitrary<Attempt>[] {
  const template = route.url.split('/');
  if (!template.some((segment) => segment.startsWith(':'))) return [];
  const segments = sample.url.split('?')[0]!.split('/');
  return [nasty.map((value) => ({
    url: segments.map((segment, i) => (template[i]?.startsWith(':') ? encode(value) : segment)).join('/'),
    ...(sample.body !== undefined ? { body: sample.body } : {}),
    what: 'odd path parameter',
  }))];
}

/** The sample with junk query parameters (known keys with odd values, unknown keys). */
function queries(route: AnyRoute, sample: { url: string; body?: unknown }): fc.Arbitrary<Attempt> {
  const path = sample.url.split('?')[0]!;
  const keys = route.input.query ? Object.keys((toJsonSchema(route.input.query as t.Mixed).properties ?? {}) as object) : [];
  const key = keys.length > 0 ? fc.oneof(fc.constantFrom(...keys), fc.string({ minLength: 1, maxLength: 20 })) : fc.string({ minLength: 1, maxLength: 20 });
  return fc.array(fc.tuple(key, fc.oneof(nasty.filter((s) => s.length < 4000), fc.integer().map(String))), { minLength: 1, maxLength: 4 }).map((pairs) => ({
    url: `${path}?${pairs.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&')}`,
    ...(sample.body !== undefined ? { body: sample.body } : {}),
    what: 'odd query',
  }));
}

/** The sample with odd values of the headers the route reads (`Last-Event-ID`): printable text, numbers past 64 bits. */
function headers(route: AnyRoute, sample: { url: string; body?: unknown }): fc.Arbitrary<Attempt>[] {
  if (!route.input.headers) return [];
  const names = Object.keys((toJsonSchema(route.input.headers as t.Mixed).properties ?? {}) as object);
  const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 300 });
  const value = fc.oneof(
    printable,
    fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String),
    fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 25n }), fc.bigInt({ min: -5n, max: 10n ** 25n })).map(([a, b]) => `${a}-${b}`),
    fc.constantFrom('$', '0', '-', '0-', '-0', '1-2-3', '18446744073709551616', '18446744073709551615-18446744073709551616', ' 1', 'x'.repeat(5000)),
  );
  return [fc.tuple(fc.constantFrom(...names), value).map(([name, v]) => ({
    url: sample.url, headers: { [name]: v }, ...(sample.body !== undefined ? { body: sample.body } : {}), what: 'odd header',
  }))];
}

/** Would the route's own decoding refuse these inputs? (Mutations can land on a valid value by chance.) */
function refusedByCodecs(route: AnyRoute, attempt: Attempt): boolean {
  if (attempt.raw !== undefined) return true;
  try {
    decodeInput('body', route.input.body, attempt.body);
    return false;
  } catch {
    return true;
  }
}

for (const route of ROUTES) {
  test(`fuzz ${route.method} ${route.url}: malformed input never gets a 5xx; refusals change nothing`, async (t) => {
    const sample = sampleOf(route);
    if (!sample) return t.fail(`no sample request for ${operationId(route)} in harness.ts`);
    const before = await snapshotKeys(api.app, api.prefix);
    t.true(before.size > 0, 'there is state to protect');
    // fastify does not read the body of a GET: fuzz what a GET takes, its path and query string.
    const attempts = fc.oneof(...(route.method === 'GET' ? [] : bodies(route, sample.url, sample.body)), ...params(route, sample), ...headers(route, sample), queries(route, sample));
    let refused = 0;
    const statuses: Record<number, number> = {};
    await fc.assert(fc.asyncProperty(attempts, async (attempt) => {
      const bodyMutation = attempt.what !== 'odd query' && attempt.what !== 'odd path parameter' && attempt.what !== 'odd header';
      // A body mutation that happens to be valid is not malformed input: skip it (mutating routes would act on it).
      fc.pre(!bodyMutation || refusedByCodecs(route, attempt));
      const res = await api.request(route.method, attempt.url, {
        token: TOKENS.admin,
        ...(attempt.headers ? { headers: attempt.headers } : {}),
        ...(attempt.raw !== undefined ? { raw: attempt.raw } : attempt.body !== undefined ? { body: attempt.body } : {}),
      });
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
      const notReady = route.url === '/readyz' && res.statusCode === 503 && res.json().ready === false;
      if (res.statusCode >= 500 && !notReady) throw new Error(`${attempt.what}: ${res.statusCode} ${res.body}`);
      if (route.mutates && res.statusCode < 400) throw new Error(`${attempt.what}: a mutating route accepted malformed input (${res.statusCode} ${res.body})`);
      if (res.statusCode >= 400 && !notReady) {
        refused++;
        const error = res.json().error;
        if (typeof error?.code !== 'string' || typeof error?.message !== 'string') throw new Error(`${attempt.what}: not the error shape: ${res.body}`);
      }
    }), { numRuns: RUNS_PER_ROUTE });
    t.log(`answers: ${JSON.stringify(statuses)}`);
    t.true(refused > 0, 'some requests were refused');
    t.deepEqual(await snapshotKeys(api.app, api.prefix), before, 'the refused requests changed nothing in Redis');
  });
}
