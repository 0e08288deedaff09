import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import { MeshGateway } from '../../src/dataplane/gateway/index.js';
import { listenOn } from '../../src/dataplane/listen.js';
import { echoOnce } from '../../src/dataplane/testing/traffic.js';
import { startTwoClusters, type TwoClusters } from '../../src/dataplane/testing/two-clusters.js';
import { metricValue } from './helpers.js';

// Gateways hold no state: replicas fed the same configuration are interchangeable, and a sidecar
// given several gateway addresses skips one that is down.

let mesh: TwoClusters;
let replica: MeshGateway;
let dead: Endpoint;

beforeAll(async () => {
  mesh = await startTwoClusters();
  replica = new MeshGateway({ config: mesh.sources.exporterGateway, listen: { host: '127.0.0.1', port: 0 } });
  await replica.start();
  // A port nothing listens on any more: connections to it are refused.
  const probe = net.createServer();
  dead = await listenOn(probe, { host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => probe.close(resolve));
});

afterAll(async () => {
  await replica?.stop();
  await mesh?.close();
});

describe('mesh gateway replicas', () => {
  it('share the load and skip a replica that is down', async () => {
    mesh.sources.frontend.update((c) => ({
      ...c,
      upstreams: c.upstreams.map((u) => ({
        ...u,
        instances: [dead, mesh.exporterGateway.address, replica.address],
      })),
    }));
    const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => echoOnce(mesh.upstream, `r${i}`)));
    expect(replies.map(String)).toEqual(Array.from({ length: 40 }, (_, i) => `r${i}`));
    const forwarded = (g: MeshGateway) =>
      metricValue(g.metrics.registry, 'meshpeer_gateway_connections_forwarded_total', { route: 'inbound' });
    expect(await forwarded(mesh.exporterGateway)).toBeGreaterThan(0);
    expect(await forwarded(replica)).toBeGreaterThan(0);
  });

  it('drain on stop: a stopping gateway lets live connections finish before closing', async () => {
    const socket = net.connect(mesh.upstream.port, mesh.upstream.host);
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('first ');
    await new Promise((resolve) => socket.once('data', resolve));
    // The connection goes through one of the two; stop both with a drain window and finish meanwhile.
    const stopping = Promise.all([replica.stop(2_000), mesh.exporterGateway.stop(2_000)]);
    const rest = new Promise<string>((resolve) => {
      let data = '';
      socket.on('data', (chunk) => {
        data += chunk.toString();
      });
      socket.on('close', () => resolve(data));
    });
    socket.end('second');
    expect(await rest).toBe('second');
    await stopping;
  });
});
