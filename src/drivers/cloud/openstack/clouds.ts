/**
 * Where the OpenStack driver gets its cloud from, the way the OpenStack CLI (openstacksdk) finds it:
 *
 * 1. A cloud name — the `cloud` option, else `OS_CLOUD` — selects an entry of `clouds.yaml`. The file is the
 *    `cloudsYaml` option if given, else the first that exists of `$OS_CLIENT_CONFIG_FILE`, then
 *    `clouds.{yaml,yml,json}` in `./`, `$XDG_CONFIG_HOME/openstack` (default `~/.config/openstack`) and
 *    `/etc/openstack`. The first `secure.{yaml,yml,json}` found (`$OS_CLIENT_SECURE_FILE`, the same
 *    directories, then the directory of the clouds file) is deep-merged over it, so passwords can live apart.
 *    Environment variables do not change a named cloud (openstacksdk's rule, not the CLI's flag defaults).
 * 2. No name: the cloud is built from `OS_*` variables (`OS_AUTH_URL` must be set), like openstacksdk's
 *    `envvars` cloud.
 *
 * Only Keystone v3 with `password`/`v3password` or `v3applicationcredential`/`application_credential`
 * auth is supported; with no `auth_type`, an application credential secret and no password select the
 * latter. Every problem is an RSR_CONFIG_INVALID naming the file (or variable) and the field path; no
 * value from the file ever appears in a message, and secrets are kept in {@link Secret}s.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/Either';
import YAML from 'yaml';
import { InputError, type FieldProblem } from '../../../domain';
import { Secret } from './secret';

// ---- codecs ------------------------------------------------------------------------------------------

/** YAML turns `project_id: 1234` into a number; ids and passwords are strings all the same. */
const Text = new t.Type<string, string, unknown>(
  'string',
  (u): u is string => typeof u === 'string',
  (u, c) => (typeof u === 'string' ? t.success(u) : typeof u === 'number' && Number.isFinite(u) ? t.success(String(u)) : t.failure(u, c)),
  (s) => s,
);

const Flag = new t.Type<boolean, boolean, unknown>(
  'boolean',
  (u): u is boolean => typeof u === 'boolean',
  (u, c) => {
    if (typeof u === 'boolean') return t.success(u);
    if (typeof u === 'string' && /^(true|yes|1)$/i.test(u)) return t.success(true);
    if (typeof u === 'string' && /^(false|no|0)$/i.test(u)) return t.success(false);
    return t.failure(u, c);
  },
  (b) => b,
);

const AUTH_KEYS = [
  'auth_url', 'username', 'user_id', 'password', 'project_name', 'project_id', 'tenant_name', 'tenant_id',
  'user_domain_name', 'user_domain_id', 'project_domain_name', 'project_domain_id', 'domain_name', 'domain_id',
  'default_domain_id', 'default_domain_name', 'system_scope',
  'application_credential_id', 'application_credential_name', 'application_credential_secret',
] as const;
type AuthKey = (typeof AUTH_KEYS)[number];

export const AuthCodec = t.partial(Object.fromEntries(AUTH_KEYS.map((k) => [k, Text])) as Record<AuthKey, typeof Text>, 'Auth');

/** One entry of `clouds:`. Keys other tools use (volume versions, vendor profiles…) are allowed and ignored. */
export const CloudEntryCodec = t.partial({
  auth: AuthCodec,
  auth_type: Text,
  region_name: Text,
  regions: t.array(t.union([Text, t.type({ name: Text })])),
  interface: Text,
  endpoint_type: Text,
  identity_api_version: Text,
  compute_api_version: Text,
  verify: Flag,
  cacert: Text,
  compute_endpoint_override: Text,
  image_endpoint_override: Text,
}, 'Cloud');
export type CloudEntry = t.TypeOf<typeof CloudEntryCodec>;

/** The file: only its shape is checked here; the selected cloud is checked in full when it is resolved. */
export const CloudsFileCodec = t.type({ clouds: t.record(t.string, t.unknown) }, 'CloudsFile');

// ---- resolved configuration --------------------------------------------------------------------------

export type Interface = 'public' | 'internal' | 'admin';
export type DomainRef = { readonly id: string } | { readonly name: string };
export type UserRef = { readonly id: string } | { readonly name: string; readonly domain: DomainRef };
export type Scope =
  | { readonly project: { readonly id: string } | { readonly name: string; readonly domain: DomainRef } }
  | { readonly domain: DomainRef }
  | { readonly system: 'all' };

