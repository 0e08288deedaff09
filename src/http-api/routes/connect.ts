// /v1/connect/ca/roots and /v1/agent/connect/ca/leaf/:service: the cluster's CA for sidecars and gateways.
import type { FastifyInstance } from 'fastify';
import type { CertificateAuthority } from '../../ca/authority.js';
import { CA_TABLE } from '../../ca/authority.js';
import { blockingRead } from '../blocking.js';
import type { ApiDeps } from '../deps.js';
import { route } from '../route-table.js';

export function connectRoutes(ca: CertificateAuthority) {
  return (app: FastifyInstance, d: ApiDeps): void => {
    route(app, '/v1/connect/ca/roots', {
      GET: (req, reply) => blockingRead(d.store, req, reply, [CA_TABLE], () => ca.rootsView()),
    });

    route(app, '/v1/agent/connect/ca/leaf/:service', {
      GET: async (req, reply) => {
        const { service } = req.params as { service: string };
        const leaf = await ca.leaf(service);
        void reply.header('X-Consul-Index', String(d.store.maxIndex([CA_TABLE])));
        return {
          SerialNumber: leaf.serialNumber,
          CertPEM: leaf.certPem,
          PrivateKeyPEM: leaf.keyPem,
          Service: service,
          ServiceURI: leaf.spiffeId,
          ValidAfter: leaf.validAfter,
          ValidBefore: leaf.validBefore,
        };
      },
    });
  };
}
