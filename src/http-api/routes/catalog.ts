// /v1/catalog/*: register, deregister and the catalog reads (local or ?peer=).
import type { FastifyInstance } from 'fastify';
import { decodeDeregisterRequest, decodeRegisterRequest } from '../../catalog/requests.js';
import { invalid } from '../../shared/errors.js';
import { blockingRead } from '../blocking.js';
import type { ApiDeps } from '../deps.js';
import { peerParam, type Query, rejectUnsupported, single } from '../params.js';
import { route, withBody } from '../route-table.js';

export function catalogRoutes(app: FastifyInstance, d: ApiDeps): void {
  const tables = d.catalog.tables;

  route(app, '/v1/catalog/register', {
    PUT: withBody(decodeRegisterRequest, async (_req, _reply, body) => {
      checkDatacenter(d, body.Datacenter);
      await d.catalog.register(body);
      return true;
    }),
  });

  route(app, '/v1/catalog/deregister', {
    PUT: withBody(decodeDeregisterRequest, async (_req, _reply, body) => {
      checkDatacenter(d, body.Datacenter);
      await d.catalog.deregister(body);
      return true;
    }),
  });

  route(app, '/v1/catalog/services', {
    GET: (req, reply) => {
      const q = req.query as Query;
      rejectUnsupported(q);
      return blockingRead(d.store, req, reply, tables, () => d.catalog.services(peerParam(q)));
    },
  });

  route(app, '/v1/catalog/nodes', {
    GET: (req, reply) => {
      const q = req.query as Query;
      rejectUnsupported(q);
      return blockingRead(d.store, req, reply, tables, () => d.catalog.nodes(peerParam(q)));
    },
  });

  route(app, '/v1/catalog/service/:name', {
    GET: (req, reply) => {
      const q = req.query as Query;
      rejectUnsupported(q);
      const { name } = req.params as { name: string };
      const tag = single(q, 'tag');
      return blockingRead(d.store, req, reply, tables, () =>
        d.catalog.serviceNodes(name, { peer: peerParam(q), ...(tag !== undefined ? { tag } : {}) }),
      );
    },
  });
}

export function checkDatacenter(d: ApiDeps, dc: string | undefined): void {
  if (dc !== undefined && dc !== '' && dc !== d.datacenter) {
    throw invalid(
      `unknown datacenter ${JSON.stringify(dc)}: this server is datacenter ${JSON.stringify(d.datacenter)}`,
    );
  }
}
