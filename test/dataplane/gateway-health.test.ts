// A mesh gateway sends peers' connections only to sidecars that pass in front of instances that pass:
// its configuration from a fake of the server's HTTP API, changed through blocking queries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, newTrustDomain } from '../../src/ca/index.js';
import type { GatewayConfig } from '../../src/dataplane/gateway/config.js';
import { ConsulApi, HttpGatewayConfigSource } from '../../src/dataplane/http-config-source.js';
import { eventually, FakeConsul } from './fake-consul.js';

const fake = new FakeConsul();
let source: HttpGatewayConfigSource;
let latest: GatewayConfig | undefined;

const node = (name: string) => ({ Node: name, Address: '10.0.0.1' });
const sidecar = (n: string, port: number, status = 'passing') => ({
  Node: node(n),
  Service: {
    ID: 'backend-sidecar-proxy',
    Service: 'backend-sidecar-proxy',
    Kind: 'connect-proxy',
    Port: port,
    Proxy: { DestinationServiceName: 'backend', LocalServicePort: 9090 },
  },
  Checks: [{ Status: status }],
});
const instance = (n: string, status: string) => ({
  Node: node(n),
  Service: { ID: 'backend-1', Service: 'backend', Port: 9090 },
  Checks: [{ Status: status }],
});

beforeAll(async () => {
  await fake.start();
  const root = await createRootCa({ clusterName: 'x', trustDomain: newTrustDomain() });
  fake.set('/v1/connect/ca/roots', {
    ActiveRootID: root.id,
    TrustDomain: root.trustDomain,
    Roots: [{ ID: root.id, RootCert: root.certPem, Active: true }],
  });
  fake.set('/v1/internal/meshpeer/trust-bundles', [
    { PeerName: 'cluster-02', TrustDomain: 'peer.consul', RootPEMs: [root.certPem] },
  ]);
  fake.set('/v1/catalog/services', { backend: [], 'backend-sidecar-proxy': [] });
  fake.set('/v1/internal/meshpeer/peer-servers', []);
  fake.set('/v1/catalog/services?peer=cluster-02', {});
  fake.set('/v1/config/exported-services/default', {
    Kind: 'exported-services',
    Name: 'default',
    Services: [{ Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] }],
  });
  fake.set('/v1/health/connect/backend', [
    sidecar('n1', 21001),
    sidecar('n2', 21002),
    sidecar('n3', 21003, 'critical'),
  ]);
  fake.set('/v1/health/service/backend', [
    instance('n1', 'passing'),
    instance('n2', 'passing'),
    instance('n3', 'passing'),
  ]);
  source = new HttpGatewayConfigSource({
    api: new ConsulApi({ address: fake.url }),
    datacenter: 'dc1',
    localServers: [],
  });
  source.subscribe((config) => {
    latest = config;
  });
});

afterAll(async () => {
  source.stop();
  await fake.close();
});

const ports = () => (latest?.localServices.get('backend') ?? []).map((e) => e.port).sort();

describe("the gateway's local routes", () => {
  it('leave out a sidecar whose own check is critical', async () => {
    await eventually(() => expect(ports()).toEqual([21001, 21002]));
  });

  it('leave out a sidecar whose instance turns critical, and take it back when it passes', async () => {
    fake.set('/v1/health/service/backend', [
      instance('n1', 'critical'),
      instance('n2', 'passing'),
      instance('n3', 'passing'),
    ]);
    await eventually(() => expect(ports()).toEqual([21002]));
    fake.set('/v1/health/service/backend', [
      instance('n1', 'passing'),
      instance('n2', 'passing'),
      instance('n3', 'passing'),
    ]);
    await eventually(() => expect(ports()).toEqual([21001, 21002]));
  });
});
