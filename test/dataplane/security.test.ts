import { once } from 'node:events';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, newTrustDomain } from '../../src/ca/index.js';
import { serviceIntentionsSchema } from '../../src/config-entries/index.js';
import { StaticConfigSource } from '../../src/dataplane/config-source.js';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import { type GatewayConfig, MeshGateway } from '../../src/dataplane/gateway/index.js';
import { Sidecar } from '../../src/dataplane/proxy/index.js';
import { peeredServiceSni } from '../../src/dataplane/sni.js';
import { echoOnce, startEchoServer } from '../../src/dataplane/testing/traffic.js';
import { startTwoClusters, type TwoClusters } from '../../src/dataplane/testing/two-clusters.js';
import { metricValue, tlsAttempt } from './helpers.js';

let mesh: TwoClusters;

beforeAll(async () => {
  mesh = await startTwoClusters();
});

afterAll(async () => {
  await mesh?.close();
});

const refusedAtBackend = (reason: string): Promise<number> =>
  metricValue(mesh.backend.metrics.registry, 'meshpeer_proxy_inbound_refused_total', { reason });
const refusedAtGateway = (reason: string): Promise<number> =>
  metricValue(mesh.exporterGateway.metrics.registry, 'meshpeer_gateway_connections_refused_total', {
    reason,
  });

describe('the sidecar inbound listener', () => {
  const backendInbound = (): Endpoint => mesh.backend.addresses.inbound as Endpoint;

  it('refuses a client that presents no certificate', async () => {
    const before = await refusedAtBackend('tls-handshake');
    const appConnections = mesh.echo.connections;
    const attempt = await tlsAttempt(backendInbound(), {
      servername: 'backend',
      ca: [mesh.exporter.root.certPem],
    });
    expect(attempt.data).toBe('');
    expect(await refusedAtBackend('tls-handshake')).toBe(before + 1);
    expect(mesh.echo.connections).toBe(appConnections);
  });

  it('refuses a client whose certificate comes from a CA it does not trust', async () => {
    const stranger = await createRootCa({ clusterName: 'stranger', trustDomain: newTrustDomain() });
    const leaf = await mesh.leaf({ ...mesh.importer, root: stranger }, 'frontend');
    const before = await refusedAtBackend('tls-handshake');
    const attempt = await tlsAttempt(backendInbound(), {
      servername: 'backend',
      ca: [mesh.exporter.root.certPem],
      leaf,
    });
    expect(attempt.data).toBe('');
    expect(await refusedAtBackend('tls-handshake')).toBe(before + 1);
  });

  it('refuses a peer-signed certificate that claims our trust domain', async () => {
    // Signed by cluster-02's root (which the listener trusts for cluster-02's names only).
    const impostorRoot = { ...mesh.importer.root, trustDomain: mesh.exporter.root.trustDomain };
    const forged = await mesh.leaf({ ...mesh.importer, root: impostorRoot }, 'frontend');
    const before = await refusedAtBackend('untrusted-identity');
    const attempt = await tlsAttempt(backendInbound(), {
      servername: 'backend',
      ca: [mesh.exporter.root.certPem],
      leaf: forged,
    });
    expect(attempt.data).toBe('');
    expect(await refusedAtBackend('untrusted-identity')).toBe(before + 1);
  });
});

describe('intentions at the exporting sidecar', () => {
  const setIntentions = (sources: unknown[], defaultIntentionAction: 'allow' | 'deny' = 'allow'): void => {
    const intentions = sources.length
      ? [serviceIntentionsSchema.parse({ Kind: 'service-intentions', Name: 'backend', Sources: sources })]
      : [];
    mesh.sources.backend.update((c) => ({ ...c, intentions, defaultIntentionAction }));
  };
  afterAll(() => setIntentions([]));

  it('a deny for the peer source blocks the connection', async () => {
    setIntentions([{ Name: 'frontend', Peer: 'cluster-02', Action: 'deny' }]);
    const before = await refusedAtBackend('intention-deny');
    expect((await echoOnce(mesh.upstream, 'x')).length).toBe(0);
    expect(await refusedAtBackend('intention-deny')).toBe(before + 1);
  });

  it('an allow for the peer source lets it in when the default is deny', async () => {
    setIntentions([{ Name: 'frontend', Peer: 'cluster-02', Action: 'allow' }], 'deny');
    expect((await echoOnce(mesh.upstream, 'allowed')).toString()).toBe('allowed');
  });

  it('a source without Peer does not match a caller from a peer', async () => {
    setIntentions([{ Name: 'frontend', Action: 'allow' }], 'deny');
    expect((await echoOnce(mesh.upstream, 'x')).length).toBe(0);
  });

  it('the more precise intention wins over a wildcard', async () => {
    setIntentions(
      [
        { Name: '*', Peer: 'cluster-02', Action: 'deny' },
        { Name: 'frontend', Peer: 'cluster-02', Action: 'allow' },
      ],
      'deny',
    );
    expect((await echoOnce(mesh.upstream, 'precise')).toString()).toBe('precise');
  });

  it('with no intentions the configured default applies', async () => {
    setIntentions([], 'deny');
    expect((await echoOnce(mesh.upstream, 'x')).length).toBe(0);
    setIntentions([], 'allow');
    expect((await echoOnce(mesh.upstream, 'open')).toString()).toBe('open');
  });
});

