import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SimWorld } from '../world';
import { describeFailure, HttpFault } from './errors';
import { header, type Keystone } from './keystone';
import { isoSeconds } from './nova-views';

/** Glance v2, image existence only: what a rebuild from an image needs to know before evacuating. */
export function glanceRoutes(options: { readonly world: SimWorld; readonly keystone: Keystone }) {
  const { world, keystone } = options;
  return async (app: FastifyInstance): Promise<void> => {
    app.addHook('onRequest', async (request) => {
      const route = request.routeOptions.url;
      if (route !== undefined && route.startsWith('/image/v2/')) keystone.validate(header(request, 'x-auth-token'));
    });

    app.setErrorHandler((error, _request, reply) => {
      const { status, message, headers } = describeFailure(error);
      reply.headers(headers);
      if (status === 401) return reply.code(401).send({ error: { code: 401, title: 'Unauthorized', message } });
      return htmlError(reply, status, message);
    });
    app.setNotFoundHandler((_request, reply) => htmlError(reply, 404, 'The resource could not be found.'));

    app.get('/', async (request: FastifyRequest, reply: FastifyReply) => {
      const href = `http://${request.headers.host ?? '127.0.0.1'}/image/v2/`;
      return reply.code(300).send({ versions: [{ id: 'v2.16', status: 'CURRENT', links: [{ rel: 'self', href }] }] });
    });

    app.get('/v2/images/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
      const id = request.params.id;
      const controller = new AbortController();
      reply.raw.once('close', () => controller.abort(new Error('client disconnected')));
      if (!(await world.nova.imageExists(id, controller.signal))) throw new HttpFault(404, `No image found with ID ${id}`);
      const now = isoSeconds(Date.UTC(2026, 0, 1));
      return {
        id,
        name: id,
        status: 'active',
        visibility: 'public',
        protected: false,
        os_hidden: false,
        container_format: 'bare',
        disk_format: 'qcow2',
        size: 1073741824,
        virtual_size: null,
        min_disk: 0,
        min_ram: 0,
        checksum: null,
        os_hash_algo: 'sha512',
        os_hash_value: null,
        owner: keystone.projectId,
        tags: [],
        created_at: now,
        updated_at: now,
        self: `/v2/images/${id}`,
        file: `/v2/images/${id}/file`,
        schema: '/v2/schemas/image',
      };
    });
  };
}

/** Glance (webob) answers errors in HTML. */
function htmlError(reply: FastifyReply, status: number, message: string): FastifyReply {
  const title = status === 404 ? '404 Not Found' : status === 503 ? '503 Service Unavailable' : `${status} Error`;
  const escaped = message.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return reply
    .code(status)
    .type('text/html; charset=UTF-8')
    .send(`<html>\n <head>\n  <title>${title}</title>\n </head>\n <body>\n  <h1>${title}</h1>\n  ${escaped}<br /><br />\n\n\n </body>\n</html>`);
}
