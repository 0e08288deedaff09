import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StaticConfigSource } from '../../src/dataplane/config-source.js';
import { type GatewayConfig, MeshGateway } from '../../src/dataplane/gateway/index.js';
import { DEFAULT_MAX_CLIENT_HELLO_BYTES, peeredServiceSni } from '../../src/dataplane/sni.js';
import {
  captureClientHello,
  sendAndHalfClose,
  unfinishedClientHello,
} from '../../src/dataplane/testing/client-hello.js';
import { type EchoServer, startEchoServer } from '../../src/dataplane/testing/traffic.js';
import {
  baseGatewayConfig,
  exportsTo,
  type TestCluster,
  testCluster,
} from '../../src/dataplane/testing/two-clusters.js';

// Issue 15: a client that sends its ClientHello and, in the same write, more bytes than the ClientHello
// cap (TLS early data, or a client that does not wait for the handshake) is forwarded whole by a real
// gateway listening on loopback; a ClientHello that is still incomplete past the cap is refused.

let exporter: TestCluster;
let echo: EchoServer;
let gateway: MeshGateway;
let sni: string;

beforeAll(async () => {
  exporter = await testCluster('cluster-01', 'cluster-01', 'dc1');
  echo = await startEchoServer();
  // The gateway never terminates TLS, so the routed instance may be any TCP app: here an echo.
  const config: GatewayConfig = {
    ...baseGatewayConfig(exporter),
    exportedServices: exportsTo('backend', 'cluster-02'),
    localServices: new Map([['backend', [echo.address]]]),
  };
  gateway = new MeshGateway({
    config: new StaticConfigSource(config),
    listen: { host: '127.0.0.1', port: 0 },
  });
  await gateway.start();
  sni = peeredServiceSni({ service: 'backend', peer: 'cluster-02', trustDomain: exporter.root.trustDomain });
});

afterAll(async () => {
  await gateway?.stop();
  await echo?.close();
});

async function refusedFor(reason: string): Promise<number> {
  const metric = await gateway.metrics.refused.get();
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('a mesh gateway and a ClientHello followed at once by more bytes', () => {
  it('forwards a ClientHello plus 64 KiB sent in one write, byte for byte', async () => {
    const hello = await captureClientHello(sni);
    const extra = randomBytes(64 * 1024);
    const payload = Buffer.concat([hello, extra]);
    expect(payload.length).toBeGreaterThan(DEFAULT_MAX_CLIENT_HELLO_BYTES);
    const before = echo.connections;

    const { received } = await sendAndHalfClose(gateway.address, payload);

    expect(echo.connections).toBe(before + 1);
    expect(received.length).toBe(payload.length);
    expect(received.equals(payload)).toBe(true);
  });

  it('still refuses a ClientHello that is incomplete past the cap, without dialing the instance', async () => {
    const payload = unfinishedClientHello();
    const connectionsBefore = echo.connections;
    const refusedBefore = await refusedFor('client-hello-too-large');

    const { received } = await sendAndHalfClose(gateway.address, payload);

    expect(received.length).toBe(0);
    expect(echo.connections).toBe(connectionsBefore);
    expect(await refusedFor('client-hello-too-large')).toBe(refusedBefore + 1);
  });
});
