// /v1/health/*: service instances with their checks; ?passing, ?tag, ?peer, blocking.
import type { FastifyInstance } from 'fastify';
import type { ServiceQuery } from '../../catalog/catalog.js';
import type { CheckStatus, ServiceHealth } from '../../catalog/types.js';
import { invalid } from '../../shared/errors.js';
import { blockingRead } from '../blocking.js';
import type { ApiDeps } from '../deps.js';
import { flag, peerParam, type Query } from '../params.js';
import { route } from '../route-table.js';
import { filtered, nodeMetaMatches, type Selection, selectionOf, tagsMatch } from '../selection.js';

function serviceQuery(q: Query): ServiceQuery & { sel: Selection } {
  return { peer: peerParam(q), passing: flag(q, 'passing'), sel: selectionOf(q) };
}

function select(list: ServiceHealth[], sel: Selection): ServiceHealth[] {
  return filtered(
    sel,
    list.filter((h) => tagsMatch(h.Service, sel.tags) && nodeMetaMatches(h.Node, sel.nodeMeta)),
  );
}

const CHECK_STATES = new Set(['any', 'passing', 'warning', 'critical', 'maintenance']);

export function healthRoutes(app: FastifyInstance, d: ApiDeps): void {
  const tables = d.catalog.tables;

  route(app, '/v1/health/service/:name', {
    GET: (req, reply) => {
      const { sel, ...query } = serviceQuery(req.query as Query);
      const { name } = req.params as { name: string };
      return blockingRead(d.store, req, reply, tables, () =>
        select(d.catalog.healthService(name, query), sel),
      );
    },
  });

  route(app, '/v1/health/connect/:name', {
    GET: (req, reply) => {
      const { sel, ...query } = serviceQuery(req.query as Query);
      const { name } = req.params as { name: string };
      return blockingRead(d.store, req, reply, tables, () =>
        select(d.catalog.healthConnect(name, query), sel),
      );
    },
  });

  route(app, '/v1/health/checks/:name', {
    GET: (req, reply) => {
      const q = req.query as Query;
      const sel = selectionOf(q);
      const { name } = req.params as { name: string };
      return blockingRead(d.store, req, reply, tables, () => {
        const out = [];
        for (const h of d.catalog.healthService(name, { peer: peerParam(q) })) {
          if (!nodeMetaMatches(h.Node, sel.nodeMeta)) continue;
          for (const c of h.Checks) if (c.ServiceID === h.Service.ID) out.push(c);
        }
        return filtered(sel, out);
      });
    },
  });

  route(app, '/v1/health/node/:node', {
    GET: (req, reply) => {
      const q = req.query as Query;
      const sel = selectionOf(q);
      const { node } = req.params as { node: string };
      return blockingRead(d.store, req, reply, tables, () =>
        filtered(sel, d.catalog.nodeChecks(node, peerParam(q))),
      );
    },
  });

  route(app, '/v1/health/state/:state', {
    GET: (req, reply) => {
      const q = req.query as Query;
      const sel = selectionOf(q);
      const { state } = req.params as { state: string };
      if (!CHECK_STATES.has(state)) {
        throw invalid(`Bad check state ${JSON.stringify(state)}: use any, passing, warning or critical`);
      }
      const peer = peerParam(q);
      return blockingRead(d.store, req, reply, tables, () => {
        let checks = d.catalog.checksInState(state as CheckStatus | 'any', peer);
        if (Object.keys(sel.nodeMeta).length > 0) {
          checks = checks.filter((c) => {
            const node = d.catalog.node(c.Node, peer);
            return node !== undefined && nodeMetaMatches(node, sel.nodeMeta);
          });
        }
        return filtered(sel, checks);
      });
    },
  });
}
