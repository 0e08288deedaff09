// The gateway's routing decision: given the SNI name of a connection and the current snapshot,
// where the bytes go, or why they go nowhere. Pure, so every rule is tested without sockets.
// A name is what the caller claims, so it picks a route and never authorizes one: names outside the
// exports are refused early, but who may call a service is decided by its sidecar, from the
// caller's certificate.
import { exportedServicesFor } from '../../config-entries/index.js';
import type { Endpoint } from '../endpoint.js';
import { parseSni } from '../sni.js';
import type { GatewayConfig } from './config.js';

export type RouteKind = 'inbound' | 'outbound' | 'peering-inbound' | 'peering-outbound';

export type RefusalReason =
  | 'unknown-name'
  | 'not-exported'
  | 'no-instances'
  | 'unknown-peer'
  | 'peering-through-gateways-off';

export type Route =
  | { kind: RouteKind; endpoints: readonly Endpoint[]; describe: string }
  | { kind: 'refused'; reason: RefusalReason; detail: string };

const DEFAULT = 'default';

export function routeFor(config: GatewayConfig, serverName: string): Route {
  const sni = parseSni(serverName);
  const ours = sni?.trustDomain === config.trustDomain.toLowerCase();
  if (sni?.kind === 'peered' && ours)
    return inbound(config, sni.service, sni.namespace, sni.partition, sni.peer);
  if (sni?.kind === 'peered') return outbound(config, sni.trustDomain, 'outbound', serverName);
  if (sni?.kind === 'peering-server') {
    if (!config.peerThroughMeshGateways) {
      return refuse('peering-through-gateways-off', 'Mesh.Peering.PeerThroughMeshGateways is not enabled');
    }
    if (!ours) return outbound(config, sni.trustDomain, 'peering-outbound', serverName);
    if (sni.datacenter !== config.datacenter.toLowerCase()) {
      return refuse('unknown-name', `${serverName} names datacenter ${sni.datacenter}, not ours`);
    }
    return withEndpoints('peering-inbound', config.localServers, 'the local peering servers');
  }
  return refuse('unknown-name', `${serverName} names no exported service, peer or peering server`);
}

function inbound(
  config: GatewayConfig,
  service: string,
  namespace: string,
  partition: string,
  peer: string,
): Route {
  if (namespace !== DEFAULT || partition !== (config.partition ?? DEFAULT).toLowerCase()) {
    return refuse(
      'not-exported',
      `${service} in ${namespace}/${partition} is not exported from this gateway`,
    );
  }
  const exported = exportedServicesFor(config.exportedServices, peer, [...config.localServices.keys()]);
  if (!exported.has(service)) return refuse('not-exported', `${service} is not exported to peer ${peer}`);
  return withEndpoints('inbound', config.localServices.get(service) ?? [], `${service} for peer ${peer}`);
}

function outbound(
  config: GatewayConfig,
  trustDomain: string,
  kind: 'outbound' | 'peering-outbound',
  serverName: string,
): Route {
  const peer = config.peers.find((p) => p.trustDomain.toLowerCase() === trustDomain);
  if (!peer) return refuse('unknown-peer', `${serverName}: trust domain ${trustDomain} belongs to no peer`);
  const endpoints = kind === 'outbound' ? peer.gateways : peer.servers;
  return withEndpoints(kind, endpoints, `peer ${peer.name}`);
}

function withEndpoints(kind: RouteKind, endpoints: readonly Endpoint[], describe: string): Route {
  if (endpoints.length === 0) return refuse('no-instances', `no known address for ${describe}`);
  return { kind, endpoints, describe };
}

function refuse(reason: RefusalReason, detail: string): Route {
  return { kind: 'refused', reason, detail };
}
