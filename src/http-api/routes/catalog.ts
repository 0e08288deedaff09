// /v1/catalog/*: register, deregister and the catalog reads (local or ?peer=).
import type { FastifyInstance } from 'fastify';
import { decodeDeregisterRequest, decodeRegisterRequest } from '../../catalog/requests.js';
import type { ServiceHealth } from '../../catalog/types.js';
import { invalid } from '../../shared/errors.js';
import { blockingRead } from '../blocking.js';
import { flatServiceNode } from '../catalog-service-shape.js';
import type { ApiDeps } from '../deps.js';
import { peerParam, type Query } from '../params.js';
import { route, withBody } from '../route-table.js';
import { filtered, nodeMetaMatches, selectionOf, tagsMatch } from '../selection.js';

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
      const sel = selectionOf(q);
      const peer = peerParam(q);
      return blockingRead(d.store, req, reply, tables, () => {
        if (sel.filter === undefined && Object.keys(sel.nodeMeta).length === 0)
          return d.catalog.services(peer);
        // Selected by node meta or a filter (over the CatalogService shape): the matching instances' names
        // and the union of their tags.
        const out = new Map<string, Set<string>>();
        const rows = d.catalog
          .allServiceNodes(peer)
          .filter((r) => nodeMetaMatches(r.node, sel.nodeMeta))
          .map((r) => flatServiceNode(r.node, r.service));
        for (const r of filtered(sel, rows)) {
          const name = r.ServiceName as string;
          const tags = out.get(name) ?? new Set<string>();
          for (const t of r.ServiceTags as string[]) tags.add(t);
          out.set(name, tags);
        }
        return Object.fromEntries([...out].map(([n, t]) => [n, [...t].sort()]));
      });
    },
  });

  route(app, '/v1/catalog/nodes', {
    GET: (req, reply) => {
      const q = req.query as Query;
      const sel = selectionOf(q);
      return blockingRead(d.store, req, reply, tables, () =>
        filtered(
          sel,
          d.catalog.nodes(peerParam(q)).filter((n) => nodeMetaMatches(n, sel.nodeMeta)),
        ),
      );
    },
  });

  // The instances of a service, or its proxies (and native services), in the flat CatalogService shape.
  const flatList = (path: string, list: (name: string, peer: string) => ServiceHealth[]): void =>
    route(app, path, {
      GET: (req, reply) => {
        const q = req.query as Query;
        const sel = selectionOf(q);
        const { name } = req.params as { name: string };
        return blockingRead(d.store, req, reply, tables, () =>
          filtered(
            sel,
            list(name, peerParam(q))
              .filter((h) => tagsMatch(h.Service, sel.tags) && nodeMetaMatches(h.Node, sel.nodeMeta))
              .map((h) => flatServiceNode(h.Node, h.Service)),
          ),
        );
      },
    });
  flatList('/v1/catalog/service/:name', (name, peer) => d.catalog.healthService(name, { peer }));
  flatList('/v1/catalog/connect/:name', (name, peer) => d.catalog.healthConnect(name, { peer }));
}

export function checkDatacenter(d: ApiDeps, dc: string | undefined): void {
  if (dc !== undefined && dc !== '' && dc !== d.datacenter) {
    throw invalid(
      `unknown datacenter ${JSON.stringify(dc)}: this server is datacenter ${JSON.stringify(d.datacenter)}`,
    );
  }
}