export type CloudAuth =
  | { readonly type: 'password'; readonly user: UserRef; readonly password: Secret; readonly scope: Scope }
  | { readonly type: 'application_credential'; readonly credential: { readonly id: string } | { readonly name: string; readonly user: UserRef }; readonly secret: Secret };

/** A cloud ready to authenticate against. Secrets are {@link Secret}s: logging this object is harmless. */
export interface CloudConfig {
  /** The clouds.yaml entry, or `envvars`. */
  readonly name: string;
  /** Where it came from: the file(s) read, or `environment`. Never a value. */
  readonly source: string;
  readonly authUrl: string;
  readonly auth: CloudAuth;
  readonly region?: string;
  readonly interface: Interface;
  /** `compute_api_version` of the cloud: caps the negotiated microversion like the driver's `microversion` option. */
  readonly computeApiVersion?: string;
  /** `<type>_endpoint_override`: used instead of the catalog for that service type. */
  readonly endpointOverrides: Readonly<Partial<Record<'compute' | 'image', string>>>;
}

export interface LoadCloudOptions {
  /** The cloud to select; default `$OS_CLOUD`. */
  readonly cloud?: string;
  /** Read this file instead of searching for clouds.yaml. */
  readonly cloudsYaml?: string;
  /** Override the cloud's `interface` / `region_name`. */
  readonly interface?: string;
  readonly region?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly home?: string;
}

const configInvalid = (message: string, problems: readonly FieldProblem[]) => new InputError(message, problems, 'RSR_CONFIG_INVALID');

// ---- search ------------------------------------------------------------------------------------------

const SUFFIXES = ['.yaml', '.yml', '.json'];

/** The directories openstacksdk searches, in order. */
export function configDirs(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd(), home = homedir()): string[] {
  const configHome = env.XDG_CONFIG_HOME ? env.XDG_CONFIG_HOME : join(home, '.config');
  return [cwd, join(configHome, 'openstack'), '/etc/openstack'];
}

/** Every clouds file candidate, in search order. */
export function cloudsFileCandidates(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd(), home = homedir()): string[] {
  const files = configDirs(env, cwd, home).flatMap((dir) => SUFFIXES.map((s) => join(dir, `clouds${s}`)));
  return env.OS_CLIENT_CONFIG_FILE ? [resolve(cwd, env.OS_CLIENT_CONFIG_FILE), ...files] : files;
}

function secureFileCandidates(cloudsFile: string, env: NodeJS.ProcessEnv, cwd: string, home: string): string[] {
  const dirs = configDirs(env, cwd, home);
  const own = dirname(cloudsFile);
  if (!dirs.includes(own)) dirs.push(own);
  const files = dirs.flatMap((dir) => SUFFIXES.map((s) => join(dir, `secure${s}`)));
  return env.OS_CLIENT_SECURE_FILE ? [resolve(cwd, env.OS_CLIENT_SECURE_FILE), ...files] : files;
}

// ---- loading -----------------------------------------------------------------------------------------

/** Resolves the cloud the driver will talk to (see the module comment for the rules). */
export function loadCloudConfig(options: LoadCloudOptions = {}): CloudConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const home = options.home ?? homedir();
  const name = options.cloud ?? (env.OS_CLOUD || undefined);
  const overrides = { interface: options.interface, region: options.region };

  if (name === undefined && options.cloudsYaml === undefined) {
    if (env.OS_AUTH_URL) return resolveCloud('envvars', 'environment', entryFromEnv(env), envField, env, overrides);
    const found = cloudsFileCandidates(env, cwd, home).find((f) => existsSync(f));
    const known = found ? Object.keys(readCloudsFile(found).clouds) : [];
    throw configInvalid(
      `no OpenStack cloud selected: set OS_CLOUD or the driver's "cloud" option${known.length ? ` (${found} has: ${known.join(', ')})` : ''}, or set OS_AUTH_URL and the other OS_* variables`,
      [{ path: 'cloud', message: 'no cloud selected' }],
    );
  }

  const file = options.cloudsYaml !== undefined ? resolve(cwd, options.cloudsYaml) : cloudsFileCandidates(env, cwd, home).find((f) => existsSync(f));
  if (file === undefined) {
    throw configInvalid(`no clouds.yaml found for cloud "${name}" (searched ${cloudsFileCandidates(env, cwd, home).join(', ')})`, [{ path: 'cloudsYaml', message: 'no clouds.yaml found' }]);
  }
  if (!existsSync(file)) throw configInvalid(`${file}: no such file`, [{ path: 'cloudsYaml', message: 'no such file' }]);
  const clouds = readCloudsFile(file);
  const secureFile = secureFileCandidates(file, env, cwd, home).find((f) => f !== file && existsSync(f));
  const secure = secureFile ? readCloudsFile(secureFile) : undefined;
  const selected = name ?? onlyCloud(file, clouds.clouds);
  if (!(selected in clouds.clouds)) {
    const known = Object.keys(clouds.clouds);
    throw configInvalid(`${file}: no cloud named "${selected}"${known.length ? ` (clouds: ${known.join(', ')})` : ''}`, [{ path: `clouds.${selected}`, message: 'no such cloud' }]);
  }
  const secureEntry = secure?.clouds[selected];
  const source = secureFile && secureEntry !== undefined && secureEntry !== null ? `${file} + ${secureFile}` : file;
  const merged = deepMerge(clouds.clouds[selected] ?? {}, secureEntry ?? {});
  const where = (field: string) => `${source}: clouds.${selected}.${field}`;
  return resolveCloud(selected, source, decodeEntry(merged, where), where, env, overrides);
}

