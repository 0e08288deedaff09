// The snapshot a sidecar works from: the configuration and the TLS material built from it, swapped
// together so a connection never mixes two generations.
import type { ProxyConfig } from './config.js';
import { TlsMaterial } from './tls-contexts.js';

export interface ProxyState {
  config: ProxyConfig;
  tls: TlsMaterial;
}

export function stateOf(config: ProxyConfig, previous?: ProxyState): ProxyState {
  // Client contexts are expensive to build; keep them when the leaf, the roots and the TLS versions
  // and ciphers did not change.
  const sameTls =
    previous &&
    previous.config.leaf.certPem === config.leaf.certPem &&
    JSON.stringify([
      previous.config.roots,
      previous.config.peerBundles,
      previous.config.inboundPeerBundles,
      previous.config.tls,
    ]) === JSON.stringify([config.roots, config.peerBundles, config.inboundPeerBundles, config.tls]);
  return { config, tls: sameTls ? previous.tls : new TlsMaterial(config) };
}
