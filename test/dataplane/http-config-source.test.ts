import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueLeaf, newTrustDomain, type RootCa } from '../../src/ca/index.js';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import { MeshGateway } from '../../src/dataplane/gateway/index.js';
import {
  ConsulApi,
  HttpGatewayConfigSource,
  HttpProxyConfigSource,
  SNI_META_KEY,
} from '../../src/dataplane/http-config-source.js';
import { Sidecar } from '../../src/dataplane/proxy/index.js';
import { peeredServiceSni } from '../../src/dataplane/sni.js';
import { type EchoServer, echoOnce, startEchoServer } from '../../src/dataplane/testing/traffic.js';
import { eventually, FakeConsul } from './fake-consul.js';
import { metricValue } from './helpers.js';

// Both config sources against a fake of the server's HTTP API (the contract the lead's server
// implements), driving real gateways and sidecars: a change on the "server" reaches the data plane
// through blocking queries alone.

interface Side {
  fake: FakeConsul;
  root: RootCa;
  api: ConsulApi;
}

const LOOPBACK: Endpoint = { host: '127.0.0.1', port: 0 };
const stops: (() => Promise<void> | void)[] = [];
let a: Side; // cluster-01: exports backend to cluster-02
let b: Side; // cluster-02: imports it
let echo: EchoServer;
let backendSni: string;

async function side(): Promise<Side> {
  const fake = new FakeConsul();
  const url = await fake.start();
  stops.push(() => fake.close());
  const root = await createRootCa({ clusterName: 'x', trustDomain: newTrustDomain() });
  fake.set('/v1/connect/ca/roots', {
    ActiveRootID: root.id,
    TrustDomain: root.trustDomain,
    Roots: [{ ID: root.id, RootCert: root.certPem, Active: true }],
  });
  fake.set('/v1/health/service/mesh-gateway', []);
  fake.set('/v1/agent/self', agentSelf(false));
  return { fake, root, api: new ConsulApi({ address: url }) };
}

async function leafAnswer(
  root: RootCa,
  service: string,
  datacenter: string,
): Promise<Record<string, string>> {
  const leaf = await issueLeaf(root, { service, datacenter });
  return {
    SerialNumber: leaf.serialNumber,
    CertPEM: leaf.certPem,
    PrivateKeyPEM: leaf.keyPem,
    Service: service,
    ServiceURI: leaf.spiffeId,
    ValidAfter: leaf.validAfter,
    ValidBefore: leaf.validBefore,
  };
}

const agentSelf = (aclsEnabled: boolean, defaultPolicy = 'deny') => ({
  Config: { Datacenter: 'dc1' },
  DebugConfig: {
    ACLsEnabled: aclsEnabled,
    ACLResolverSettings: { ACLsEnabled: aclsEnabled, ACLDefaultPolicy: defaultPolicy },
  },
});

const bundleOf = (peer: string, s: Side) => ({
  PeerName: peer,
  TrustDomain: s.root.trustDomain,
  RootPEMs: [s.root.certPem],
});
const exportsBackend = {
  Kind: 'exported-services',
  Name: 'default',
  Services: [{ Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] }],
};
const instance = (service: string, at: Endpoint, extra: Record<string, unknown> = {}) => ({
  Node: { Node: 'node-1', Address: '127.0.0.1' },
  Service: { ID: `${service}-1`, Service: service, Address: at.host, Port: at.port, ...extra },
  Checks: [{ Status: 'passing' }],
});

let frontend: Sidecar;
let gatewayA: MeshGateway;
let gatewayB: MeshGateway;

