// /v1/config: config entries with check-and-set and blocking reads.
import type { FastifyInstance } from 'fastify';
import { parseConfigEntry, parseConfigEntryKind } from '../../config-entries/registry.js';
import { notFound } from '../../shared/errors.js';
import { blockingRead } from '../blocking.js';
import type { ApiDeps } from '../deps.js';
import { nonNegativeInt, type Query } from '../params.js';
import { route, withBody } from '../route-table.js';

export function configRoutes(app: FastifyInstance, d: ApiDeps): void {
  const tables = d.config.tables;

  route(app, '/v1/config', {
    PUT: withBody(parseConfigEntry, async (req, _reply, entry) => {
      const cas = nonNegativeInt(req.query as Query, 'cas');
      const { written } = await d.config.write(entry, cas);
      return written;
    }),
  });

  route(app, '/v1/config/:kind', {
    GET: (req, reply) => {
      const kind = parseConfigEntryKind((req.params as { kind: string }).kind);
      return blockingRead(d.store, req, reply, tables, () => d.config.list(kind));
    },
  });

  route(app, '/v1/config/:kind/:name', {
    GET: async (req, reply) => {
      const p = req.params as { kind: string; name: string };
      const kind = parseConfigEntryKind(p.kind);
      const entry = await blockingRead(d.store, req, reply, tables, () => d.config.get(kind, p.name));
      if (entry === undefined) {
        throw notFound(`Config entry not found for ${JSON.stringify(kind)} / ${JSON.stringify(p.name)}`);
      }
      return entry;
    },
    DELETE: async (req) => {
      const p = req.params as { kind: string; name: string };
      const kind = parseConfigEntryKind(p.kind);
      const cas = nonNegativeInt(req.query as Query, 'cas');
      const deleted = await d.config.delete(kind, p.name, cas);
      return cas === undefined ? {} : deleted;
    },
  });
}
