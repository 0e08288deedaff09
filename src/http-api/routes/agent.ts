// /v1/agent/*: the server is also the agent of its own node: services registered here live on it.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { CheckDefinition } from '../../catalog/requests.js';
import { agentServiceSchema, parseBody } from '../../catalog/requests.js';
import type { CheckStatus } from '../../catalog/types.js';
import type { ApiDeps } from '../deps.js';
import { type Query, single } from '../params.js';
import { route } from '../route-table.js';

const checkUpdateSchema = z.object({
  Status: z.enum(['passing', 'warning', 'critical']),
  Output: z.string().optional(),
});

export function agentRoutes(app: FastifyInstance, d: ApiDeps): void {
  route(app, '/v1/agent/service/register', {
    PUT: async (req) => {
      const s = parseBody(agentServiceSchema, req.body, 'the service definition');
      const id = s.ID && s.ID !== '' ? s.ID : s.Name;
      const { Name, Check, Checks, ...rest } = s;
      const checks: CheckDefinition[] = [...(Check ? [Check] : []), ...(Checks ?? [])].map((c, i, all) => ({
        CheckID: c.CheckID ?? c.ID ?? (all.length > 1 ? `service:${id}:${i + 1}` : `service:${id}`),
        Name: c.Name ?? `Service '${Name}' check`,
        Notes: c.Notes ?? '',
        // A TTL check starts critical until it is updated; a check meshpeer does not run is recorded
        // as its given Status, or passing (meshpeer does not probe HTTP/TCP endpoints).
        Status: c.Status ?? (c.TTL !== undefined ? 'critical' : 'passing'),
        ServiceID: id,
        Type: c.TTL !== undefined ? 'ttl' : c.HTTP !== undefined ? 'http' : c.TCP !== undefined ? 'tcp' : '',
      }));
      await d.catalog.registerOnNode(d.node, { ...rest, ID: id, Service: Name }, checks);
      return '';
    },
  });

  route(app, '/v1/agent/service/deregister/:id', {
    PUT: async (req) => {
      const { id } = req.params as { id: string };
      await d.catalog.deregisterService(d.node.Node, id);
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
    PUT: async (req) => {
      const { id } = req.params as { id: string };
      const body = parseBody(checkUpdateSchema, req.body, 'the check update');
      await d.catalog.updateCheck(d.node.Node, id, body.Status, body.Output);
      return '';
    },
  });

  route(app, '/v1/agent/self', {
    GET: async () => ({
      Config: { Datacenter: d.datacenter, NodeName: d.node.Node, Server: true, Version: d.version },
      Member: { Name: d.node.Node, Addr: d.node.Address },
    }),
  });

  route(app, '/v1/agent/metrics', {
    GET: async (_req, reply) => {
      void reply.type(d.metrics.registry.contentType);
      return d.metrics.registry.metrics();
    },
  });

  route(app, '/v1/status/leader', { GET: async () => JSON.stringify(`${d.node.Address}:8300`) });
}
