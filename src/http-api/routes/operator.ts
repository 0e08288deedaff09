// Which servers make up the cluster and which one leads, in the shape of Consul's
// /v1/operator/raft/configuration (meshpeer has no raft: the servers are those sharing the store, the
// leader is the one holding the election; HTTPAddress is meshpeer's own addition, to tell them apart).
import type { FastifyInstance } from 'fastify';
import { serverRpcAddress } from '../../catalog/agent-node.js';
import type { ApiDeps } from '../deps.js';
import { route } from '../route-table.js';

export function operatorRoutes(app: FastifyInstance, d: ApiDeps): void {
  route(app, '/v1/operator/raft/configuration', {
    GET: async () => {
      const leader = d.cluster?.leader()?.id;
      const servers = d.cluster?.servers() ?? [];
      return {
        Servers: servers.map((s) => ({
          ID: s.id,
          Node: s.node,
          Address: serverRpcAddress(s.httpAddress),
          HTTPAddress: s.httpAddress,
          Leader: s.id === leader,
          Voter: true,
          ProtocolVersion: '3',
        })),
        Index: d.store.lastIndex(),
      };
    },
  });
}
