// The nginx sidecar's upstream failover when the first target takes the TCP connection but the TLS
// handshake fails there: the retry on the next target (another service, so another SNI name) must be
// dialled with that target's name, checked against that target's leaf, and counted as nginx tried it.
// A real NginxSidecar with a real nginx, a real Node sidecar for the spare, real echo apps.
import { once } from 'node:events';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StaticConfigSource } from '../../src/dataplane/config-source.js';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import { findNginx } from '../../src/dataplane/nginx-process.js';
import { type ProxyConfig, Sidecar } from '../../src/dataplane/proxy/index.js';
import { NginxSidecar } from '../../src/dataplane/proxy/nginx-sidecar.js';
import { startNamedEchoServer } from '../../src/dataplane/testing/traffic.js';
import {
  baseProxyConfig,
  leafFor,
  type TestCluster,
  testCluster,
} from '../../src/dataplane/testing/two-clusters.js';
import { eventually } from '../support/meshpeer-process.js';
import { metricValue } from './helpers.js';
import { echoed } from './live-connection.js';

const LOOPBACK: Endpoint = { host: '127.0.0.1', port: 0 };
const stoppers: (() => Promise<unknown>)[] = [];
let cluster: TestCluster;
let web: NginxSidecar;
let closer: net.Server;
let closed = 0;

beforeAll(async () => {
  findNginx(); // scripts/test-deps.sh installs nginx and its modules; fail loudly if it did not
  cluster = await testCluster('self', 'cluster-01', 'dc1');
  // The primary target: takes the connection and closes it at once, so the TLS handshake fails.
  closer = net.createServer((socket) => {
    closed++;
    socket.destroy();
  });
  closer.listen(0, '127.0.0.1');
  await once(closer, 'listening');
  stoppers.push(() => new Promise((resolve) => closer.close(resolve)));
  const spareApp = await startNamedEchoServer('spare');
  stoppers.push(() => spareApp.close());
  const spare = new Sidecar({
    config: new StaticConfigSource(baseProxyConfig(cluster, 'spare', await leafFor(cluster, 'spare'))),
    inbound: { listen: LOOPBACK, app: spareApp.address },
  });
  await spare.start();
  stoppers.push(() => spare.stop());
  const { port } = closer.address() as net.AddressInfo;
  const source = new StaticConfigSource<ProxyConfig>({
    ...baseProxyConfig(cluster, 'web', await leafFor(cluster, 'web')),
    upstreams: [
      { name: 'backend', instances: [{ host: '127.0.0.1', port }] },
      { name: 'spare', instances: [spare.addresses.inbound as Endpoint] },
    ],
    resolvers: [
      { Kind: 'service-resolver', Name: 'backend', Failover: { '*': { Targets: [{ Service: 'spare' }] } } },
    ],
  });
  web = new NginxSidecar({ config: source, upstreams: [{ name: 'backend', bind: LOOPBACK }] });
  await web.start();
  stoppers.push(() => web.stop());
});

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop();
});

describe('nginx sidecar upstream failover after a failed TLS handshake', () => {
  it('dials the next target with its own SNI name, and counts the target skipped and the one that carried it', async () => {
    // The spare's sidecar presents spare's leaf: nginx accepts it only under spare's name.
    expect(await echoed(web.upstreamAddress('backend'), 'x')).toBe('spare:x');
    expect(closed).toBeGreaterThanOrEqual(1);
    const registry = web.metrics.registry;
    await eventually(
      async () =>
        (await metricValue(registry, 'meshpeer_proxy_upstream_connections_total', {
          upstream: 'backend',
          target: 'spare',
        })) === 1,
      10_000,
    );
    expect(
      await metricValue(registry, 'meshpeer_proxy_upstream_target_skipped_total', {
        upstream: 'backend',
        target: 'backend',
        reason: 'unreachable',
      }),
    ).toBe(1);
    expect(await metricValue(registry, 'meshpeer_proxy_upstream_refused_total')).toBe(0);
  });
});
