// The resolver's ConnectTimeout and failing over on a dial that does not complete, with real sockets
// and TLS (configuration from StaticConfigSources): a local instance that accepts TCP but never
// answers the handshake is given up after ConnectTimeout, logged and counted, and the connection goes
// to the next target, the peer's backend through the gateways.
import * as net from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceResolverEntry } from '../../src/config-entries/index.js';
import { StaticConfigSource } from '../../src/dataplane/config-source.js';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import { type ProxyConfig, Sidecar } from '../../src/dataplane/proxy/index.js';
import { echoOnce } from '../../src/dataplane/testing/traffic.js';
import { startTwoClusters, type TwoClusters } from '../../src/dataplane/testing/two-clusters.js';
import { metricValue } from './helpers.js';

const LOOPBACK: Endpoint = { host: '127.0.0.1', port: 0 };
let mesh: TwoClusters;
let silent: net.Server;
let silentAddress: Endpoint;
const held: net.Socket[] = [];
const stops: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  mesh = await startTwoClusters();
  stops.push(() => mesh.close());
  // Accepts connections and says nothing: a TLS handshake with it never completes.
  silent = net.createServer((socket) => {
    held.push(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentAddress = { host: '127.0.0.1', port: (silent.address() as net.AddressInfo).port };
  stops.push(async () => {
    for (const s of held) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
});

const resolver = (targets: Record<string, string>[]): ServiceResolverEntry => ({
  Kind: 'service-resolver',
  Name: 'backend',
  ConnectTimeout: '200ms',
  Failover: { '*': { Targets: targets } },
});

/** A frontend sidecar with a local `backend` upstream whose only local instance never answers. */
async function frontendWith(resolvers: ServiceResolverEntry[]) {
  const base = mesh.sources.frontend.snapshot as ProxyConfig;
  const source = new StaticConfigSource<ProxyConfig>({
    ...base,
    upstreams: [...base.upstreams, { name: 'backend', instances: [silentAddress], listed: 1 }],
    resolvers,
  });
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  const sidecar = new Sidecar({ config: source, upstreams: [{ name: 'backend', bind: LOOPBACK }], logger });
  await sidecar.start();
  stops.push(() => sidecar.stop());
  return { sidecar, lines, upstream: sidecar.upstreamAddress('backend') };
}

describe('a target that does not answer', () => {
  it('is given up after the resolver ConnectTimeout, and the next target takes the connection', async () => {
    const { sidecar, lines, upstream } = await frontendWith([resolver([{ Peer: 'cluster-01' }])]);
    expect((await echoOnce(upstream, 'through the peer')).toString()).toBe('through the peer');
    const registry = sidecar.metrics.registry;
    expect(
      await metricValue(registry, 'meshpeer_proxy_upstream_target_skipped_total', {
        target: 'backend',
        reason: 'unreachable',
      }),
    ).toBe(1);
    expect(
      await metricValue(registry, 'meshpeer_proxy_upstream_connections_total', {
        target: 'backend (peer cluster-01)',
      }),
    ).toBe(1);
    expect(lines.join('\n')).toMatch(
      /backend did not answer via direct: no endpoint answered .*no answer within 200 ms/,
    );
  });

  it('is refused with every failure named when no target answers', async () => {
    const { sidecar, lines, upstream } = await frontendWith([resolver([{ Peer: 'cluster-09' }])]);
    expect((await echoOnce(upstream, 'x')).length).toBe(0);
    expect(
      await metricValue(sidecar.metrics.registry, 'meshpeer_proxy_upstream_refused_total', {
        reason: 'upstream-unreachable',
      }),
    ).toBe(1);
    expect(
      await metricValue(sidecar.metrics.registry, 'meshpeer_proxy_upstream_target_skipped_total', {
        target: 'backend (peer cluster-09)',
        reason: 'unknown-peer',
      }),
    ).toBe(1);
    const log = lines.join('\n');
    expect(log).toMatch(/failover target peer cluster-09 is not a peering of this cluster/);
    expect(log).toMatch(/upstream connection refused: no target answered \(backend: no endpoint answered/);
  });
});
