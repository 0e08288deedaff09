// /v1/connect/ca/roots and /v1/agent/connect/ca/leaf/:service: the cluster's CA for sidecars and gateways.
import type { FastifyInstance } from 'fastify';
import type { CertificateAuthority } from '../../ca/authority.js';
import { CA_TABLE } from '../../ca/authority.js';
import { blockingRead, waitUntilChangeOrClose } from '../blocking.js';
import type { ApiDeps } from '../deps.js';
import { blockingParams, type Query } from '../params.js';
import { route } from '../route-table.js';

/** A leaf's index: its issue time in seconds, so a renewed leaf always has a larger one. */
const leafIndex = (leaf: { validAfter: string }): number => Math.floor(Date.parse(leaf.validAfter) / 1000);

export function connectRoutes(ca: CertificateAuthority) {
  return (app: FastifyInstance, d: ApiDeps): void => {
    route(app, '/v1/connect/ca/roots', {
      GET: (req, reply) => blockingRead(d.store, req, reply, [CA_TABLE], () => ca.rootsView()),
    });

    route(app, '/v1/agent/connect/ca/leaf/:service', {
      // Blocking like Consul's: with ?index= equal to the current leaf's, the answer waits until the
      // leaf is due for renewal (or the CA changes, or wait elapses) and then carries the new leaf.
      GET: async (req, reply) => {
        const { service } = req.params as { service: string };
        const { index, waitMs } = blockingParams(req.query as Query);
        let leaf = await ca.leaf(service);
        if (index !== undefined && index >= leafIndex(leaf)) {
          const untilRenewal = Math.max(0, ca.leafRenewalAt(leaf).getTime() - Date.now());
          await waitUntilChangeOrClose(
            d.store,
            reply,
            [CA_TABLE],
            d.store.maxIndex([CA_TABLE]),
            Math.min(waitMs, untilRenewal + 10),
          );
          leaf = await ca.leaf(service);
        }
        void reply.header('X-Consul-Index', String(leafIndex(leaf)));
        return {
          SerialNumber: leaf.serialNumber,
          CertPEM: leaf.certPem,
          PrivateKeyPEM: leaf.keyPem,
          Service: service,
          ServiceURI: leaf.spiffeId,
          ValidAfter: leaf.validAfter,
          ValidBefore: leaf.validBefore,
          CreateIndex: leafIndex(leaf),
          ModifyIndex: leafIndex(leaf),
        };
      },
    });
  };
}
