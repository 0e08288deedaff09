// /v1/health/*: service instances with their checks; ?passing, ?tag, ?peer, blocking.
import type { FastifyInstance } from 'fastify';
import type { ServiceQuery } from '../../catalog/catalog.js';
import { blockingRead } from '../blocking.js';
import type { ApiDeps } from '../deps.js';
import { flag, peerParam, type Query, rejectUnsupported, single } from '../params.js';
import { route } from '../route-table.js';

function serviceQuery(q: Query): ServiceQuery {
  rejectUnsupported(q);
  const tag = single(q, 'tag');
  return { peer: peerParam(q), passing: flag(q, 'passing'), ...(tag !== undefined ? { tag } : {}) };
}

export function healthRoutes(app: FastifyInstance, d: ApiDeps): void {
  const tables = d.catalog.tables;

  route(app, '/v1/health/service/:name', {
    GET: (req, reply) => {
      const query = serviceQuery(req.query as Query);
      const { name } = req.params as { name: string };
      return blockingRead(d.store, req, reply, tables, () => d.catalog.healthService(name, query));
    },
  });

  route(app, '/v1/health/connect/:name', {
    GET: (req, reply) => {
      const query = serviceQuery(req.query as Query);
      const { name } = req.params as { name: string };
      return blockingRead(d.store, req, reply, tables, () => d.catalog.healthConnect(name, query));
    },
  });

  route(app, '/v1/health/checks/:name', {
    GET: (req, reply) => {
      const q = req.query as Query;
      rejectUnsupported(q);
      const { name } = req.params as { name: string };
      return blockingRead(d.store, req, reply, tables, () => d.catalog.serviceChecks(name, peerParam(q)));
    },
  });
}
