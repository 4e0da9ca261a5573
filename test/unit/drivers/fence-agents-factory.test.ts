import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { Redis } from 'ioredis';
import pino from 'pino';
import YAML from 'yaml';
import { systemClock } from '../../../src/domain';
import { decodeFenceAgentsConfig } from '../../../src/drivers/fencing/fence-agent/config';
import { createAgentsFencing, fenceAgentsPlugin } from '../../../src/drivers/fencing/fence-agent/factory';
import { Keys } from '../../../src/engine/keys';
import { loadPlugins } from '../../../src/plugins/loader';
import { Registry } from '../../../src/plugins/registry';

const log = pino({ level: 'silent' });
const SECRET = 'hunter2-Sx9!q';
/** Manual devices only touch Redis when called; these tests never call them. */
const context = { log, clock: systemClock, redis: {} as Redis, keys: new Keys('rsr-t-factory') };

const SAMPLE = `
fencing:
  driver: agents
  options:
    defaults: { timeoutMs: 20000 }
    hosts:
      compute-1:
        - [ { agent: fence_redfish, options: { ip: 127.0.0.1, ipport: 8443, username: admin, password: ${SECRET}, ssl_insecure: "1", systems_uri: /redfish/v1/Systems/compute-1 } } ]
        - [ { manual: true } ]
`;

const configError = async (t: import('ava').ExecutionContext, options: unknown, ctx: Parameters<typeof createAgentsFencing>[1] = context) => {
  const error = await t.throwsAsync(createAgentsFencing(options, ctx));
  t.like(error, { code: 'RSR_CONFIG_INVALID' });
  t.false(JSON.stringify({ message: error!.message, details: (error as unknown as { details?: unknown }).details }).includes(SECRET), 'no secret in the error');
  return error!.message;
};

test('the sample configuration builds a topology: levels in order, a device per entry, ids naming agent and host', async (t) => {
  const options = (YAML.parse(SAMPLE) as { fencing: { options: unknown } }).fencing.options;
  const topology = await createAgentsFencing(options, context);
  t.deepEqual(topology.topology('compute-1'), [['fence_redfish:compute-1'], ['manual:compute-1']]);
  t.deepEqual(topology.topology('compute-2'), [], 'no template: other hosts have no devices');
});

test('a template serves every other host with {host} filled in, and its devices really run the agent', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rsr-template-'));
  for (const host of ['compute-7', 'compute-8']) writeFileSync(join(dir, `${host}.power`), 'on');
  const topology = await createAgentsFencing({
    defaults: { timeoutMs: 5000 },
    template: [[{ agent: 'fence_dummy', id: 'dummy-{host}', options: { status_file: join(dir, '{host}.power') } }]],
  }, context);
  t.deepEqual(topology.topology('compute-7'), [['dummy-compute-7']]);
  const report = await topology.fence('compute-7');
  t.like(report, { level: 1, devices: ['dummy-compute-7'], alreadyOff: false });
  t.is(readFileSync(join(dir, 'compute-7.power'), 'utf8'), 'off');
  t.is(readFileSync(join(dir, 'compute-8.power'), 'utf8'), 'on');
});

test('an unknown parameter is refused at creation, naming host, level, device and parameter, never its value', async (t) => {
  const message = await configError(t, {
    hosts: {
      'compute-1': [
        [{ agent: 'fence_dummy', options: { status_file: '/tmp/x' } }],
        [{ agent: 'fence_redfish', options: { ip: '10.0.0.1', username: 'admin', pasword: SECRET, lanplus: '1' } }],
      ],
    },
  });
  t.regex(message, /host compute-1 level 2 device 1 \(fence_redfish\): unknown parameters "pasword", "lanplus"/);
  t.notRegex(message, /level 1/);
});

test('an agent that is not installed, a name that is not an agent, a fixed option and a missing Redis are all reported at once', async (t) => {
  const message = await configError(t, {
    hosts: {
      'compute-1': [[{ agent: 'fence_nosuchagent', options: { password: SECRET } }], [{ manual: true }]],
      'compute-2': [[{ agent: '/bin/sh' }], [{ agent: 'fence_dummy', options: { action: 'on', password: SECRET } }]],
    },
  }, { log, clock: systemClock });
  t.regex(message, /host compute-1 level 1 device 1: no fence agent fence_nosuchagent found/);
  t.regex(message, /host compute-1 level 2 device 1: manual fencing needs the engine's Redis/);
  t.regex(message, /host compute-2 level 1 device 1: "\/bin\/sh" is not a fence agent name/);
  t.regex(message, /host compute-2 level 2 device 1 \(fence_dummy\): "action" is set by the fencer/);
});

test('the codec refuses typos, empty levels and bad values, without quoting values', (t) => {
  const typo = t.throws(() => decodeFenceAgentsConfig({ hosts: { 'compute-1': [[{ agent: 'fence_dummy', agnet: 'x' }], []] }, defautls: {} }));
  t.like(typo, { code: 'RSR_CONFIG_INVALID' });
  t.regex(typo!.message, /fencing\.options\.defautls: unknown key/);
  t.regex(typo!.message, /fencing\.options\.hosts\.compute-1\[0\]\[0\]\.agnet: unknown key/);
  t.regex(typo!.message, /fencing\.options\.hosts\.compute-1\[1\]: a level needs at least one device/);
  const bad = t.throws(() => decodeFenceAgentsConfig({ hosts: { 'compute-1': [[{ agent: 7, options: { password: { nested: SECRET } } }]] } }));
  t.like(bad, { code: 'RSR_CONFIG_INVALID' });
  t.regex(bad!.message, /compute-1/);
  t.false(bad!.message.includes(SECRET));
  t.false(JSON.stringify((bad as unknown as { details: unknown }).details).includes(SECRET));
});

test('the driver registers as fencing "agents" through a plugin and is created by name', async (t) => {
  const registry = new Registry();
  await loadPlugins({ builtin: [fenceAgentsPlugin], dirs: [], registry, log });
  const factory = registry.driver('fencing', 'agents');
  const topology = await factory.create({ hosts: { 'compute-1': [[{ agent: 'fence_ipmilan', options: { ip: '10.0.0.1', username: 'admin', password: SECRET, lanplus: '1' } }]] } }, { log, clock: systemClock });
  t.deepEqual((topology as { topology(h: string): unknown }).topology('compute-1'), [['fence_ipmilan:compute-1']]);
});
