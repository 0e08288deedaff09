// `?dc=`: every /v1 request may name a datacenter. A server answers for its own; Consul forwards
// requests for another to a server there, and with no route to that datacenter answers "No path to
// datacenter" (with a 500). meshpeer serves one datacenter per server, so any other name gets that
// answer — as a 400: in meshpeer no request parameter makes a 5xx (test/server/bad-input.test.ts).
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from './deps.js';
import type { Query } from './params.js';

export function datacenterCheck(app: FastifyInstance, d: ApiDeps): void {
  app.addHook('onRequest', async (req, reply) => {
    const dc = (req.query as Query).dc;
    const name = Array.isArray(dc) ? dc[0] : dc;
    if (name !== undefined && name !== '' && name !== d.datacenter) {
      return reply.code(400).type('text/plain; charset=utf-8').send('No path to datacenter');
    }
  });
}

/**
 * `?cached`: Consul agents may answer some reads from a local cache, saying so with `X-Cache: HIT|MISS`
 * and `Age`. A meshpeer server answers every read from its own current state, so such an answer is a
 * hit that is never stale.
 */
export function cacheHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (req, reply) => {
    if ((req.query as Query).cached !== undefined && req.method === 'GET' && reply.statusCode === 200) {
      void reply.header('X-Cache', 'HIT');
      void reply.header('Age', '0');
    }
  });
}
