// What a sidecar needs, as one snapshot: its identity, whom to trust, whom to let in and where its
// upstreams are. Produced by a ProxyConfigSource (HTTP watches in production, fixed in tests).
import type { TrustBundle } from '../../ca/index.js';
import type {
  IntentionAction,
  MeshGatewayMode,
  ServiceIntentionsEntry,
  ServiceResolverEntry,
} from '../../config-entries/index.js';
import type { ConfigSource } from '../config-source.js';
import type { Endpoint } from '../endpoint.js';
import type { MeshTls } from './mesh-tls.js';

export interface ProxyLeaf {
  certPem: string;
  keyPem: string;
  serialNumber?: string;
  /** ISO-8601 */
  validAfter?: string;
  /** ISO-8601 */
  validBefore?: string;
}

/** Where the instances of one upstream are, as the control plane reports them. */
export interface UpstreamInstances {
  name: string;
  /** Set for a service imported from a peer. */
  peer?: string;
  /** Set when these are only the instances of one of the resolver's subsets. */
  subset?: string;
  /**
   * Where the passing instances are: a local upstream's sidecars, for a peered upstream the exporting
   * cluster's mesh gateways. An instance counts while all its checks pass (for a local sidecar, those
   * of the instance it fronts too; for an imported one, the exporter's checks as replicated).
   */
  instances: readonly Endpoint[];
  /** How many instances the control plane lists, passing or not (for the log). */
  listed?: number;
  /** The SNI name the exporter gave a peered service (it names us as the exporter knows us). */
  sni?: string;
}

export interface ProxyConfig {
  /** The service this sidecar fronts. */
  service: string;
  namespace?: string;
  partition?: string;
  datacenter: string;
  trustDomain: string;
  leaf: ProxyLeaf;
  /** This cluster's CA roots (PEM). */
  roots: readonly string[];
  /**
   * Every peer's roots, each only for its own trust domain: what upstreams to a peer trust, and what
   * a caller's trust domain is looked up in to find its peer.
   */
  peerBundles: readonly TrustBundle[];
  /**
   * The bundles of the peers this service is exported to: the only peers whose workloads may call
   * it, each verified against its own bundle here and nothing else.
   */
  inboundPeerBundles: readonly TrustBundle[];
  /** service-intentions entries whose destination is this service or "*". */
  intentions: readonly ServiceIntentionsEntry[];
  /** What happens when no intention matches: "allow" with ACLs off, "deny" with a default-deny policy. */
  defaultIntentionAction: IntentionAction;
  /** Why that default is in force (a flag, or the server's ACL state), for the log. */
  defaultIntentionReason?: string;
  /**
   * The instances of every service an upstream may reach: the upstreams themselves and the targets
   * of their resolvers' Redirect and Failover.
   */
  upstreams: readonly UpstreamInstances[];
  /** service-resolver entries of the local upstreams' services (those that have one). */
  resolvers?: readonly ServiceResolverEntry[];
  /** This cluster's mesh gateways, for peered upstreams in `local` mode. */
  localGateways: readonly Endpoint[];
  /** proxy-defaults MeshGateway.Mode; an upstream's own mode wins over it. */
  meshGatewayMode: MeshGatewayMode;
  /** `Proxy.Config` from proxy-defaults: opaque, passed through; `connect_timeout_ms` is honoured. */
  proxyConfig: Readonly<Record<string, unknown>>;
  /** TLS versions and ciphers between sidecars (the mesh entry's TLS); absent: DEFAULT_MESH_TLS. */
  tls?: MeshTls;
}

export type ProxyConfigSource = ConfigSource<ProxyConfig>;

/** A local listener for one upstream, as given on the command line. */
export interface UpstreamSpec {
  name: string;
  peer?: string;
  /** Where the app connects: 127.0.0.1:<port>. */
  bind: Endpoint;
  /** Overrides proxy-defaults for this upstream. */
  meshGatewayMode?: MeshGatewayMode;
}

export function upstreamLabel(spec: { name: string; peer?: string }): string {
  return spec.peer ? `${spec.name} (peer ${spec.peer})` : spec.name;
}
