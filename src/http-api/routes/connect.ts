// /v1/connect/ca/roots and /v1/agent/connect/ca/leaf/:service: the cluster's CA for sidecars and gateways.
import type { FastifyInstance } from 'fastify';
import type { CertificateAuthority, ServiceLeaf } from '../../ca/authority.js';
import { CA_TABLE } from '../../ca/authority.js';
import { CONFIG_ENTRIES } from '../../config-entries/config-store.js';
import { peersExportedTo } from '../../config-entries/exported-services.js';
import { blockingRead, waitUntilChangeOrClose } from '../blocking.js';
import type { ApiDeps } from '../deps.js';
import { blockingParams, type Query } from '../params.js';
import { route } from '../route-table.js';

/** What a leaf depends on: the CA, and the exported-services entry (its SNI names). */
const LEAF_TABLES = [CA_TABLE, CONFIG_ENTRIES] as const;

export function connectRoutes(ca: CertificateAuthority) {
  return (app: FastifyInstance, d: ApiDeps): void => {
    route(app, '/v1/connect/ca/roots', {
      GET: (req, reply) => blockingRead(d.store, req, reply, [CA_TABLE], () => ca.rootsView()),
    });

    /** The service's leaf now, and the index of the tables it was made from. */
    const currentLeaf = async (service: string): Promise<{ seen: number; leaf: ServiceLeaf }> => {
      const seen = d.store.maxIndex(LEAF_TABLES);
      const exports = d.config.get('exported-services', 'default');
      const leaf = await ca.leaf(service, { exportedToPeers: peersExportedTo(exports, service) });
      return { seen, leaf };
    };

    route(app, '/v1/agent/connect/ca/leaf/:service', {
      // Blocking like Consul's: with ?index= at least the current leaf's, the answer waits until there
      // is a new leaf (due for renewal, the CA changed, or the service's exports changed, so its SNI
      // names did) or wait elapses, and then carries the leaf of that moment.
      GET: async (req, reply) => {
        const { service } = req.params as { service: string };
        const { index, waitMs } = blockingParams(req.query as Query);
        let { seen, leaf } = await currentLeaf(service);
        if (index !== undefined && index >= leaf.index) {
          let gone = false;
          const onClose = (): void => {
            gone = true;
          };
          reply.raw.once('close', onClose);
          try {
            const deadline = Date.now() + waitMs;
            while (!gone && index >= leaf.index && Date.now() < deadline) {
              const untilRenewal = Math.max(0, ca.leafRenewalAt(leaf).getTime() - Date.now());
              const waitFor = Math.min(deadline - Date.now(), untilRenewal + 10);
              await waitUntilChangeOrClose(d.store, reply, LEAF_TABLES, seen, waitFor);
              ({ seen, leaf } = await currentLeaf(service));
            }
          } finally {
            reply.raw.off('close', onClose);
          }
        }
        void reply.header('X-Consul-Index', String(leaf.index));
        return {
          SerialNumber: leaf.serialNumber,
          CertPEM: leaf.certPem,
          PrivateKeyPEM: leaf.keyPem,
          Service: service,
          ServiceURI: leaf.spiffeId,
          ValidAfter: leaf.validAfter,
          ValidBefore: leaf.validBefore,
          CreateIndex: leaf.index,
          ModifyIndex: leaf.index,
        };
      },
    });
  };
}