beforeAll(async () => {
  a = await side();
  b = await side();
  echo = await startEchoServer();
  stops.push(() => echo.close());
  a.fake.set('/v1/internal/meshpeer/trust-bundles', [bundleOf('cluster-02', b)]);
  b.fake.set('/v1/internal/meshpeer/trust-bundles', [bundleOf('cluster-01', a)]);
  // backend is exported to cluster-02; frontend to nobody.
  a.fake.set('/v1/internal/meshpeer/trust-bundles/backend', [bundleOf('cluster-02', b)]);
  b.fake.set('/v1/internal/meshpeer/trust-bundles/frontend', []);
  a.fake.set('/v1/agent/connect/ca/leaf/backend', await leafAnswer(a.root, 'backend', 'dc1'));
  b.fake.set('/v1/agent/connect/ca/leaf/frontend', await leafAnswer(b.root, 'frontend', 'dc2'));
  a.fake.set('/v1/config/exported-services/default', exportsBackend);
  a.fake.set('/v1/catalog/services', { backend: [], 'backend-sidecar-proxy': [] });
  b.fake.set('/v1/catalog/services', { frontend: [] });
  a.fake.set('/v1/internal/meshpeer/peer-servers', []);
  b.fake.set('/v1/internal/meshpeer/peer-servers', []);
  a.fake.set('/v1/catalog/services?peer=cluster-02', {});
  b.fake.set('/v1/catalog/services?peer=cluster-01', {});
  a.fake.set('/v1/health/connect/backend', []);

  const backendSource = new HttpProxyConfigSource({ api: a.api, service: 'backend', upstreams: [] });
  stops.push(() => backendSource.stop());
  const backend = new Sidecar({ config: backendSource, inbound: { listen: LOOPBACK, app: echo.address } });
  const { inbound } = await backend.start();
  stops.push(() => backend.stop());
  a.fake.set('/v1/health/connect/backend', [
    instance('backend-sidecar-proxy', inbound as Endpoint, {
      Kind: 'connect-proxy',
      Proxy: { DestinationServiceName: 'backend' },
    }),
  ]);

  const gatewaySourceA = new HttpGatewayConfigSource({ api: a.api, datacenter: 'dc1', localServers: [] });
  stops.push(() => gatewaySourceA.stop());
  gatewayA = new MeshGateway({ config: gatewaySourceA, listen: LOOPBACK });
  const gatewayAddressA = await gatewayA.start();
  stops.push(() => gatewayA.stop());

  // What cluster-01's server replicates to cluster-02: backend, at cluster-01's gateway, with its SNI name.
  backendSni = peeredServiceSni({ service: 'backend', peer: 'cluster-02', trustDomain: a.root.trustDomain });
  b.fake.set('/v1/catalog/services?peer=cluster-01', { backend: [] });
  b.fake.set('/v1/health/connect/backend?peer=cluster-01', [
    instance('backend', gatewayAddressA, { Meta: { [SNI_META_KEY]: backendSni } }),
  ]);

  const gatewaySourceB = new HttpGatewayConfigSource({ api: b.api, datacenter: 'dc2', localServers: [] });
  stops.push(() => gatewaySourceB.stop());
  gatewayB = new MeshGateway({ config: gatewaySourceB, listen: LOOPBACK });
  const gatewayAddressB = await gatewayB.start();
  stops.push(() => gatewayB.stop());
  b.fake.set('/v1/health/service/mesh-gateway', [
    {
      Node: { Node: 'node-1', Address: '127.0.0.1' },
      Service: {
        Service: 'mesh-gateway',
        Kind: 'mesh-gateway',
        Address: gatewayAddressB.host,
        Port: gatewayAddressB.port,
      },
      Checks: [{ Status: 'passing' }],
    },
  ]);

  const frontendSource = new HttpProxyConfigSource({
    api: b.api,
    service: 'frontend',
    upstreams: [{ name: 'backend', peer: 'cluster-01', bind: LOOPBACK }],
  });
  stops.push(() => frontendSource.stop());
  frontend = new Sidecar({
    config: frontendSource,
    upstreams: [{ name: 'backend', peer: 'cluster-01', bind: LOOPBACK }],
  });
  await frontend.start();
  stops.push(() => frontend.stop());
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
});

const upstream = (): Endpoint => frontend.upstreamAddress('backend', 'cluster-01');

