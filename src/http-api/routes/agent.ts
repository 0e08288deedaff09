// /v1/agent/*: the server is also the agent of its own node: services registered here live on it.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { SERVER_PORT, serverRpcAddress } from '../../catalog/agent-node.js';
import { decodeAgentRegistration, parseBody } from '../../catalog/requests.js';
import { expandSidecar, sidecarIdFor } from '../../catalog/sidecar.js';
import type { CheckStatus } from '../../catalog/types.js';
import type { ApiDeps } from '../deps.js';
import { flag, type Query, single } from '../params.js';
import { route, withBody } from '../route-table.js';
import { filtered, selectionOf } from '../selection.js';

const checkUpdateSchema = z.object({
  Status: z.enum(['passing', 'warning', 'critical']),
  Output: z.string().optional(),
});

export const decodeCheckUpdate = (raw: unknown): z.infer<typeof checkUpdateSchema> =>
  parseBody(checkUpdateSchema, raw, 'the check update');

export function agentRoutes(app: FastifyInstance, d: ApiDeps): void {
  route(app, '/v1/agent/service/register', {
    PUT: withBody(decodeAgentRegistration, async (req, _reply, body) => {
      const replaceExistingChecks = flag(req.query as Query, 'replace-existing-checks');
      const others = d.catalog
        .nodeServices(d.node.Node)
        .filter((s) => s.ID !== sidecarIdFor(body.service.ID));
      for (const r of expandSidecar(body, new Set(others.map((s) => s.Port)))) {
        await d.catalog.registerOnNode(d.node, r.service, r.checks, { replaceExistingChecks });
      }
      return '';
    }),
  });

  route(app, '/v1/agent/service/deregister/:id', {
    PUT: async (req) => {
      const { id } = req.params as { id: string };
      await d.catalog.deregisterService(d.node.Node, id);
      // Its sidecar goes with it (src/catalog/sidecar.ts).
      const sidecar = d.catalog
        .nodeServices(d.node.Node)
        .find((s) => s.ID === sidecarIdFor(id) && s.Proxy?.DestinationServiceID === id);
      if (sidecar !== undefined) await d.catalog.deregisterService(d.node.Node, sidecar.ID);
      return '';
    },
  });

  const ttlUpdate = (status: CheckStatus) => async (req: { params: unknown; query: unknown }) => {
    const { id } = req.params as { id: string };
    const note = single(req.query as Query, 'note');
    await d.catalog.updateCheck(d.node.Node, id, status, note);
    return '';
  };
  route(app, '/v1/agent/check/pass/:id', { PUT: ttlUpdate('passing') });
  route(app, '/v1/agent/check/warn/:id', { PUT: ttlUpdate('warning') });
  route(app, '/v1/agent/check/fail/:id', { PUT: ttlUpdate('critical') });
  route(app, '/v1/agent/check/update/:id', {
    PUT: withBody(decodeCheckUpdate, async (req, _reply, body) => {
      const { id } = req.params as { id: string };
      await d.catalog.updateCheck(d.node.Node, id, body.Status, body.Output);
      return '';
    }),
  });

  route(app, '/v1/agent/self', {
    GET: async () => ({
      Config: { Datacenter: d.datacenter, NodeName: d.node.Node, Server: true, Version: d.version },
      // Only the ACL facts of Consul's DebugConfig: sidecars take their default intention from them.
      DebugConfig: {
        ACLsEnabled: d.acl !== undefined,
        ACLResolverSettings: {
          ACLsEnabled: d.acl !== undefined,
          ACLDefaultPolicy: d.acl?.defaultPolicy ?? 'allow',
        },
      },
      Member: { Name: d.node.Node, Addr: d.node.Address },
    }),
  });

  // The gossip pool as Consul reports it. meshpeer has no gossip: this server is the one member (alive),
  // in the LAN pool as its node name and in the WAN pool as <node>.<datacenter>; the serf port and
  // protocol versions are 0, as there are none. ?filter= selects over the member shape.
  route(app, '/v1/agent/members', {
    GET: async (req) => {
      const q = req.query as Query;
      const wan = flag(q, 'wan');
      const member = {
        Name: wan ? `${d.node.Node}.${d.datacenter}` : d.node.Node,
        Addr: d.node.Address,
        Port: 0,
        Tags: {
          role: 'consul',
          dc: d.datacenter,
          acls: d.acl === undefined ? '0' : '1',
          build: d.version,
          segment: '',
        },
        Status: 1,
        ProtocolMin: 0,
        ProtocolMax: 0,
        ProtocolCur: 0,
        DelegateMin: 0,
        DelegateMax: 0,
        DelegateCur: 0,
      };
      return filtered(selectionOf(q), [member]);
    },
  });

  route(app, '/v1/agent/metrics', {
    GET: async (_req, reply) => {
      void reply.type(d.metrics.registry.contentType);
      return d.metrics.registry.metrics();
    },
  });

  // Consul answers the leader's server RPC address, or "" while there is none.
  route(app, '/v1/status/leader', {
    GET: async () => {
      if (d.cluster === undefined) return JSON.stringify(`${d.node.Address}:${SERVER_PORT}`);
      const leader = d.cluster.leader();
      return JSON.stringify(leader === undefined ? '' : serverRpcAddress(leader.httpAddress));
    },
  });
}
