import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import YAML from 'yaml';
import type { InputError } from '../../../src/domain';
import { cloudsFileCandidates, loadCloudConfig, type CloudConfig } from '../../../src/drivers/cloud/openstack/clouds';

const SECRET = 'S3cret-pw-0f-the-cloud';

/** A fake machine: a working directory, a home, and an XDG config home, all empty. */
function machine() {
  const root = mkdtempSync(join(tmpdir(), 'rsr-clouds-'));
  const dirs = { cwd: join(root, 'work'), home: join(root, 'home'), xdg: join(root, 'xdg') };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  const write = (file: string, content: unknown) => {
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, typeof content === 'string' ? content : YAML.stringify(content));
    return file;
  };
  return { root, ...dirs, write };
}

const cloud = (authUrl: string, auth: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  auth: { auth_url: authUrl, username: 'admin', password: SECRET, project_name: 'admin', user_domain_name: 'Default', project_domain_name: 'Default', ...auth },
  ...extra,
});

const problemsOf = (error: unknown) => (error as InputError).paths.map((p) => `${p.path}: ${p.message}`);

test('openstack clouds: search order is OS_CLIENT_CONFIG_FILE, ./, $XDG_CONFIG_HOME/openstack, /etc/openstack', (t) => {
  const m = machine();
  t.deepEqual(cloudsFileCandidates({ XDG_CONFIG_HOME: m.xdg, OS_CLIENT_CONFIG_FILE: 'mine.yaml' }, m.cwd, m.home), [
    join(m.cwd, 'mine.yaml'),
    ...['.yaml', '.yml', '.json'].map((s) => join(m.cwd, `clouds${s}`)),
    ...['.yaml', '.yml', '.json'].map((s) => join(m.xdg, 'openstack', `clouds${s}`)),
    ...['.yaml', '.yml', '.json'].map((s) => `/etc/openstack/clouds${s}`),
  ]);
  t.is(cloudsFileCandidates({}, m.cwd, m.home)[3], join(m.home, '.config', 'openstack', 'clouds.yaml'), 'XDG_CONFIG_HOME defaults to ~/.config');
});

test('openstack clouds: the first clouds.yaml found wins; OS_CLOUD selects the entry, the cloud option overrides it', (t) => {
  const m = machine();
  m.write(join(m.xdg, 'openstack', 'clouds.yaml'), { clouds: { prod: cloud('https://xdg.example/v3'), lab: cloud('https://lab-xdg.example') } });
  const base = { cwd: m.cwd, home: m.home };
  t.is(loadCloudConfig({ ...base, env: { XDG_CONFIG_HOME: m.xdg, OS_CLOUD: 'prod' } }).authUrl, 'https://xdg.example/v3');
  t.is(loadCloudConfig({ ...base, cloud: 'lab', env: { XDG_CONFIG_HOME: m.xdg, OS_CLOUD: 'prod' } }).authUrl, 'https://lab-xdg.example');
  m.write(join(m.cwd, 'clouds.yml'), { clouds: { prod: cloud('https://cwd.example') } });
  const fromCwd = loadCloudConfig({ ...base, env: { XDG_CONFIG_HOME: m.xdg, OS_CLOUD: 'prod' } });
  t.is(fromCwd.authUrl, 'https://cwd.example');
  t.is(fromCwd.source, join(m.cwd, 'clouds.yml'));
  const override = m.write(join(m.root, 'elsewhere.yaml'), { clouds: { prod: cloud('https://override.example') } });
  t.is(loadCloudConfig({ ...base, env: { XDG_CONFIG_HOME: m.xdg, OS_CLOUD: 'prod', OS_CLIENT_CONFIG_FILE: override } }).authUrl, 'https://override.example');
  t.is(loadCloudConfig({ ...base, env: { XDG_CONFIG_HOME: m.xdg, OS_CLIENT_CONFIG_FILE: join(m.root, 'missing.yaml'), OS_CLOUD: 'prod' } }).authUrl, 'https://cwd.example', 'a missing OS_CLIENT_CONFIG_FILE is skipped, as openstacksdk does');
});

test('openstack clouds: a clouds.yaml entry resolves to auth, scope, region and interface', (t) => {
  const m = machine();
  const file = m.write(join(m.cwd, 'clouds.yaml'), {
    clouds: {
      prod: cloud('https://keystone.example:5000/v3', {}, { region_name: 'RegionTwo', interface: 'internalURL', compute_api_version: '2.79', compute_endpoint_override: 'https://nova.example/v2.1' }),
    },
  });
  const config = loadCloudConfig({ cloud: 'prod', cwd: m.cwd, home: m.home, env: {} });
  t.like(config, { name: 'prod', source: file, authUrl: 'https://keystone.example:5000/v3', region: 'RegionTwo', interface: 'internal', computeApiVersion: '2.79' });
  t.deepEqual(config.endpointOverrides, { compute: 'https://nova.example/v2.1' });
  t.like(config.auth, { type: 'password', user: { name: 'admin', domain: { name: 'Default' } }, scope: { project: { name: 'admin', domain: { name: 'Default' } } } });
  t.is(config.auth.type === 'password' ? config.auth.password.reveal() : '', SECRET);
  const overridden = loadCloudConfig({ cloud: 'prod', cwd: m.cwd, home: m.home, env: {}, interface: 'admin', region: 'RegionOne' });
  t.like(overridden, { interface: 'admin', region: 'RegionOne' });
});