/** Checks one cloud entry: types (by path, without values) and auth options this driver does not know. */
function decodeEntry(raw: unknown, where: (field: string) => string): CloudEntry {
  const decoded = CloudEntryCodec.decode(raw);
  const problems = isLeft(decoded) ? valuelessProblems(decoded.left).map((p) => ({ path: where(p.path), message: p.message })) : [];
  const auth = typeof raw === 'object' && raw !== null ? (raw as { auth?: unknown }).auth : undefined;
  if (typeof auth === 'object' && auth !== null && !Array.isArray(auth)) {
    for (const key of Object.keys(auth)) {
      if (!(AUTH_KEYS as readonly string[]).includes(key)) problems.push({ path: where(`auth.${key}`), message: 'unsupported auth option' });
    }
  }
  if (problems.length > 0 || isLeft(decoded)) throw configInvalid(problems.map((p) => `${p.path}: ${p.message}`).join('; '), problems);
  return decoded.right;
}

/** `cloudsYaml` given without a cloud name: a file with one cloud needs no name. */
function onlyCloud(file: string, clouds: Record<string, unknown>): string {
  const names = Object.keys(clouds);
  if (names.length === 1) return names[0]!;
  throw configInvalid(`${file}: several clouds (${names.join(', ')}); choose one with OS_CLOUD or the "cloud" option`, [{ path: 'cloud', message: 'no cloud selected' }]);
}

