import { describe, expect, it } from 'vitest';
import type { ProxyConfig, UpstreamSpec } from './config.js';
import { planUpstream } from './upstream-plan.js';

const peerGateway = { host: '192.0.2.1', port: 8443 };
const localGateway = { host: '10.0.0.9', port: 8443 };
const localSidecar = { host: '10.0.0.2', port: 21000 };
const SNI = 'backend.default.default.cluster-02.external.theirs.consul';

function config(overrides: Partial<ProxyConfig> = {}): ProxyConfig {
  return {
    service: 'frontend',
    datacenter: 'dc2',
    trustDomain: 'ours.consul',
    leaf: { certPem: '', keyPem: '' },
    roots: ['OUR-ROOT'],
    peerBundles: [{ peerName: 'cluster-01', trustDomain: 'theirs.consul', rootPems: ['THEIR-ROOT'] }],
    inboundPeerBundles: [],
    intentions: [],
    defaultIntentionAction: 'allow',
    upstreams: [
      { name: 'backend', peer: 'cluster-01', instances: [peerGateway], sni: SNI },
      { name: 'cache', instances: [localSidecar] },
    ],
    localGateways: [localGateway],
    meshGatewayMode: '',
    proxyConfig: {},
    ...overrides,
  };
}

const bind = { host: '127.0.0.1', port: 0 };
const peered: UpstreamSpec = { name: 'backend', peer: 'cluster-01', bind };

describe('planUpstream', () => {
  it('dials a local upstream directly, trusting our roots only', () => {
    expect(planUpstream({ name: 'cache', bind }, config())).toMatchObject({
      ok: true,
      endpoints: [localSidecar],
      sni: 'cache.default.dc2.internal.ours.consul',
      rootPems: ['OUR-ROOT'],
      expect: { trustDomain: 'ours.consul', service: 'cache' },
    });
  });

  it('dials the peer gateway in remote mode (the default), expecting the peer identity', () => {
    expect(planUpstream(peered, config())).toMatchObject({
      ok: true,
      route: 'remote-gateway',
      endpoints: [peerGateway],
      sni: SNI,
      rootPems: ['THEIR-ROOT'],
      expect: { trustDomain: 'theirs.consul', service: 'backend' },
    });
  });

  it('dials its own gateway in local mode, from proxy-defaults or the upstream itself', () => {
    expect(planUpstream(peered, config({ meshGatewayMode: 'local' }))).toMatchObject({
      route: 'local-gateway',
      endpoints: [localGateway],
      sni: SNI,
    });
    expect(
      planUpstream({ ...peered, meshGatewayMode: 'remote' }, config({ meshGatewayMode: 'local' })),
    ).toMatchObject({
      route: 'remote-gateway',
    });
  });

  it('refuses mode "none" for a peered upstream, naming where it was set', () => {
    expect(planUpstream(peered, config({ meshGatewayMode: 'none' }))).toMatchObject({
      ok: false,
      reason: 'mesh-gateway-mode',
      detail: expect.stringMatching(/proxy-defaults "global" MeshGateway.Mode: mesh gateway mode "none"/),
    });
  });

  it('explains a missing peer, instance or local gateway', () => {
    expect(planUpstream({ ...peered, peer: 'cluster-09' }, config())).toMatchObject({
      reason: 'unknown-peer',
    });
    expect(planUpstream(peered, config({ upstreams: [] }))).toMatchObject({ reason: 'no-instances' });
    expect(planUpstream(peered, config({ meshGatewayMode: 'local', localGateways: [] }))).toMatchObject({
      reason: 'no-instances',
      detail: expect.stringMatching(/needs a mesh gateway registered in this cluster/),
    });
    expect(planUpstream({ name: 'nothing', bind }, config())).toMatchObject({ reason: 'no-instances' });
  });
});