test('openstack clouds: secure.yaml is merged over the cloud (passwords kept apart)', (t) => {
  const m = machine();
  const main = cloud('https://keystone.example/v3');
  delete (main.auth as Record<string, unknown>).password;
  m.write(join(m.cwd, 'clouds.yaml'), { clouds: { prod: main } });
  const secure = m.write(join(m.xdg, 'openstack', 'secure.yaml'), { clouds: { prod: { auth: { password: SECRET } } } });
  const config = loadCloudConfig({ cloud: 'prod', cwd: m.cwd, home: m.home, env: { XDG_CONFIG_HOME: m.xdg } });
  t.is(config.auth.type === 'password' ? config.auth.password.reveal() : '', SECRET);
  t.is(config.source, `${join(m.cwd, 'clouds.yaml')} + ${secure}`);
  t.is(config.authUrl, 'https://keystone.example/v3');
});

test('openstack clouds: without a secure.yaml the password is required, and the error says where', (t) => {
  const m = machine();
  const main = cloud('https://keystone.example/v3');
  delete (main.auth as Record<string, unknown>).password;
  const file = m.write(join(m.cwd, 'clouds.yaml'), { clouds: { prod: main } });
  const error = t.throws(() => loadCloudConfig({ cloud: 'prod', cwd: m.cwd, home: m.home, env: {} }));
  t.like(error, { code: 'RSR_CONFIG_INVALID' });
  t.deepEqual(problemsOf(error), [`${file}: clouds.prod.auth.password: required for password auth`]);
});

test('openstack clouds: OS_* variables build the cloud when no name is given', (t) => {
  const m = machine();
  const env = {
    OS_AUTH_URL: 'https://keystone.example:5000',
    OS_USERNAME: 'svc-resurrect',
    OS_PASSWORD: SECRET,
    OS_PROJECT_ID: 'a1b2',
    OS_USER_DOMAIN_NAME: 'Ops',
    OS_REGION_NAME: 'RegionOne',
    OS_INTERFACE: 'internal',
  };
  const config = loadCloudConfig({ env, cwd: m.cwd, home: m.home });
  t.like(config, { name: 'envvars', source: 'environment', authUrl: 'https://keystone.example:5000', region: 'RegionOne', interface: 'internal' });
  t.like(config.auth, { type: 'password', user: { name: 'svc-resurrect', domain: { name: 'Ops' } }, scope: { project: { id: 'a1b2' } } });
});

test('openstack clouds: an application credential from the environment, with or without OS_AUTH_TYPE', (t) => {
  const m = machine();
  const base = { OS_AUTH_URL: 'https://keystone.example/v3', OS_APPLICATION_CREDENTIAL_ID: 'ac-7', OS_APPLICATION_CREDENTIAL_SECRET: SECRET };
  for (const env of [{ ...base, OS_AUTH_TYPE: 'v3applicationcredential' }, { ...base, OS_AUTH_TYPE: 'application_credential' }, base]) {
    const config = loadCloudConfig({ env, cwd: m.cwd, home: m.home });
    t.like(config.auth, { type: 'application_credential', credential: { id: 'ac-7' } });
    t.is(config.auth.type === 'application_credential' ? config.auth.secret.reveal() : '', SECRET);
  }
  const byName = loadCloudConfig({ env: { OS_AUTH_URL: 'https://k.example', OS_APPLICATION_CREDENTIAL_NAME: 'resurrect', OS_APPLICATION_CREDENTIAL_SECRET: SECRET, OS_USERNAME: 'admin' }, cwd: m.cwd, home: m.home });
  t.like(byName.auth, { type: 'application_credential', credential: { name: 'resurrect', user: { name: 'admin', domain: { name: 'Default' } } } });
});

