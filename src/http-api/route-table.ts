// Registers a path with its handlers per method; any other method gets 405 with an Allow header,
// as Consul answers, instead of fastify's default 404.
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';

export type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

const ALL: HTTPMethods[] = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];

export function route(app: FastifyInstance, url: string, handlers: Partial<Record<Method, Handler>>): void {
  const allowed = Object.keys(handlers) as Method[];
  const allow = [...allowed, ...(allowed.includes('GET') ? ['HEAD'] : [])].join(', ');
  app.route({
    method: ALL,
    url,
    config: { routeName: url },
    handler: async (req, reply) => {
      const method = req.method === 'HEAD' ? 'GET' : (req.method as Method);
      const h = handlers[method];
      if (h === undefined) {
        return reply
          .code(405)
          .header('Allow', allow)
          .type('text/plain; charset=utf-8')
          .send(`method ${req.method} is not allowed on ${url}; use ${allowed.join(' or ')}`);
      }
      return h(req, reply);
    },
  });
}
