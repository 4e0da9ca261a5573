import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import test from 'ava';
import pino from 'pino';
import YAML from 'yaml';
import { errorToJSON, systemClock } from '../../../src/domain';
import { loadCloudConfig } from '../../../src/drivers/cloud/openstack/clouds';
import { openstackCloudDriverFactory, type OpenStackCloudDriver } from '../../../src/drivers/cloud/openstack/openstack-cloud-driver';
import { fault, OpenStackStub, STUB_APP_SECRET, STUB_PASSWORD } from '../../helpers/openstack-stub';

const WRONG_PASSWORD = 'Wr0ng-but-still-s3cret';

test('openstack secrets: passwords, application credential secrets and tokens never reach logs or errors', async (t) => {
  const stub = await new OpenStackStub().start();
  t.teardown(() => stub.close());
  const out: string[] = [];
  const log = pino({ level: 'trace' }, new Writable({ write: (chunk: Buffer, _encoding, done) => { out.push(chunk.toString('utf8')); done(); } }));
  const dir = mkdtempSync(join(tmpdir(), 'rsr-os-secrets-'));
  const cloudsYaml = join(dir, 'clouds.yaml');
  const auth = { auth_url: stub.authUrl, username: 'admin', project_name: 'admin', user_domain_name: 'Default', project_domain_name: 'Default' };
  writeFileSync(cloudsYaml, YAML.stringify({
    clouds: {
      good: { auth: { ...auth, password: STUB_PASSWORD }, region_name: 'RegionOne' },
      bad: { auth: { ...auth, password: WRONG_PASSWORD } },
      app: { auth_type: 'v3applicationcredential', auth: { auth_url: stub.authUrl, application_credential_id: 'ac-1', application_credential_secret: STUB_APP_SECRET } },
      typed: { auth: { ...auth, password: [STUB_PASSWORD] } },
    },
  }));
  const context = { log, clock: systemClock };
  const create = (cloud: string) => openstackCloudDriverFactory.create({ cloudsYaml, cloud, retryBaseMs: 1, timeoutMs: 1500 }, context) as OpenStackCloudDriver;
  const errors: unknown[] = [];
  const failing = async (call: Promise<unknown>) => {
    errors.push(await t.throwsAsync(call));
  };

  // Successful work, a token revoked (re-authentication), retries, every kind of failure.
  const driver = create('good');
  await driver.listHosts();
  await driver.listInstances('compute-a');
  await driver.evacuate('vm-1');
  await driver.imageExists('img-1');
  stub.revokeAll();
  await driver.getInstance('vm-1');
  stub.intercept((r) => r.path.endsWith('/servers/vm-2'), { status: 503, text: 'busy' });
  await driver.getInstance('vm-2');
  stub.intercept((r) => r.path.endsWith('/servers/vm-1/action'), fault(400, 'Compute service of compute-a is still in use.'));
  await failing(driver.evacuate('vm-1'));
  stub.intercept((r) => r.path.endsWith('/servers/vm-3'), { hang: true });
  await failing(driver.getInstance('vm-3'));
  await failing(driver.getInstance('vm-nope'));
  await failing(create('bad').getInstance('vm-1'));
  const app = create('app');
  await app.getInstance('vm-1');
  errors.push(t.throws(() => create('typed')));
  errors.push(t.throws(() => loadCloudConfig({ cloud: 'good', cloudsYaml: writeYaml(dir, `clouds:\n  good:\n    auth:\n      password: "${STUB_PASSWORD}\n      username: x\n`), env: {} })));

  // Someone logs the configuration or the driver by mistake.
  log.info({ cloud: driver.cloud, app: app.cloud }, 'clouds in use');
  out.push(inspect(driver.cloud, { depth: 10 }), inspect(app, { depth: 4 }), JSON.stringify(driver.cloud));

  for (const error of errors) out.push(JSON.stringify(errorToJSON(error)), String((error as Error).stack), inspect(error, { depth: 10 }));
  const text = out.join('\n');

  // The secrets were really used (so their absence below means something)…
  t.true(stub.calls('identity').some((r) => JSON.stringify(r.body).includes(STUB_PASSWORD)));
  t.true(stub.calls('identity').some((r) => JSON.stringify(r.body).includes(STUB_APP_SECRET)));
  t.true(stub.calls('identity').some((r) => JSON.stringify(r.body).includes(WRONG_PASSWORD)));
  t.true(stub.tokens.size >= 2);
  // …and the logs and errors are about them.
  t.regex(text, /authenticated to cloud good/);
  t.regex(text, /token refused \(401\); authenticating again/);
  t.regex(text, /retrying/);
  t.regex(text, /Keystone refused to authenticate cloud "bad"/);
  t.regex(text, /clouds\.typed\.auth\.password: expected string/);
  t.regex(text, /YAML syntax error/);
  t.is(errors.length, 6);

  for (const secret of [STUB_PASSWORD, WRONG_PASSWORD, STUB_APP_SECRET, ...stub.tokens, ...stub.calls('compute').map((r) => String(r.headers['x-auth-token']))]) {
    t.false(text.includes(secret), `a secret leaked: ${secret.slice(0, 4)}…`);
  }
});

function writeYaml(dir: string, text: string): string {
  const file = join(dir, 'broken.yaml');
  writeFileSync(file, text);
  return file;
}