test('openstack clouds: nothing selected is an error that lists the clouds of the file found', (t) => {
  const m = machine();
  t.throws(() => loadCloudConfig({ env: {}, cwd: m.cwd, home: m.home }), { code: 'RSR_CONFIG_INVALID', message: /set OS_CLOUD/ });
  m.write(join(m.cwd, 'clouds.yaml'), { clouds: { a: cloud('https://a.example'), b: cloud('https://b.example') } });
  t.throws(() => loadCloudConfig({ env: {}, cwd: m.cwd, home: m.home }), { message: /has: a, b/ });
  t.throws(() => loadCloudConfig({ cloud: 'c', env: {}, cwd: m.cwd, home: m.home }), { code: 'RSR_CONFIG_INVALID', message: /no cloud named "c" \(clouds: a, b\)/ });
  m.write(join(m.cwd, 'clouds.yaml'), { clouds: { a: cloud('https://a.example'), broken: { auth: 'not a map' } } });
  t.is(loadCloudConfig({ cloud: 'a', env: {}, cwd: m.cwd, home: m.home }).name, 'a', 'a broken entry does not stop another from loading');
  t.throws(() => loadCloudConfig({ cloud: 'x', env: {}, cwd: join(m.root, 'home'), home: m.home }), { code: 'RSR_CONFIG_INVALID', message: /no clouds\.yaml found for cloud "x" \(searched / });
});

test('openstack clouds: an explicit cloudsYaml with a single cloud needs no name; several do', (t) => {
  const m = machine();
  const one = m.write(join(m.root, 'one.yaml'), { clouds: { only: cloud('https://only.example') } });
  t.is(loadCloudConfig({ cloudsYaml: one, env: {}, cwd: m.cwd, home: m.home }).name, 'only');
  const two = m.write(join(m.root, 'two.yaml'), { clouds: { a: cloud('https://a.example'), b: cloud('https://b.example') } });
  t.throws(() => loadCloudConfig({ cloudsYaml: two, env: {}, cwd: m.cwd, home: m.home }), { message: /several clouds \(a, b\)/ });
  t.throws(() => loadCloudConfig({ cloudsYaml: join(m.root, 'nope.yaml'), env: {}, cwd: m.cwd, home: m.home }), { code: 'RSR_CONFIG_INVALID', message: /nope\.yaml: no such file/ });
});

test('openstack clouds: type errors name the file and every field path, never the value', (t) => {
  const m = machine();
  const file = m.write(join(m.cwd, 'clouds.yaml'), {
    clouds: { prod: { auth: { auth_url: 'https://k.example', username: ['admin'], password: { value: SECRET } }, regions: 5, verify: 'perhaps' } },
  });
  const error = t.throws(() => loadCloudConfig({ cloud: 'prod', env: {}, cwd: m.cwd, home: m.home }));
  t.like(error, { code: 'RSR_CONFIG_INVALID' });
  t.deepEqual(problemsOf(error).sort(), [
    `${file}: clouds.prod.auth.password: expected string, got a object`,
    `${file}: clouds.prod.auth.username: expected string, got a list`,
    `${file}: clouds.prod.regions: expected Array<(string | { name: string })>, got a number`,
    `${file}: clouds.prod.verify: expected boolean, got a string`,
  ]);
  t.true(error!.message.startsWith(`${file}: `));
  t.false(error!.message.includes(SECRET));
  t.false(error!.message.includes('perhaps'));
});

test('openstack clouds: unknown auth options, unsupported auth types and insecure TLS are refused by path', (t) => {
  const m = machine();
  const file = m.write(join(m.cwd, 'clouds.yaml'), {
    clouds: {
      typo: { auth: { auth_url: 'https://k.example', username: 'a', pasword: SECRET, project_name: 'p' } },
      token: { auth_type: 'v3token', auth: { auth_url: 'https://k.example' } },
      insecure: { ...cloud('https://k.example'), verify: false },
      v2: cloud('https://k.example/v2.0'),
      unscoped: { auth: { auth_url: 'https://k.example', username: 'a', password: SECRET } },
    },
  });
  const load = (name: string) => t.throws(() => loadCloudConfig({ cloud: name, env: {}, cwd: m.cwd, home: m.home }));
  t.deepEqual(problemsOf(load('typo')), [`${file}: clouds.typo.auth.pasword: unsupported auth option`]);
  t.regex(problemsOf(load('token'))[0]!, /clouds\.token\.auth_type: unsupported/);
  t.regex(problemsOf(load('insecure'))[0]!, /clouds\.insecure\.verify: TLS verification cannot be turned off/);
  t.regex(problemsOf(load('v2'))[0]!, /clouds\.v2\.auth\.auth_url: Keystone v2\.0 is not supported/);
  t.regex(problemsOf(load('unscoped'))[0]!, /clouds\.unscoped\.auth\.project_name: a scope is required/);
});

test('openstack clouds: a YAML syntax error gives line and column, not the text around it', (t) => {
  const m = machine();
  const file = m.write(join(m.cwd, 'clouds.yaml'), `clouds:\n  prod:\n    auth:\n      password: "${SECRET}\n      username: admin\n`);
  const error = t.throws(() => loadCloudConfig({ cloud: 'prod', env: {}, cwd: m.cwd, home: m.home }));
  t.like(error, { code: 'RSR_CONFIG_INVALID' });
  t.regex(error!.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: YAML syntax error \\w+ at line \\d+, column \\d+`));
  t.false(JSON.stringify({ m: error!.message, p: (error as InputError).paths }).includes(SECRET));
});

test('openstack clouds: numbers in YAML are read as strings (ids, passwords)', (t) => {
  const m = machine();
  m.write(join(m.cwd, 'clouds.yaml'), 'clouds:\n  prod:\n    auth:\n      auth_url: https://k.example\n      user_id: 1234\n      password: 98765\n      project_id: 4321\n');
  const config: CloudConfig = loadCloudConfig({ cloud: 'prod', env: {}, cwd: m.cwd, home: m.home });
  t.like(config.auth, { type: 'password', user: { id: '1234' }, scope: { project: { id: '4321' } } });
  t.is(config.auth.type === 'password' ? config.auth.password.reveal() : '', '98765');
});
