// /v1/agent/connect/ca/roots: the agent's copy of the CA roots (the same answer as /v1/connect/ca/roots,
// which Consul agents serve from their cache).
import type { FastifyInstance } from 'fastify';
import { CA_TABLE, type CertificateAuthority } from '../../ca/authority.js';
import { blockingRead } from '../blocking.js';
import type { ApiDeps } from '../deps.js';
import { route } from '../route-table.js';

export function agentConnectRoutes(ca: CertificateAuthority) {
  return (app: FastifyInstance, d: ApiDeps): void => {
    route(app, '/v1/agent/connect/ca/roots', {
      GET: (req, reply) => blockingRead(d.store, req, reply, [CA_TABLE], () => ca.rootsView()),
    });
  };
}