/** Parses and validates a clouds/secure file. YAML errors carry position only: their excerpts would show the file. */
export function readCloudsFile(file: string): t.TypeOf<typeof CloudsFileCodec> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw configInvalid(`${file}: cannot read (${code})`, [{ path: '(file)', message: `cannot read (${code})` }]);
  }
  const doc = YAML.parseDocument(text);
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => {
      const at = e.linePos?.[0];
      return { path: '(file)', message: `YAML syntax error ${e.code}${at ? ` at line ${at.line}, column ${at.col}` : ''}` };
    });
    throw configInvalid(`${file}: ${problems.map((p) => p.message).join('; ')}`, problems);
  }
  const value: unknown = doc.toJS() ?? {};
  const decoded = CloudsFileCodec.decode(value);
  if (isLeft(decoded)) {
    const problems = valuelessProblems(decoded.left);
    throw configInvalid(`${file}: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems);
  }
  return decoded.right;
}

/**
 * io-ts failures as field paths and expected types, never the offending value (it may be a password typed
 * into the wrong field).
 */
function valuelessProblems(errors: t.Errors): FieldProblem[] {
  const seen = new Set<string>();
  const out: FieldProblem[] = [];
  for (const error of errors) {
    const keys: string[] = [];
    error.context.forEach((entry, i) => {
      if (i === 0 || entry.key === '') return;
      const parent = error.context[i - 1]?.type;
      if (parent instanceof t.UnionType || parent instanceof t.IntersectionType) return;
      keys.push(/^\d+$/.test(entry.key) ? `[${entry.key}]` : `.${entry.key}`);
    });
    const path = keys.join('').replace(/^\./, '') || '(root)';
    const expected = error.context[error.context.length - 1]?.type.name ?? 'value';
    const message = `expected ${expected}, got ${kindOf(error.value)}`;
    if (seen.has(`${path}|${message}`)) continue;
    seen.add(`${path}|${message}`);
    out.push({ path, message });
  }
  return out;
}

const kindOf = (u: unknown): string => (u === null ? 'null' : Array.isArray(u) ? 'a list' : u === undefined ? 'nothing' : `a ${typeof u}`);

function deepMerge(base: unknown, over: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base) || typeof over !== 'object' || over === null || Array.isArray(over)) return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? deepMerge(out[k], v) : v;
  return out;
}

// ---- environment -------------------------------------------------------------------------------------

/** OS_* variable → clouds.yaml field (`auth.` prefix for auth options); the first variable set wins. */
const ENV_FIELDS: readonly (readonly [string, string])[] = [
  ['OS_AUTH_URL', 'auth.auth_url'],
  ['OS_USERNAME', 'auth.username'],
  ['OS_USER_ID', 'auth.user_id'],
  ['OS_PASSWORD', 'auth.password'],
  ['OS_PROJECT_NAME', 'auth.project_name'],
  ['OS_TENANT_NAME', 'auth.project_name'],
  ['OS_PROJECT_ID', 'auth.project_id'],
  ['OS_TENANT_ID', 'auth.project_id'],
  ['OS_USER_DOMAIN_NAME', 'auth.user_domain_name'],
  ['OS_USER_DOMAIN_ID', 'auth.user_domain_id'],
  ['OS_PROJECT_DOMAIN_NAME', 'auth.project_domain_name'],
  ['OS_PROJECT_DOMAIN_ID', 'auth.project_domain_id'],
  ['OS_DOMAIN_NAME', 'auth.domain_name'],
  ['OS_DOMAIN_ID', 'auth.domain_id'],
  ['OS_DEFAULT_DOMAIN_ID', 'auth.default_domain_id'],
  ['OS_DEFAULT_DOMAIN_NAME', 'auth.default_domain_name'],
  ['OS_DEFAULT_DOMAIN', 'auth.default_domain_id'],
  ['OS_SYSTEM_SCOPE', 'auth.system_scope'],
  ['OS_APPLICATION_CREDENTIAL_ID', 'auth.application_credential_id'],
  ['OS_APPLICATION_CREDENTIAL_NAME', 'auth.application_credential_name'],
  ['OS_APPLICATION_CREDENTIAL_SECRET', 'auth.application_credential_secret'],
  ['OS_AUTH_TYPE', 'auth_type'],
  ['OS_REGION_NAME', 'region_name'],
  ['OS_INTERFACE', 'interface'],
  ['OS_ENDPOINT_TYPE', 'interface'],
  ['OS_IDENTITY_API_VERSION', 'identity_api_version'],
  ['OS_COMPUTE_API_VERSION', 'compute_api_version'],
  ['OS_CACERT', 'cacert'],
];

function entryFromEnv(env: NodeJS.ProcessEnv): CloudEntry {
  const auth: Record<string, string> = {};
  const entry: Record<string, unknown> = {};
  for (const [variable, field] of ENV_FIELDS) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    if (field.startsWith('auth.')) auth[field.slice(5)] ??= value;
    else entry[field] ??= value;
  }
  if (env.OS_INSECURE && /^(true|1|yes)$/i.test(env.OS_INSECURE)) entry.verify = false;
  return { ...entry, auth } as CloudEntry;
}

/** Names the variable behind a field, for messages about an environment-built cloud. */
function envField(field: string): string {
  const found = ENV_FIELDS.find(([, f]) => f === field);
  return found ? `environment: ${found[0]}` : `environment: ${field}`;
}

// ---- resolution --------------------------------------------------------------------------------------

const INTERFACES: Record<string, Interface> = {
  public: 'public', publicurl: 'public', internal: 'internal', internalurl: 'internal', admin: 'admin', adminurl: 'admin',
};

function resolveCloud(
  name: string,
  source: string,
  entry: CloudEntry,
  where: (field: string) => string,
  env: NodeJS.ProcessEnv,
  overrides: { interface?: string | undefined; region?: string | undefined },
): CloudConfig {
  const problems: FieldProblem[] = [];
  const fail = (field: string, message: string) => problems.push({ path: where(field), message });
  const auth = entry.auth ?? {};

  const authUrl = auth.auth_url;
  if (authUrl === undefined) fail('auth.auth_url', 'required');
  else if (!/^https?:\/\/[^/\s]+/i.test(authUrl)) fail('auth.auth_url', 'must be an http(s) URL');
  else if (/\/v2\.0\/?$/.test(authUrl)) fail('auth.auth_url', 'Keystone v2.0 is not supported; use the v3 endpoint');
  if (entry.identity_api_version !== undefined && !/^3(\.\d+)?$/.test(entry.identity_api_version)) fail('identity_api_version', 'only Keystone v3 is supported');

  const rawInterface = overrides.interface ?? entry.interface ?? entry.endpoint_type ?? 'public';
  const iface = INTERFACES[rawInterface.toLowerCase()];
  if (!iface) fail('interface', 'expected public, internal or admin');
  const regions = (entry.regions ?? []).map((r) => (typeof r === 'string' ? r : r.name));
  const region = overrides.region ?? entry.region_name ?? regions[0];

  if (entry.verify === false) fail('verify', 'TLS verification cannot be turned off for this driver');
  if (entry.cacert !== undefined && resolve(entry.cacert) !== resolve(env.NODE_EXTRA_CA_CERTS ?? '/nonexistent')) {
    fail('cacert', 'start resurrect with NODE_EXTRA_CA_CERTS set to this file (Node reads extra CAs at start-up only)');
  }
  const computeApiVersion = entry.compute_api_version;
  if (computeApiVersion !== undefined && !/^2(\.\d+)?$/.test(computeApiVersion)) fail('compute_api_version', 'expected 2 or 2.N');

  const cloudAuth = resolveAuth(entry, auth, fail);
  if (problems.length > 0 || !cloudAuth || !authUrl || !iface) {
    throw configInvalid(`invalid OpenStack cloud "${name}": ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems);
  }
  const endpointOverrides: Partial<Record<'compute' | 'image', string>> = {};
  if (entry.compute_endpoint_override) endpointOverrides.compute = entry.compute_endpoint_override;
  if (entry.image_endpoint_override) endpointOverrides.image = entry.image_endpoint_override;
  return {
    name,
    source,
    authUrl,
    auth: cloudAuth,
    ...(region === undefined ? {} : { region }),
    interface: iface,
    // "2" alone means "the default" to openstacksdk; only 2.N caps the microversion.
    ...(computeApiVersion !== undefined && computeApiVersion.includes('.') ? { computeApiVersion } : {}),
    endpointOverrides,
  };
}

