// The topology the data-plane exports tests run on (test/security/exports-rules.ts with Node or HAProxy
// sidecars; test/security/dataplane-exports.test.ts with the Node
// gateway, test/gateways/haproxy-exports.test.ts with --engine haproxy): three real `meshpeer server`
// processes (cluster-01 exports secret to cluster-03, backend to both peers, lonely to nobody),
// cluster-01's real gateway and one real sidecar per service in front of an echo app, and workload
// leaves issued by each cluster's own server. Started once the legitimate paths carry traffic, so every
// refusal a test sees is a rule at work, not a mesh not ready yet.
import { expect } from 'vitest';
import { peeredServiceSni } from '../../src/ca/sni.js';
import type { ProxyLeaf } from '../../src/dataplane/proxy/index.js';
import { type EchoServer, startEchoServer } from '../../src/dataplane/testing/traffic.js';
import { tlsAttempt } from '../dataplane/helpers.js';
import { api, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';
import { caOf, type DataplaneProcess, leafFrom, startDataplaneProcess } from './dataplane-processes.js';

export const SERVICES = ['secret', 'backend', 'lonely'] as const;

export async function ok(url: string, method: string, path: string, json?: unknown): Promise<unknown> {
  const res = await api(`${url}${path}`, { method, ...(json === undefined ? {} : { json }) });
  expect(res.status, `${method} ${path}: ${res.text}`).toBe(200);
  return res.body;
}

export const exportsOf = (services: { name: string; peers: string[] }[]) => ({
  Kind: 'exported-services',
  Name: 'default',
  Services: services.map((s) => ({ Name: s.name, Consumers: s.peers.map((Peer) => ({ Peer })) })),
});
// secret: cluster-03 only; backend: both peers; lonely: nobody.
export const EXPORTS = exportsOf([
  { name: 'secret', peers: ['cluster-03'] },
  { name: 'backend', peers: ['cluster-02', 'cluster-03'] },
]);

export interface ExportsTopology {
  c1: ServerProcess;
  c2: ServerProcess;
  c3: ServerProcess;
  /** cluster-01's trust domain and CA roots. */
  td1: string;
  roots1: string[];
  gateway: DataplaneProcess;
  sidecars: Record<string, DataplaneProcess>;
  apps: Record<string, EchoServer>;
  /** Leaves of real workloads: frontend in cluster-02 (the attacker), in cluster-03, and web in cluster-01. */
  leaves: Record<'c2' | 'c3' | 'local', ProxyLeaf>;
  /** The SNI name cluster-01 gives `service` for `peer`. */
  sni(service: string, peer: string): string;
  /** A connection through cluster-01's gateway, as a workload with `leaf` would make it. */
  viaGateway(leaf: ProxyLeaf, servername: string, payload?: string): ReturnType<typeof tlsAttempt>;
  /** Stops everything it started, in reverse order. */
  stop(): Promise<void>;
}

/**
 * Starts the topology; `gatewayArgs` come first on cluster-01's `meshpeer gateway` command line,
 * `sidecarArgs` on each `meshpeer proxy` command line.
 */
export async function startExportsTopology(
  gatewayArgs: string[] = [],
  sidecarArgs: string[] = [],
): Promise<ExportsTopology> {
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const [c1, c2, c3] = (await Promise.all(
      ['dc1', 'dc2', 'dc3'].map((datacenter) => startServerProcess({ datacenter })),
    )) as [ServerProcess, ServerProcess, ServerProcess];
    for (const c of [c1, c2, c3]) stops.push(() => c.stop());
    const { trustDomain: td1, rootPems: roots1 } = await caOf(c1.url);

    const apps: Record<string, EchoServer> = {};
    for (const service of SERVICES) {
      const app = await startEchoServer();
      apps[service] = app;
      stops.push(() => app.close());
      await ok(c1.url, 'PUT', '/v1/agent/service/register', {
        Name: service,
        Address: '127.0.0.1',
        Port: app.address.port,
      });
    }
    await ok(c1.url, 'PUT', '/v1/config', EXPORTS);
    for (const [peer, server] of [
      ['cluster-02', c2],
      ['cluster-03', c3],
    ] as const) {
      const { PeeringToken } = (await ok(c1.url, 'POST', '/v1/peering/token', { PeerName: peer })) as {
        PeeringToken: string;
      };
      await ok(server.url, 'POST', '/v1/peering/establish', { PeerName: 'cluster-01', PeeringToken });
    }
    await eventually(async () => {
      const bundles = (await ok(c1.url, 'GET', '/v1/internal/meshpeer/trust-bundles')) as unknown[];
      return bundles.length === 2;
    }, 30_000);

    const started = await Promise.all([
      startDataplaneProcess('gateway', [
        ...gatewayArgs,
        '--server',
        c1.url,
        '--listen',
        '127.0.0.1:0',
        '--register',
      ]),
      ...SERVICES.map((service) =>
        startDataplaneProcess('proxy', [
          ...sidecarArgs,
          '--server',
          c1.url,
          '--service',
          service,
          '--listen',
          '127.0.0.1:0',
          '--app-port',
          String((apps[service] as EchoServer).address.port),
          '--register',
        ]),
      ),
    ]);
    for (const p of started) stops.push(() => p.stop());
    const gateway = started[0] as DataplaneProcess;
    const sidecars: Record<string, DataplaneProcess> = {};
    SERVICES.forEach((service, i) => {
      sidecars[service] = started[i + 1] as DataplaneProcess;
    });

    const leaves = {
      c2: await leafFrom(c2.url, 'frontend'),
      c3: await leafFrom(c3.url, 'frontend'),
      local: await leafFrom(c1.url, 'web'),
    };
    const sni = (service: string, peer: string): string =>
      peeredServiceSni({ service, peer, trustDomain: td1 });
    const viaGateway = (leaf: ProxyLeaf, servername: string, payload = 'let me in') =>
      tlsAttempt(gateway.address, { servername, ca: roots1, leaf, payload });

    await eventually(
      async () => (await viaGateway(leaves.c3, sni('secret', 'cluster-03'), 'c3')).data === 'c3',
      30_000,
    );
    await eventually(
      async () => (await viaGateway(leaves.c2, sni('backend', 'cluster-02'), 'c2')).data === 'c2',
      30_000,
    );
    return { c1, c2, c3, td1, roots1, gateway, sidecars, apps, leaves, sni, viaGateway, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
