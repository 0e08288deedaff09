// A ServiceResolver resource in the CRD's shape (camelCase spec, as Kubernetes users write it for
// failover and redirect to a peer) becomes the config entry the controller writes — through the
// controller's own conversion — and that entry routes the sidecar's upstream as the HCL one does.
// (The controller reconciling ServiceResolver resources from a real kube-apiserver is tested in
// test/controller; here, what the entry means to the data plane.)

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  normalizeConfigEntryShape,
  parseConfigEntryOfKind,
  type ServiceResolverEntry,
} from '../../src/config-entries/index.js';
import type { ProxyConfig } from '../../src/dataplane/proxy/index.js';
import { routeUpstream } from '../../src/dataplane/proxy/index.js';
import { SERVICE_RESOLVER } from '../../src/kubernetes/config-entry-kinds.js';
import { docsFailoverResolver } from '../fixtures/seed.js';

function entryOf(manifest: string): ServiceResolverEntry {
  const obj = parse(manifest) as { metadata: { name: string }; spec: Record<string, unknown> };
  const shaped = normalizeConfigEntryShape({
    ...SERVICE_RESOLVER.entryFields(obj.spec),
    Kind: SERVICE_RESOLVER.entryKind,
    Name: obj.metadata.name,
  });
  return parseConfigEntryOfKind('service-resolver', shaped);
}

const failover = docsFailoverResolver('cluster-01');

const redirect = `
apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceResolver
metadata:
  name: backend
spec:
  redirect:
    peer: 'cluster-01'
    service: 'backend'
`;

const peerGateway = { host: '192.0.2.1', port: 8443 };
const config = (
  localInstances: { host: string; port: number }[],
  entry: ServiceResolverEntry,
): ProxyConfig => ({
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
    { name: 'backend', instances: localInstances, listed: 1 },
    {
      name: 'backend',
      peer: 'cluster-01',
      instances: [peerGateway],
      sni: 'backend.default.default.cluster-02.external.theirs.consul',
    },
  ],
  resolvers: [entry],
  localGateways: [],
  meshGatewayMode: '',
  proxyConfig: {},
});
const local = { name: 'backend', bind: { host: '127.0.0.1', port: 0 } };

describe('a ServiceResolver resource', () => {
  it('fails over to the peer when no local instance passes, with its connectTimeout', () => {
    const entry = entryOf(failover);
    expect(entry.Failover?.['*']?.Targets).toEqual([
      { Peer: 'cluster-01', Service: 'backend', Namespace: 'default' },
    ]);
    const healthy = routeUpstream(local, config([{ host: '10.0.0.2', port: 21000 }], entry));
    expect(healthy.candidates.map((c) => c.target)).toEqual(['backend', 'backend (peer cluster-01)']);
    expect(healthy.connectTimeoutMs).toBe(15_000);
    const critical = routeUpstream(local, config([], entry));
    expect(critical.candidates[0]).toMatchObject({ target: 'backend (peer cluster-01)', role: 'failover' });
  });

  it('redirects to the peer', () => {
    const route = routeUpstream(local, config([{ host: '10.0.0.2', port: 21000 }], entryOf(redirect)));
    expect(route.candidates.map((c) => [c.target, c.role])).toEqual([
      ['backend (peer cluster-01)', 'redirect'],
    ]);
  });
});
