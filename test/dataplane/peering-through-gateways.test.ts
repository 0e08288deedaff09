import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueServerCert } from '../../src/ca/index.js';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import { ConnectionSet, closeServer, listenOn } from '../../src/dataplane/listen.js';
import { peeringServerName } from '../../src/dataplane/sni.js';
import { startTwoClusters, type TwoClusters } from '../../src/dataplane/testing/two-clusters.js';
import { metricValue, tlsAttempt } from './helpers.js';

// The peering control-plane stream (gRPC over TLS) rides the same gateways when
// Mesh.Peering.PeerThroughMeshGateways is on. A TLS echo with the server certificate stands in for gRPC.

let mesh: TwoClusters;
let server: tls.Server;
const connections = new ConnectionSet();
let serverAddress: Endpoint;

beforeAll(async () => {
  mesh = await startTwoClusters();
  const cert = await issueServerCert(mesh.exporter.root, { datacenter: 'dc1' });
  server = tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.on('connection', (socket) => connections.add(socket));
  serverAddress = await listenOn(server, { host: '127.0.0.1', port: 0 });
  mesh.sources.exporterGateway.update((c) => ({ ...c, localServers: [serverAddress] }));
  mesh.sources.importerGateway.update((c) => ({
    ...c,
    peers: c.peers.map((p) => ({ ...p, servers: [mesh.exporterGateway.address] })),
  }));
});

afterAll(async () => {
  await closeServer(server, connections, 0);
  await mesh?.close();
});

const serverName = (): string => peeringServerName('dc1', mesh.exporter.root.trustDomain);

describe('the peering stream through mesh gateways', () => {
  it('is refused while PeerThroughMeshGateways is off', async () => {
    const attempt = await tlsAttempt(mesh.exporterGateway.address, {
      servername: serverName(),
      ca: [mesh.exporter.root.certPem],
    });
    expect(attempt.data).toBe('');
    expect(
      await metricValue(mesh.exporterGateway.metrics.registry, 'meshpeer_gateway_connections_refused_total', {
        reason: 'peering-through-gateways-off',
      }),
    ).toBe(1);
  });

  it('reaches the local server through the gateway once it is on, verified under the server name', async () => {
    mesh.sources.exporterGateway.update((c) => ({ ...c, peerThroughMeshGateways: true }));
    const attempt = await tlsAttempt(mesh.exporterGateway.address, {
      servername: serverName(),
      ca: [mesh.exporter.root.certPem],
      payload: 'stream',
    });
    expect(attempt.data).toBe('stream');
  });

  it("goes from the dialer's gateway to the acceptor's gateway to the acceptor's server", async () => {
    mesh.sources.importerGateway.update((c) => ({ ...c, peerThroughMeshGateways: true }));
    const socket = tls.connect({
      host: mesh.importerGateway.address.host,
      port: mesh.importerGateway.address.port,
      servername: serverName(),
      ca: [mesh.exporter.root.certPem],
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    // The default identity check proves the far end holds a certificate for the peering server name.
    expect(socket.authorized).toBe(true);
    socket.destroy();
    expect(
      await metricValue(
        mesh.importerGateway.metrics.registry,
        'meshpeer_gateway_connections_forwarded_total',
        {
          route: 'peering-outbound',
        },
      ),
    ).toBe(1);
  });
});