describe('the exporting mesh gateway', () => {
  let secretEcho: Awaited<ReturnType<typeof startEchoServer>>;
  let secretSidecar: Sidecar;

  beforeAll(async () => {
    // A second service in cluster-01, with a sidecar and an instance known to the gateway, never exported.
    secretEcho = await startEchoServer();
    const base = mesh.sources.backend.snapshot;
    if (!base) throw new Error('no backend config');
    secretSidecar = new Sidecar({
      config: new StaticConfigSource({
        ...base,
        service: 'secret',
        leaf: await mesh.leaf(mesh.exporter, 'secret'),
      }),
      inbound: { listen: { host: '127.0.0.1', port: 0 }, app: secretEcho.address },
    });
    const { inbound } = await secretSidecar.start();
    mesh.sources.exporterGateway.update((c) => ({
      ...c,
      localServices: new Map([...c.localServices, ['secret', [inbound as Endpoint]]]),
    }));
  });

  afterAll(async () => {
    await secretSidecar?.stop();
    await secretEcho?.close();
  });

  it('forwards a peer with a valid certificate to an exported service', async () => {
    const attempt = await tlsAttempt(mesh.exporterGateway.address, {
      servername: mesh.backendSni,
      ca: [mesh.exporter.root.certPem],
      leaf: await mesh.leaf(mesh.importer, 'frontend'),
      payload: 'direct',
    });
    expect(attempt.data).toBe('direct');
  });

  it('never reaches a service that is not exported, whatever SNI name is crafted', async () => {
    const leaf = await mesh.leaf(mesh.importer, 'frontend');
    const td = mesh.exporter.root.trustDomain;
    const before = await refusedAtGateway('not-exported');
    const crafted = [
      peeredServiceSni({ service: 'secret', peer: 'cluster-02', trustDomain: td }),
      peeredServiceSni({ service: 'secret', peer: 'cluster-03', trustDomain: td }),
      peeredServiceSni({ service: 'backend', peer: 'cluster-03', trustDomain: td }),
      peeredServiceSni({ service: 'secret', namespace: 'other', peer: 'cluster-02', trustDomain: td }),
    ];
    for (const servername of crafted) {
      const attempt = await tlsAttempt(mesh.exporterGateway.address, {
        servername,
        ca: [mesh.exporter.root.certPem],
        leaf,
        payload: 'let me in',
      });
      expect(attempt.data, servername).toBe('');
    }
    expect(await refusedAtGateway('not-exported')).toBe(before + crafted.length);
    expect(
      await tlsAttempt(mesh.exporterGateway.address, {
        servername: `secret.default.dc1.internal.${td}`,
        ca: [mesh.exporter.root.certPem],
        leaf,
      }),
    ).toMatchObject({ data: '' });
    expect(secretEcho.connections).toBe(0);
  });

  it('refuses non-TLS bytes and counts them', async () => {
    const before = await refusedAtGateway('not-tls');
    const reply = await echoOnce(mesh.exporterGateway.address, 'GET / HTTP/1.1\r\nHost: backend\r\n\r\n');
    expect(reply.length).toBe(0);
    expect(await refusedAtGateway('not-tls')).toBe(before + 1);
  });

  it('refuses a handshake record that is not a valid ClientHello', async () => {
    const before = await refusedAtGateway('malformed-client-hello');
    const bogus = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef]);
    expect((await echoOnce(mesh.exporterGateway.address, bogus)).length).toBe(0);
    expect(await refusedAtGateway('malformed-client-hello')).toBe(before + 1);
  });

  it('closes a client that never finishes its ClientHello', async () => {
    const source = new StaticConfigSource<GatewayConfig>(mesh.sources.exporterGateway.snapshot);
    const gateway = new MeshGateway({
      config: source,
      listen: { host: '127.0.0.1', port: 0 },
      clientHelloTimeoutMs: 200,
    });
    const address = await gateway.start();
    try {
      const socket = net.connect(address.port, address.host);
      socket.on('error', () => {});
      await once(socket, 'connect');
      socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
      await once(socket, 'close');
      expect(
        await metricValue(gateway.metrics.registry, 'meshpeer_gateway_connections_refused_total', {
          reason: 'client-hello-timeout',
        }),
      ).toBe(1);
    } finally {
      await gateway.stop();
    }
  });
});
