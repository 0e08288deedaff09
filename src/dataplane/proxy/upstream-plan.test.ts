import { describe, expect, it } from 'vitest';
import type { ProxyConfig, UpstreamSpec } from './config.js';
import { planUpstream, routeUpstream } from './upstream-plan.js';

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

describe('routeUpstream with a service-resolver', () => {
  const local: UpstreamSpec = { name: 'backend', bind };
  const importedBackend = { name: 'backend', peer: 'cluster-01', instances: [peerGateway], sni: SNI };
  const failoverTo = (...targets: Record<string, string>[]) => ({
    Kind: 'service-resolver' as const,
    Name: 'backend',
    ConnectTimeout: '750ms',
    Failover: { '*': { Targets: targets } },
  });
  const withLocal = (instances: (typeof localSidecar)[], listed = instances.length) =>
    config({
      upstreams: [{ name: 'backend', instances, listed }, importedBackend],
      resolvers: [failoverTo({ Peer: 'cluster-01' })],
    });

  it('prefers passing local instances, with the peer next in line', () => {
    const route = routeUpstream(local, withLocal([localSidecar]));
    expect(route.candidates.map((c) => [c.target, c.role, c.route])).toEqual([
      ['backend', 'primary', 'direct'],
      ['backend (peer cluster-01)', 'failover', 'remote-gateway'],
    ]);
    expect(route.connectTimeoutMs).toBe(750);
  });

  it('fails over to the first target with a passing instance when no local one passes', () => {
    const route = routeUpstream(local, withLocal([], 2));
    expect(route.skipped).toEqual([
      expect.objectContaining({
        target: 'backend',
        reason: 'no-instances',
        detail: 'upstream backend has no passing instance, 2 listed, none passing',
      }),
    ]);
    expect(route.candidates[0]).toMatchObject({
      target: 'backend (peer cluster-01)',
      role: 'failover',
      endpoints: [peerGateway],
      sni: SNI,
      rootPems: ['THEIR-ROOT'],
      expect: { trustDomain: 'theirs.consul', service: 'backend', namespace: 'default' },
    });
  });

  it('goes through our own gateway in local mode, and refuses mode none, per target', () => {
    expect(routeUpstream(local, { ...withLocal([]), meshGatewayMode: 'local' }).candidates[0]).toMatchObject({
      route: 'local-gateway',
      endpoints: [localGateway],
    });
    expect(routeUpstream(local, { ...withLocal([]), meshGatewayMode: 'none' }).skipped[1]).toMatchObject({
      target: 'backend (peer cluster-01)',
      reason: 'mesh-gateway-mode',
    });
  });

  it('keeps the order of targets and skips an unknown peer with the reason', () => {
    const route = routeUpstream(
      local,
      config({
        upstreams: [{ name: 'backend', instances: [] }, importedBackend],
        resolvers: [failoverTo({ Peer: 'cluster-09' }, { Peer: 'cluster-01' })],
      }),
    );
    expect(route.skipped.map((s) => [s.target, s.reason])).toEqual([
      ['backend', 'no-instances'],
      ['backend (peer cluster-09)', 'unknown-peer'],
    ]);
    expect(route.skipped[1]?.detail).toBe(
      'failover target peer cluster-09 is not a peering of this cluster (no trust bundle from it)',
    );
    expect(route.candidates.map((c) => c.target)).toEqual(['backend (peer cluster-01)']);
  });

  it('fails over to another service, expecting that service identity', () => {
    const route = routeUpstream(
      local,
      config({
        upstreams: [
          { name: 'backend', instances: [] },
          { name: 'backend-v2', peer: 'cluster-01', instances: [peerGateway], sni: SNI },
        ],
        resolvers: [failoverTo({ Peer: 'cluster-01', Service: 'backend-v2' })],
      }),
    );
    expect(route.candidates[0]).toMatchObject({ expect: { service: 'backend-v2' } });
  });

  it('redirects every connection to a peer, never to the local instances', () => {
    const route = routeUpstream(
      local,
      config({
        upstreams: [{ name: 'backend', instances: [localSidecar] }, importedBackend],
        resolvers: [{ Kind: 'service-resolver', Name: 'backend', Redirect: { Peer: 'cluster-01' } }],
      }),
    );
    expect(route.candidates.map((c) => [c.target, c.role])).toEqual([
      ['backend (peer cluster-01)', 'redirect'],
    ]);
  });

  it('reports what it cannot follow instead of guessing', () => {
    const redirect = routeUpstream(
      local,
      config({ resolvers: [{ Kind: 'service-resolver', Name: 'backend', Redirect: { Datacenter: 'dc9' } }] }),
    );
    expect(redirect.candidates).toEqual([]);
    expect(redirect.skipped[0]).toMatchObject({ reason: 'unsupported-resolver' });
    expect(
      planUpstream(
        local,
        config({
          resolvers: [{ Kind: 'service-resolver', Name: 'backend', Redirect: { Datacenter: 'dc9' } }],
        }),
      ),
    ).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/Datacenter "dc9" is not supported; use Peer/),
    });
    const failover = routeUpstream(local, {
      ...withLocal([localSidecar]),
      resolvers: [failoverTo({ Datacenter: 'dc9' }, { Namespace: 'other', Peer: 'cluster-01' })],
    });
    expect(failover.candidates.map((c) => c.target)).toEqual(['backend']);
    expect(failover.unsupported).toHaveLength(2);
  });

  it('applies no resolver to an upstream that names its peer', () => {
    const route = routeUpstream(peered, { ...config(), resolvers: [failoverTo({ Peer: 'cluster-09' })] });
    expect(route.candidates.map((c) => c.target)).toEqual(['backend (peer cluster-01)']);
    expect(route.connectTimeoutMs).toBeUndefined();
  });
});
