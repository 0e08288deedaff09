// How one upstream connection is made under the current snapshot: which endpoints to dial, the SNI
// name to send, which roots to trust and which identity must answer. Pure, so every mode is tested
// without sockets.

import { assertModeAllowsPeering } from '../../config-entries/index.js';
import { isMeshpeerError } from '../../shared/errors.js';
import type { Endpoint } from '../endpoint.js';
import { localServiceSni } from '../sni.js';
import { type ProxyConfig, type UpstreamSpec, upstreamLabel } from './config.js';

export interface ExpectedIdentity {
  trustDomain: string;
  service: string;
  namespace: string;
}

export type UpstreamPlan =
  | {
      ok: true;
      endpoints: readonly Endpoint[];
      sni: string;
      /** '' for our own roots, else the peer whose bundle is trusted. */
      trustedPeer: string;
      rootPems: readonly string[];
      expect: ExpectedIdentity;
      route: 'direct' | 'remote-gateway' | 'local-gateway';
    }
  | { ok: false; reason: 'mesh-gateway-mode' | 'unknown-peer' | 'no-instances'; detail: string };

const DEFAULT = 'default';

export function planUpstream(spec: UpstreamSpec, config: ProxyConfig): UpstreamPlan {
  const known = config.upstreams.find((u) => u.name === spec.name && (u.peer ?? '') === (spec.peer ?? ''));
  const label = upstreamLabel(spec);
  if (!spec.peer) {
    if (!known || known.instances.length === 0) {
      return { ok: false, reason: 'no-instances', detail: `upstream ${label} has no healthy instance` };
    }
    return {
      ok: true,
      endpoints: known.instances,
      sni: localServiceSni({
        service: spec.name,
        datacenter: config.datacenter,
        trustDomain: config.trustDomain,
      }),
      trustedPeer: '',
      rootPems: config.roots,
      expect: { trustDomain: config.trustDomain, service: spec.name, namespace: DEFAULT },
      route: 'direct',
    };
  }
  let mode: 'remote' | 'local';
  try {
    mode = spec.meshGatewayMode
      ? assertModeAllowsPeering(spec.meshGatewayMode, `upstream ${label}`)
      : assertModeAllowsPeering(config.meshGatewayMode, 'proxy-defaults "global" MeshGateway.Mode');
  } catch (err) {
    if (!isMeshpeerError(err)) throw err;
    return { ok: false, reason: 'mesh-gateway-mode', detail: err.message };
  }
  const bundle = config.peerBundles.find((b) => b.peerName === spec.peer);
  if (!bundle) {
    return {
      ok: false,
      reason: 'unknown-peer',
      detail: `upstream ${label}: no trust bundle from peer ${spec.peer}`,
    };
  }
  if (!known?.sni || known.instances.length === 0) {
    return {
      ok: false,
      reason: 'no-instances',
      detail: `upstream ${label}: peer ${spec.peer} exports no healthy instance of ${spec.name} to us`,
    };
  }
  const endpoints = mode === 'remote' ? known.instances : config.localGateways;
  if (endpoints.length === 0) {
    return {
      ok: false,
      reason: 'no-instances',
      detail: `upstream ${label}: mesh gateway mode "local" needs a mesh gateway registered in this cluster`,
    };
  }
  return {
    ok: true,
    endpoints,
    sni: known.sni,
    trustedPeer: bundle.peerName,
    rootPems: bundle.rootPems,
    expect: { trustDomain: bundle.trustDomain, service: spec.name, namespace: DEFAULT },
    route: mode === 'remote' ? 'remote-gateway' : 'local-gateway',
  };
}
