import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { nonRetryable, toResurrectError } from '../../../../domain';
import { applySimCommand, type SimCommand, type SimReply } from '../../../../engine/control-channel';
import { SIM_FAIL_MODES, type SimFailMode, type SimWorld } from '../world';
import type { Keystone } from './keystone';

/*
 * Test and demo hooks of the served world, under /sim. No authentication: the server listens on loopback
 * only, and these are the backdoor a test uses to break the world the API shows (the same commands
 * `resurrect sim …` sends to a running engine). There is no engine here, so nothing can be reported.
 *
 *   POST   /sim/control      {"op":"fail","target":"compute-3","mode":"power"} | {"op":"recover","host":…}
 *                            | {"op":"fault","spec":{…FaultSpec}} | {"op":"status"}  →  SimReply
 *   GET    /sim/counters     world.counters()
 *   GET    /sim/state        world.snapshot()
 *   GET    /sim/faults       world.faults()
 *   DELETE /sim/faults/{id}  world.clearFault(id)
 *   POST   /sim/keystone/expire-tokens  every token issued so far expires now  →  {expired: n}
 */

type ServedCommand = Exclude<SimCommand, { op: 'report' } | { op: 'plan' }>;

export function controlRoutes(options: { readonly world: SimWorld; readonly keystone: Keystone; readonly log: Logger }) {
  const { world, keystone, log } = options;
  return async (app: FastifyInstance): Promise<void> => {
    app.setErrorHandler((error, _request, reply) => {
      const e = toResurrectError(error);
      const status = e.code.endsWith('NOT_FOUND') ? 404 : e.code === 'RSR_INTERNAL' ? 500 : 400;
      const body: SimReply = { ok: false, error: e.message };
      return reply.code(status).send(body);
    });

    app.post('/control', async (request: FastifyRequest<{ Body: unknown }>) => {
      const command = parseCommand(request.body);
      const result = await applySimCommand(world, command, () =>
        Promise.reject(nonRetryable('RSR_INPUT_INVALID', 'the served simulator runs no engine: there is nothing to report failures to')),
      );
      if (command.op === 'status') log.debug({ op: command.op }, 'sim control: status');
      else log.info({ op: command.op }, `sim control: ${describe(command)}`);
      const reply: SimReply = { ok: true, result };
      return reply;
    });

    app.get('/counters', async () => world.counters());
    app.get('/state', async () => world.snapshot());
    app.get('/faults', async () => world.faults());
    app.delete('/faults/:id', async (request: FastifyRequest<{ Params: { id: string } }>) => {
      if (!world.clearFault(request.params.id)) throw nonRetryable('RSR_CLOUD_NOT_FOUND', `no active fault ${request.params.id}`);
      return { ok: true, result: { cleared: request.params.id } } satisfies SimReply;
    });
    app.post('/keystone/expire-tokens', async () => {
      const expired = keystone.expireAll();
      log.info({ expired }, 'sim control: every Keystone token expired');
      return { ok: true, result: { expired } } satisfies SimReply;
    });
  };
}

function parseCommand(body: unknown): ServedCommand {
  const invalid = (message: string) => nonRetryable('RSR_INPUT_INVALID', message);
  if (typeof body !== 'object' || body === null) throw invalid('expected a JSON command object');
  const b = body as Record<string, unknown>;
  switch (b.op) {
    case 'fail': {
      if (typeof b.target !== 'string') throw invalid('fail: "target" (host or instance) is required');
      const mode = b.mode ?? 'power';
      if (!SIM_FAIL_MODES.includes(mode as SimFailMode)) throw invalid(`fail: "mode" must be one of ${SIM_FAIL_MODES.join(', ')}`);
      // A served world has no engine to report to: `emit` is refused before anything breaks.
      if (b.emit === true) throw invalid('fail: "emit" needs an engine; the served simulator has none');
      return { op: 'fail', target: b.target, mode: mode as SimFailMode, emit: false };
    }
    case 'recover':
      if (typeof b.host !== 'string') throw invalid('recover: "host" is required');
      return { op: 'recover', host: b.host };
    case 'fault':
      return { op: 'fault', spec: b.spec };
    case 'status':
      return { op: 'status' };
    case 'report':
      throw invalid('report: the served simulator runs no engine');
    default:
      throw invalid(`unknown op ${JSON.stringify(b.op)}: expected fail, recover, fault or status`);
  }
}

function describe(command: ServedCommand): string {
  switch (command.op) {
    case 'fail':
      return `fail ${command.target} (${command.mode})`;
    case 'recover':
      return `recover ${command.host}`;
    case 'fault':
      return `fault ${JSON.stringify(command.spec)}`;
    case 'status':
      return 'status';
  }
}