describe('config sources over the HTTP API', () => {
  it('configure a gateway pair and two sidecars so traffic crosses between the clusters', async () => {
    expect((await echoOnce(upstream(), 'over http config')).toString()).toBe('over http config');
  });

  it("follow proxy-defaults' mesh gateway mode to local through a blocking query", async () => {
    b.fake.set('/v1/config/proxy-defaults/global', {
      Kind: 'proxy-defaults',
      Name: 'global',
      MeshGateway: { Mode: 'local' },
      Config: { connect_timeout_ms: 2000 },
    });
    await eventually(async () => {
      const before = await metricValue(
        gatewayB.metrics.registry,
        'meshpeer_gateway_connections_forwarded_total',
        { route: 'outbound' },
      );
      expect((await echoOnce(upstream(), 'local')).toString()).toBe('local');
      expect(
        await metricValue(gatewayB.metrics.registry, 'meshpeer_gateway_connections_forwarded_total', {
          route: 'outbound',
        }),
      ).toBe(before + 1);
    });
    b.fake.set('/v1/config/proxy-defaults/global', undefined);
  });

  it("apply the mesh entry's TLS versions: callers held to TLS 1.3 are refused by a callee held to 1.2", async () => {
    b.fake.set('/v1/config/mesh/mesh', {
      Kind: 'mesh',
      Name: 'mesh',
      TLS: { Outgoing: { TLSMinVersion: 'TLSv1_3' } },
    });
    await eventually(async () => expect((await echoOnce(upstream(), 'tls13')).toString()).toBe('tls13'));
    a.fake.set('/v1/config/mesh/mesh', {
      Kind: 'mesh',
      Name: 'mesh',
      TLS: { Incoming: { TLSMaxVersion: 'TLSv1_2' } },
    });
    await eventually(async () => expect((await echoOnce(upstream(), 'x')).length).toBe(0));
    a.fake.set('/v1/config/mesh/mesh', undefined);
    await eventually(async () => expect((await echoOnce(upstream(), 'again')).toString()).toBe('again'));
    b.fake.set('/v1/config/mesh/mesh', undefined);
  });

  it('enforce a deny intention as soon as the server has it', async () => {
    a.fake.set('/v1/config/service-intentions/backend', {
      Kind: 'service-intentions',
      Name: 'backend',
      Sources: [{ Name: 'frontend', Peer: 'cluster-02', Action: 'deny' }],
    });
    await eventually(async () => expect((await echoOnce(upstream(), 'x')).length).toBe(0));
    a.fake.set('/v1/config/service-intentions/backend', undefined);
    await eventually(async () => expect((await echoOnce(upstream(), 'back')).toString()).toBe('back'));
  });

  it('stop routing to a service once its export is withdrawn', async () => {
    a.fake.set('/v1/config/exported-services/default', {
      Kind: 'exported-services',
      Name: 'default',
      Services: [],
    });
    await eventually(async () => expect((await echoOnce(upstream(), 'x')).length).toBe(0));
    a.fake.set('/v1/config/exported-services/default', exportsBackend);
    await eventually(async () => expect((await echoOnce(upstream(), 'again')).toString()).toBe('again'));
  });

  it('re-issue blocking queries with the last X-Consul-Index', () => {
    const blocking = a.fake.requests.filter((r) => r.startsWith('/v1/connect/ca/roots?'));
    expect(blocking.length).toBeGreaterThan(0);
    expect(blocking[0]).toMatch(/index=\d+&wait=30s/);
  });

  it('take a renewed leaf from the server for new connections', async () => {
    const renewed = await leafAnswer(b.root, 'frontend', 'dc2');
    b.fake.set('/v1/agent/connect/ca/leaf/frontend', renewed);
    await eventually(() => expect(frontend.leafSerial).toBe(renewed.SerialNumber));
    expect((await echoOnce(upstream(), 'renewed')).toString()).toBe('renewed');
  });
});

describe("HttpProxyConfigSource's default intention", () => {
  async function firstSnapshot(
    override?: 'allow' | 'deny',
  ): Promise<{ action: string; reason: string | undefined }> {
    const source = new HttpProxyConfigSource({
      api: a.api,
      service: 'backend',
      upstreams: [],
      ...(override ? { defaultIntentionAction: override } : {}),
    });
    try {
      return await new Promise((resolve) => {
        source.subscribe((s) =>
          resolve({ action: s.defaultIntentionAction, reason: s.defaultIntentionReason }),
        );
      });
    } finally {
      source.stop();
    }
  }
  afterAll(() => a.fake.set('/v1/agent/self', agentSelf(false)));

  it("follows the server's ACL state: allow when off, the default policy when on", async () => {
    a.fake.set('/v1/agent/self', agentSelf(false));
    expect(await firstSnapshot()).toEqual({ action: 'allow', reason: 'ACLs are disabled on the server' });
    a.fake.set('/v1/agent/self', agentSelf(true, 'deny'));
    expect(await firstSnapshot()).toEqual({
      action: 'deny',
      reason: 'ACLs are enabled on the server with default policy deny',
    });
    a.fake.set('/v1/agent/self', agentSelf(true, 'allow'));
    expect((await firstSnapshot()).action).toBe('allow');
  });

  it('fails closed when the server refuses to say or does not report it', async () => {
    a.fake.set('/v1/agent/self', 'Permission denied', 403);
    expect(await firstSnapshot()).toMatchObject({
      action: 'deny',
      reason: expect.stringMatching(/HTTP 403/),
    });
    a.fake.set('/v1/agent/self', { Config: { Datacenter: 'dc1' } });
    expect(await firstSnapshot()).toMatchObject({
      action: 'deny',
      reason: expect.stringMatching(/fails closed/),
    });
  });

  it('lets a flag override the server, and says so', async () => {
    a.fake.set('/v1/agent/self', agentSelf(true, 'deny'));
    expect(await firstSnapshot('allow')).toEqual({ action: 'allow', reason: 'set by --default-intention' });
  });
});

describe('HttpProxyConfigSource leaf renewal', () => {
  it('asks for the leaf again when it is due, without waiting for the server', async () => {
    const source = new HttpProxyConfigSource({
      api: a.api,
      service: 'backend',
      upstreams: [],
      renewAt: () => new Date(Date.now() + 100),
    });
    const snapshots: string[] = [];
    const unsubscribe = source.subscribe((s) => snapshots.push(s.leaf.serialNumber ?? ''));
    try {
      await eventually(() => expect(snapshots.length).toBe(1));
      const path = '/v1/agent/connect/ca/leaf/backend';
      const before = a.fake.requests.filter((r) => r === path).length;
      await eventually(() =>
        expect(a.fake.requests.filter((r) => r === path).length).toBeGreaterThan(before),
      );
    } finally {
      unsubscribe();
      source.stop();
    }
  });
});
