// What a mesh gateway needs to route: a snapshot of this cluster's exports, local instances and peers.
import type { ExportedServicesEntry } from '../../config-entries/index.js';
import type { Endpoint } from '../endpoint.js';

export interface GatewayPeer {
  /** The peer's name in this cluster. */
  name: string;
  trustDomain: string;
  /** The peer's mesh gateways: where outbound (local mode) service traffic to it goes. */
  gateways: readonly Endpoint[];
  /** The peer's peering servers (from the token): where an outbound peering stream goes. */
  servers: readonly Endpoint[];
}

export interface GatewayConfig {
  /** This cluster's trust domain: SNI names ending in it are inbound. */
  trustDomain: string;
  datacenter: string;
  /** Default "default"; the gateway serves the partition of the services it exports. */
  partition?: string;
  exportedServices: ExportedServicesEntry | undefined;
  /** Local service name → the inbound (mTLS) addresses of its sidecars. */
  localServices: ReadonlyMap<string, readonly Endpoint[]>;
  peers: readonly GatewayPeer[];
  /** Mesh.Peering.PeerThroughMeshGateways: whether the gateway carries peering control-plane streams. */
  peerThroughMeshGateways: boolean;
  /** This cluster's server gRPC addresses, for inbound peering streams. */
  localServers: readonly Endpoint[];
  /** `Proxy.Config` from proxy-defaults: opaque, passed through; `connect_timeout_ms` is honoured. */
  proxyConfig: Readonly<Record<string, unknown>>;
}
