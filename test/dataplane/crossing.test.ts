import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoOnce, echoTransfer } from '../../src/dataplane/testing/traffic.js';
import { startTwoClusters, type TwoClusters } from '../../src/dataplane/testing/two-clusters.js';
import { metricValue } from './helpers.js';

// Real sockets and real mutual TLS on loopback: app → frontend sidecar (cluster-02) → mesh gateway(s)
// → backend sidecar (cluster-01) → echo app, and back.

let mesh: TwoClusters;

beforeAll(async () => {
  mesh = await startTwoClusters();
});

afterAll(async () => {
  await mesh?.close();
});

const MB = 1024 * 1024;

describe('traffic from an app in cluster-02 to a service exported by cluster-01', () => {
  it('crosses sidecar → gateway → sidecar and comes back byte for byte', async () => {
    const reply = await echoOnce(mesh.upstream, 'hello from cluster-02');
    expect(reply.toString()).toBe('hello from cluster-02');
  });

  it('carries 100 MB intact in both directions', async () => {
    const result = await echoTransfer(mesh.upstream, 100 * MB);
    expect(result.received).toBe(100 * MB);
    expect(result.receivedSha256).toBe(result.sentSha256);
  });

  it('carries 200 concurrent connections, each intact', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => echoTransfer(mesh.upstream, 32 * 1024 + i)),
    );
    for (const [i, result] of results.entries()) {
      expect(result.received).toBe(32 * 1024 + i);
      expect(result.receivedSha256).toBe(result.sentSha256);
    }
  });

  it('in remote mode dials the exporting gateway directly', async () => {
    const registry = mesh.importerGateway.metrics.registry;
    const outboundBefore = await metricValue(registry, 'meshpeer_gateway_connections_forwarded_total', {
      route: 'outbound',
    });
    const inboundBefore = await metricValue(
      mesh.exporterGateway.metrics.registry,
      'meshpeer_gateway_connections_forwarded_total',
      { route: 'inbound' },
    );
    expect((await echoOnce(mesh.upstream, 'remote')).toString()).toBe('remote');
    expect(
      await metricValue(registry, 'meshpeer_gateway_connections_forwarded_total', { route: 'outbound' }),
    ).toBe(outboundBefore);
    expect(
      await metricValue(
        mesh.exporterGateway.metrics.registry,
        'meshpeer_gateway_connections_forwarded_total',
        {
          route: 'inbound',
        },
      ),
    ).toBe(inboundBefore + 1);
    expect(
      await metricValue(mesh.frontend.metrics.registry, 'meshpeer_proxy_upstream_connections_total', {
        route: 'remote-gateway',
      }),
    ).toBeGreaterThan(0);
  });

  it('in local mode goes out through its own cluster gateway, then the exporter gateway', async () => {
    mesh.sources.frontend.update((c) => ({ ...c, meshGatewayMode: 'local' }));
    try {
      const registry = mesh.importerGateway.metrics.registry;
      const before = await metricValue(registry, 'meshpeer_gateway_connections_forwarded_total', {
        route: 'outbound',
      });
      const result = await echoTransfer(mesh.upstream, 4 * MB);
      expect(result.receivedSha256).toBe(result.sentSha256);
      expect(
        await metricValue(registry, 'meshpeer_gateway_connections_forwarded_total', { route: 'outbound' }),
      ).toBe(before + 1);
      expect(
        await metricValue(mesh.frontend.metrics.registry, 'meshpeer_proxy_upstream_connections_total', {
          route: 'local-gateway',
        }),
      ).toBe(1);
    } finally {
      mesh.sources.frontend.update((c) => ({ ...c, meshGatewayMode: '' }));
    }
  });

  it('refuses a peered upstream in mode "none" with the reason', async () => {
    mesh.sources.frontend.update((c) => ({ ...c, meshGatewayMode: 'none' }));
    try {
      expect((await echoOnce(mesh.upstream, 'none')).length).toBe(0);
      expect(
        await metricValue(mesh.frontend.metrics.registry, 'meshpeer_proxy_upstream_refused_total', {
          reason: 'mesh-gateway-mode',
        }),
      ).toBe(1);
    } finally {
      mesh.sources.frontend.update((c) => ({ ...c, meshGatewayMode: '' }));
    }
  });

  it('keeps a live connection when the route table changes, and applies the change to new ones', async () => {
    let updated = false;
    const transfer = echoTransfer(mesh.upstream, 40 * MB, {
      onProgress: (received) => {
        if (!updated && received > 5 * MB) {
          updated = true;
          // Withdraw the export: live connections keep flowing, new ones are refused.
          mesh.sources.exporterGateway.update((c) => ({ ...c, exportedServices: undefined }));
        }
      },
    });
    const result = await transfer;
    expect(updated).toBe(true);
    expect(result.received).toBe(40 * MB);
    expect(result.receivedSha256).toBe(result.sentSha256);
    expect((await echoOnce(mesh.upstream, 'after')).length).toBe(0);
    expect(
      await metricValue(mesh.exporterGateway.metrics.registry, 'meshpeer_gateway_connections_refused_total', {
        reason: 'not-exported',
      }),
    ).toBeGreaterThanOrEqual(1);
    mesh.sources.exporterGateway.update((c) => ({
      ...c,
      exportedServices: {
        Kind: 'exported-services',
        Name: 'default',
        Services: [{ Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] }],
      },
    }));
    expect((await echoOnce(mesh.upstream, 'again')).toString()).toBe('again');
  });
});