function resolveAuth(entry: CloudEntry, auth: NonNullable<CloudEntry['auth']>, fail: (field: string, message: string) => void): CloudAuth | undefined {
  const appSecret = auth.application_credential_secret;
  const inferred = entry.auth_type ?? (appSecret !== undefined && auth.password === undefined ? 'v3applicationcredential' : 'password');
  const type = inferred.toLowerCase().replace(/^v3/, '').replace(/-/g, '_');
  const defaultDomain: DomainRef = auth.default_domain_id !== undefined ? { id: auth.default_domain_id } : { name: auth.default_domain_name ?? 'Default' };
  const domainOf = (id: string | undefined, name: string | undefined): DomainRef => (id !== undefined ? { id } : name !== undefined ? { name } : defaultDomain);
  const user: UserRef | undefined = auth.user_id !== undefined
    ? { id: auth.user_id }
    : auth.username !== undefined ? { name: auth.username, domain: domainOf(auth.user_domain_id, auth.user_domain_name) } : undefined;

  if (type === 'password') {
    const password = auth.password;
    if (password === undefined) fail('auth.password', 'required for password auth');
    if (!user) fail('auth.username', 'required for password auth (or auth.user_id)');
    let scope: Scope | undefined;
    const projectId = auth.project_id ?? auth.tenant_id;
    const projectName = auth.project_name ?? auth.tenant_name;
    if (projectId !== undefined) scope = { project: { id: projectId } };
    else if (projectName !== undefined) scope = { project: { name: projectName, domain: domainOf(auth.project_domain_id, auth.project_domain_name) } };
    else if (auth.domain_id !== undefined || auth.domain_name !== undefined) scope = { domain: domainOf(auth.domain_id, auth.domain_name) };
    else if (auth.system_scope !== undefined) {
      if (auth.system_scope === 'all') scope = { system: 'all' };
      else fail('auth.system_scope', 'only "all" is supported');
    } else fail('auth.project_name', 'a scope is required (project_name or project_id; or domain_*, system_scope)');
    if (password === undefined || !user || !scope) return undefined;
    return { type: 'password', user, password: new Secret(password), scope };
  }
  if (type === 'applicationcredential' || type === 'application_credential') {
    if (appSecret === undefined) fail('auth.application_credential_secret', 'required for application credential auth');
    let credential: { id: string } | { name: string; user: UserRef } | undefined;
    if (auth.application_credential_id !== undefined) credential = { id: auth.application_credential_id };
    else if (auth.application_credential_name !== undefined) {
      if (user) credential = { name: auth.application_credential_name, user };
      else fail('auth.username', 'required with application_credential_name (or auth.user_id)');
    } else fail('auth.application_credential_id', 'required for application credential auth (or application_credential_name)');
    if (appSecret === undefined || !credential) return undefined;
    return { type: 'application_credential', credential, secret: new Secret(appSecret) };
  }
  fail('auth_type', 'unsupported: use password, v3password, application_credential or v3applicationcredential');
  return undefined;
}
