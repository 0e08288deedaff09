// The agent's view of its own node, as a Consul agent serves it: its services and checks
// (/v1/agent/services, /service/:id, /checks, check register/deregister), their aggregated health
// (/v1/agent/health/service/...), and the catalog reads about nodes and datacenters that clients use
// to find their way (/v1/catalog/datacenters, /node/:node, /node-services/:node, /v1/status/peers).
//
// Records the server owns for itself (the `consul` service and the `serfHealth` check, see
// src/catalog/agent-node.ts) are in the catalog but not in the agent's local views, as in Consul.
import type { FastifyInstance, FastifyReply } from 'fastify';
import {
  isServerOwnedCheck,
  isServerOwnedService,
  SERVER_PORT,
  serverRpcAddress,
} from '../../catalog/agent-node.js';
import { decodeAgentCheckRegistration } from '../../catalog/agent-requests.js';
import { agentServiceContentHash } from '../../catalog/content-hash.js';
import type { CheckStatus, HealthCheck, ServiceInstance } from '../../catalog/types.js';
import { notFound } from '../../shared/errors.js';
import { blockingRead, waitUntilChangeOrClose } from '../blocking.js';
import type { ApiDeps } from '../deps.js';
import { blockingParams, peerParam, type Query, single } from '../params.js';
import { route, withBody } from '../route-table.js';
import { filtered, filteredMap, selectionOf } from '../selection.js';

type Stamped<T> = T & { CreateIndex: number; ModifyIndex: number };

/**
 * A catalog instance in Consul's AgentService shape (empty Kind and absent parts left out). The agent's
 * own endpoints answer without raft indexes; the catalog's node reads with them.
 */
export function agentService(
  s: Stamped<ServiceInstance>,
  datacenter: string,
  withIndexes = false,
): Record<string, unknown> {
  return {
    ...(s.Kind !== '' ? { Kind: s.Kind } : {}),
    ID: s.ID,
    Service: s.Service,
    Tags: s.Tags,
    Meta: s.Meta,
    Port: s.Port,
    Address: s.Address,
    ...(Object.keys(s.TaggedAddresses).length > 0 ? { TaggedAddresses: s.TaggedAddresses } : {}),
    Weights: s.Weights,
    EnableTagOverride: s.EnableTagOverride,
    ...(s.Proxy !== undefined ? { Proxy: s.Proxy } : {}),
    ...(s.Connect !== undefined ? { Connect: s.Connect } : {}),
    ...(s.Locality !== undefined ? { Locality: s.Locality } : {}),
    ...(withIndexes ? { CreateIndex: s.CreateIndex, ModifyIndex: s.ModifyIndex } : {}),
    Datacenter: datacenter,
  };
}

/** Consul's aggregation: maintenance over critical over warning over passing (no checks: passing). */
export function aggregatedStatus(checks: ReadonlyArray<Pick<HealthCheck, 'Status'>>): CheckStatus {
  const order: CheckStatus[] = ['maintenance', 'critical', 'warning'];
  for (const s of order) if (checks.some((c) => c.Status === s)) return s;
  return 'passing';
}

/** The HTTP status Consul answers a health endpoint with: 200 passing, 429 warning, 503 otherwise. */
const healthCode = (status: CheckStatus): number =>
  status === 'passing' ? 200 : status === 'warning' ? 429 : 503;

