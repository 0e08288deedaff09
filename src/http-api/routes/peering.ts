// /v1/peering*: tokens, establishment, reads and deletion, in Consul's shapes.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseBody } from '../../catalog/requests.js';
import { exportedServicesFor } from '../../config-entries/index.js';
import type { Peerings } from '../../peering/peerings.js';
import { notFound } from '../../shared/errors.js';
import { blockingRead } from '../blocking.js';
import type { ApiDeps } from '../deps.js';
import { route } from '../route-table.js';

const tokenSchema = z.object({
  PeerName: z.string(),
  Partition: z.string().optional(),
  Meta: z.record(z.string(), z.string()).nullish(),
  ServerExternalAddresses: z.array(z.string().regex(/^.+:\d{1,5}$/, 'must be host:port')).nullish(),
});

const establishSchema = z.object({
  PeerName: z.string(),
  PeeringToken: z.string(),
  Partition: z.string().optional(),
  Meta: z.record(z.string(), z.string()).nullish(),
});

export function peeringRoutes(peerings: Peerings) {
  return (app: FastifyInstance, d: ApiDeps): void => {
    // A peering's view counts its exports, which follow the exported-services entries: their table too.
    const tables = [...peerings.tables, ...d.catalog.tables, ...d.config.tables];

    route(app, '/v1/peering/token', {
      POST: async (req) => {
        const body = parseBody(tokenSchema, req.body, 'the token request');
        return peerings.generateToken({
          PeerName: body.PeerName,
          Meta: body.Meta ?? undefined,
          ServerExternalAddresses: body.ServerExternalAddresses ?? undefined,
        });
      },
    });

    route(app, '/v1/peering/establish', {
      POST: async (req) => {
        const body = parseBody(establishSchema, req.body, 'the establish request');
        await peerings.establish({
          PeerName: body.PeerName,
          PeeringToken: body.PeeringToken,
          Meta: body.Meta ?? undefined,
        });
        return {};
      },
    });

    route(app, '/v1/peerings', {
      GET: (req, reply) => blockingRead(d.store, req, reply, tables, () => peerings.list()),
    });

    route(app, '/v1/peering/:name', {
      GET: async (req, reply) => {
        const { name } = req.params as { name: string };
        const view = await blockingRead(d.store, req, reply, tables, () => peerings.read(name));
        if (view === undefined) throw notFound(`no peering named ${JSON.stringify(name)}`);
        return view;
      },
      DELETE: async (req) => {
        const { name } = req.params as { name: string };
        await peerings.delete(name);
        return {};
      },
    });

    route(app, '/v1/internal/meshpeer/trust-bundles', {
      GET: (req, reply) =>
        blockingRead(d.store, req, reply, peerings.tables, () =>
          peerings
            .trustBundles()
            .map((b) => ({ PeerName: b.PeerName, TrustDomain: b.TrustDomain, RootPEMs: b.RootPEMs })),
        ),
    });

    // For this cluster's mesh gateways: where the peering traffic they carry out of the cluster goes.
    route(app, '/v1/internal/meshpeer/peer-servers', {
      GET: (req, reply) => blockingRead(d.store, req, reply, peerings.tables, () => peerings.peerServers()),
    });

    // The bundles of the peers :service is exported to: the only peers its sidecars accept callers from.
    route(app, '/v1/internal/meshpeer/trust-bundles/:service', {
      GET: (req, reply) => {
        const { service } = req.params as { service: string };
        return blockingRead(d.store, req, reply, [...peerings.tables, ...d.config.tables], () => {
          const exports = d.config.get('exported-services', 'default');
          return peerings
            .trustBundles()
            .filter((b) => exportedServicesFor(exports, b.PeerName, [service]).has(service))
            .map((b) => ({ PeerName: b.PeerName, TrustDomain: b.TrustDomain, RootPEMs: b.RootPEMs }));
        });
      },
    });
  };
}
