// For the unit tests of the engines' upstream rendering (HAProxy, nginx): one sidecar's configuration
// with a local upstream of two sidecars and the same service imported from a peer behind its gateway,
// failing over to that peer, and the bind a local upstream listens on.
import type { ProxyConfig, UpstreamSpec } from '../config.js';

export const OUR_ROOT = '-----BEGIN CERTIFICATE-----\nOURS\n-----END CERTIFICATE-----';
export const THEIR_ROOT = '-----BEGIN CERTIFICATE-----\nTHEIRS\n-----END CERTIFICATE-----';
/** The SNI name of the service the peer cluster-01 exports (its gateway routes by it). */
export const PEER_SNI = 'backend.default.default.cluster-02.external.theirs.consul';
export const peerGateway = { host: '192.0.2.1', port: 8443 };
export const sidecars = [
  { host: '10.0.0.2', port: 21000 },
  { host: '10.0.0.3', port: 21000 },
];
export const imported = { name: 'backend', peer: 'cluster-01', instances: [peerGateway], sni: PEER_SNI };
/** backend fails over to its copy in cluster-01. */
export const failover = [
  {
    Kind: 'service-resolver' as const,
    Name: 'backend',
    Failover: { '*': { Targets: [{ Peer: 'cluster-01' }] } },
  },
];

/** The frontend sidecar's configuration in dc2, `overrides` laid over it. */
export function upstreamConfig(overrides: Partial<ProxyConfig> = {}): ProxyConfig {
  return {
    service: 'frontend',
    datacenter: 'dc2',
    trustDomain: 'ours.consul',
    leaf: { certPem: '', keyPem: '' },
    roots: [OUR_ROOT],
    peerBundles: [{ peerName: 'cluster-01', trustDomain: 'theirs.consul', rootPems: [THEIR_ROOT] }],
    inboundPeerBundles: [],
    intentions: [],
    defaultIntentionAction: 'allow',
    upstreams: [{ name: 'backend', instances: sidecars }, imported],
    resolvers: failover,
    localGateways: [],
    meshGatewayMode: '',
    proxyConfig: {},
    ...overrides,
  };
}

/** A local upstream of backend on 127.0.0.1:9191. */
export const local: UpstreamSpec = { name: 'backend', bind: { host: '127.0.0.1', port: 9191 } };
/** A local upstream of backend as imported from cluster-01, on the same bind. */
export const peerLocal: UpstreamSpec = {
  name: 'backend',
  peer: 'cluster-01',
  bind: { host: '127.0.0.1', port: 9191 },
};