export function agentLocalRoutes(app: FastifyInstance, d: ApiDeps): void {
  const tables = d.catalog.tables;
  const node = d.node.Node;

  const localServices = (): Array<Stamped<ServiceInstance>> =>
    d.catalog.nodeServices(node).filter((s) => !isServerOwnedService(s));
  const localChecks = (): Array<Stamped<HealthCheck>> =>
    d.catalog.nodeChecks(node).filter((c) => !isServerOwnedCheck(c));

  route(app, '/v1/agent/services', {
    GET: async (req) => {
      const sel = selectionOf(req.query as Query);
      const out: Record<string, Record<string, unknown>> = {};
      for (const s of localServices()) out[s.ID] = agentService(s, d.datacenter);
      return filteredMap(sel, out);
    },
  });

  // One service with Consul's ContentHash (also in X-Consul-ContentHash). With ?hash=H it blocks, as
  // Consul's agent does, while the answer's hash is still H: until it changes, the service goes away
  // (404), `wait` (default 5 min, plus up to 1/16 jitter) elapses, or the client leaves.
  route(app, '/v1/agent/service/:id', {
    GET: async (req, reply) => {
      const { id } = req.params as { id: string };
      const q = req.query as Query;
      const hash = single(q, 'hash') ?? '';
      const { waitMs } = blockingParams(q);
      const answer = () => {
        const s = localServices().find((x) => x.ID === id);
        if (s === undefined) throw notFound(`unknown service ID: ${id}`);
        return { ...agentService(s, d.datacenter), ContentHash: agentServiceContentHash(s) };
      };
      let index = d.store.maxIndex(tables);
      let current = answer();
      if (hash !== '' && current.ContentHash === hash) {
        let gone = false;
        const onClose = (): void => {
          gone = true;
        };
        reply.raw.once('close', onClose);
        const deadline = Date.now() + waitMs + Math.floor(Math.random() * (waitMs / 16));
        try {
          while (current.ContentHash === hash && !gone && Date.now() < deadline) {
            await waitUntilChangeOrClose(d.store, reply, tables, index, deadline - Date.now());
            index = d.store.maxIndex(tables);
            current = answer();
          }
        } finally {
          reply.raw.off('close', onClose);
        }
      }
      void reply.header('X-Consul-ContentHash', current.ContentHash);
      return current;
    },
  });

  route(app, '/v1/agent/checks', {
    GET: async (req) => {
      const sel = selectionOf(req.query as Query);
      const out: Record<string, HealthCheck> = {};
      for (const c of localChecks()) {
        const { CreateIndex: _c, ModifyIndex: _m, ...check } = c;
        out[c.CheckID] = check;
      }
      return filteredMap(sel, out);
    },
  });

  route(app, '/v1/agent/check/register', {
    PUT: withBody(decodeAgentCheckRegistration, async (_req, _reply, check) => {
      await d.catalog.register({
        Node: node,
        Address: d.node.Address,
        SkipNodeUpdate: true,
        Checks: [check],
      });
      return '';
    }),
  });

  route(app, '/v1/agent/check/deregister/:id', {
    PUT: async (req) => {
      const { id } = req.params as { id: string };
      if (!localChecks().some((c) => c.CheckID === id))
        throw notFound(`Unknown check ID ${JSON.stringify(id)}`);
      await d.catalog.deregister({ Node: node, ServiceID: undefined, CheckID: id });
      return '';
    },
  });

  /** One service's health as the agent reports it: its own checks and the node's. */
  const serviceHealth = (s: Stamped<ServiceInstance>, checks: Array<Stamped<HealthCheck>>) => {
    const own = checks.filter((c) => c.ServiceID === s.ID || c.ServiceID === '');
    return {
      AggregatedStatus: aggregatedStatus(own),
      Service: agentService(s, d.datacenter),
      Checks: own,
    };
  };
  const answerHealth = (reply: FastifyReply, status: CheckStatus, body: unknown, text: boolean) => {
    void reply.code(healthCode(status));
    if (text) return reply.type('text/plain; charset=utf-8').send(status);
    return body;
  };

  route(app, '/v1/agent/health/service/id/:id', {
    GET: async (req, reply) => {
      const { id } = req.params as { id: string };
      const text = single(req.query as Query, 'format') === 'text';
      const s = localServices().find((x) => x.ID === id);
      if (s === undefined) throw notFound(`ServiceId ${id} not found`);
      const h = serviceHealth(s, localChecks());
      return answerHealth(reply, h.AggregatedStatus, h, text);
    },
  });

  route(app, '/v1/agent/health/service/name/:name', {
    GET: async (req, reply) => {
      const { name } = req.params as { name: string };
      const text = single(req.query as Query, 'format') === 'text';
      const checks = localChecks();
      const all = localServices()
        .filter((x) => x.Service === name)
        .map((s) => serviceHealth(s, checks));
      if (all.length === 0) throw notFound(`ServiceName ${name} Not Found`);
      const status = aggregatedStatus(all.map((h) => ({ Status: h.AggregatedStatus })));
      return answerHealth(reply, status, all, text);
    },
  });

  route(app, '/v1/catalog/datacenters', { GET: async () => [d.datacenter] });

  route(app, '/v1/status/peers', {
    // Consul answers its raft peers' server addresses: here, every live server of the cluster.
    GET: async () =>
      d.cluster === undefined
        ? [`${d.node.Address}:${SERVER_PORT}`]
        : d.cluster.servers().map((s) => serverRpcAddress(s.httpAddress)),
  });

  route(app, '/v1/catalog/node/:node', {
    GET: (req, reply) => {
      const q = req.query as Query;
      const sel = selectionOf(q);
      const { node: name } = req.params as { node: string };
      const peer = peerParam(q);
      return blockingRead(d.store, req, reply, tables, () => {
        const n = d.catalog.nodes(peer).find((x) => x.Node === name);
        if (n === undefined) return null;
        const services: Record<string, Record<string, unknown>> = {};
        for (const s of filtered(sel, d.catalog.nodeServices(name, peer))) {
          services[s.ID] = agentService(s, n.Datacenter, true);
        }
        return { Node: n, Services: services };
      });
    },
  });

  route(app, '/v1/catalog/node-services/:node', {
    GET: (req, reply) => {
      const q = req.query as Query;
      const sel = selectionOf(q);
      const { node: name } = req.params as { node: string };
      const peer = peerParam(q);
      return blockingRead(d.store, req, reply, tables, () => {
        const n = d.catalog.nodes(peer).find((x) => x.Node === name);
        if (n === undefined) return null;
        return {
          Node: n,
          Services: filtered(
            sel,
            d.catalog.nodeServices(name, peer).map((s) => agentService(s, n.Datacenter, true)),
          ),
        };
      });
    },
  });
}
