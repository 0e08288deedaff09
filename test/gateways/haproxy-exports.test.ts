// The data-plane exports rules (test/security/dataplane-exports.test.ts) with cluster-01's gateway run
// as `meshpeer gateway --engine haproxy`: three real servers (cluster-01 exports; cluster-02 and
// cluster-03 are its peers), real sidecar processes, workload leaves from each cluster's own server.
// The gateway forwards only names exported to the peer the name claims; a name claiming another peer is
// forwarded and refused by the sidecar, from the caller's certificate; changes of exports reach HAProxy
// live, without restarting it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peeredServiceSni } from '../../src/ca/sni.js';
import type { ProxyLeaf } from '../../src/dataplane/proxy/index.js';
import { type EchoServer, startEchoServer } from '../../src/dataplane/testing/traffic.js';
import { tlsAttempt } from '../dataplane/helpers.js';
import {
  caOf,
  counter,
  type DataplaneProcess,
  leafFrom,
  logRecords,
  sidecarRefusals,
  startDataplaneProcess,
} from '../security/dataplane-processes.js';
import { api, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

const stops: (() => Promise<unknown>)[] = [];
let c1: ServerProcess;
let c2: ServerProcess;
let c3: ServerProcess;
let td1: string;
let roots1: string[];
let gateway: DataplaneProcess;
const sidecars: Record<string, DataplaneProcess> = {};
const apps: Record<string, EchoServer> = {};
const leaves: Record<'c2' | 'c3', ProxyLeaf> = {} as Record<'c2' | 'c3', ProxyLeaf>;

async function ok(url: string, method: string, path: string, json?: unknown): Promise<unknown> {
  const res = await api(`${url}${path}`, { method, ...(json === undefined ? {} : { json }) });
  expect(res.status, `${method} ${path}: ${res.text}`).toBe(200);
  return res.body;
}

const exportsOf = (services: { name: string; peers: string[] }[]) => ({
  Kind: 'exported-services',
  Name: 'default',
  Services: services.map((s) => ({ Name: s.name, Consumers: s.peers.map((Peer) => ({ Peer })) })),
});
// secret: cluster-03 only; backend: both peers; lonely: nobody.
const EXPORTS = exportsOf([
  { name: 'secret', peers: ['cluster-03'] },
  { name: 'backend', peers: ['cluster-02', 'cluster-03'] },
]);

const sni = (service: string, peer: string): string => peeredServiceSni({ service, peer, trustDomain: td1 });

const viaGateway = (leaf: ProxyLeaf, servername: string, payload = 'let me in') =>
  tlsAttempt(gateway.address, { servername, ca: roots1, leaf, payload });

const forwarded = () =>
  counter(gateway, 'meshpeer_gateway_connections_forwarded_total', { route: 'inbound' });
const rejected = () =>
  counter(gateway, 'meshpeer_gateway_connections_refused_total', { reason: 'rejected-by-haproxy' });

beforeAll(async () => {
  [c1, c2, c3] = await Promise.all(
    ['dc1', 'dc2', 'dc3'].map((datacenter) => startServerProcess({ datacenter })),
  );
  for (const c of [c1, c2, c3]) stops.push(() => (c as ServerProcess).stop());
  ({ trustDomain: td1, rootPems: roots1 } = await caOf(c1.url));

  for (const service of ['secret', 'backend', 'lonely']) {
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
      '--engine',
      'haproxy',
      '--server',
      c1.url,
      '--listen',
      '127.0.0.1:0',
      '--register',
    ]),
    ...['secret', 'backend', 'lonely'].map((service) =>
      startDataplaneProcess('proxy', [
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
  gateway = started[0] as DataplaneProcess;
  ['secret', 'backend', 'lonely'].forEach((service, i) => {
    sidecars[service] = started[i + 1] as DataplaneProcess;
  });
  for (const p of started) stops.push(() => p.stop());

  leaves.c2 = await leafFrom(c2.url, 'frontend');
  leaves.c3 = await leafFrom(c3.url, 'frontend');

  // The legitimate paths work first, so every refusal below is the rule at work, not a mesh not ready.
  await eventually(
    async () => (await viaGateway(leaves.c3, sni('secret', 'cluster-03'), 'c3')).data === 'c3',
    30_000,
  );
  await eventually(
    async () => (await viaGateway(leaves.c2, sni('backend', 'cluster-02'), 'c2')).data === 'c2',
    30_000,
  );
}, 180_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
});

describe('a mesh gateway on HAProxy, between real peers', () => {
  it('is HAProxy carrying the connections', () => {
    expect(logRecords(gateway, /^haproxy started$/)).toHaveLength(1);
  });

  it('refuses, before any sidecar, a name for a service not exported to the peer it names', async () => {
    const [reached, refusedBefore] = [(apps.secret as EchoServer).connections, await rejected()];
    expect((await viaGateway(leaves.c2, sni('secret', 'cluster-02'))).data).toBe('');
    expect((await viaGateway(leaves.c2, sni('lonely', 'cluster-02'))).data).toBe('');
    expect((await viaGateway(leaves.c3, sni('lonely', 'cluster-03'))).data).toBe('');
    expect((apps.secret as EchoServer).connections).toBe(reached);
    expect((apps.lonely as EchoServer).connections).toBe(0);
    expect(await rejected()).toBe(refusedBefore + 3);
  });

  it("forwards a name claiming another peer, and the sidecar refuses the caller's certificate", async () => {
    const secret = sidecars.secret as DataplaneProcess;
    const [reached, forwardedBefore, refusedBefore] = [
      (apps.secret as EchoServer).connections,
      await forwarded(),
      await sidecarRefusals(secret),
    ];
    expect((await viaGateway(leaves.c2, sni('secret', 'cluster-03'))).data).toBe('');
    expect((apps.secret as EchoServer).connections).toBe(reached);
    expect(await forwarded()).toBe(forwardedBefore + 1);
    await eventually(async () => (await sidecarRefusals(secret)) === refusedBefore + 1);
  });

  it('follows exports live: unexported, the name is refused at the gateway; exported again, it passes', async () => {
    await ok(
      c1.url,
      'PUT',
      '/v1/config',
      exportsOf([{ name: 'backend', peers: ['cluster-02', 'cluster-03'] }]),
    );
    // The sidecar may refuse first (it follows exports too); wait until the gateway itself does.
    const reached = (apps.secret as EchoServer).connections;
    await eventually(async () => {
      const refusedBefore = await rejected();
      const attempt = await viaGateway(leaves.c3, sni('secret', 'cluster-03'));
      return attempt.data === '' && (await rejected()) === refusedBefore + 1;
    }, 20_000);
    expect((apps.secret as EchoServer).connections).toBe(reached);
    await ok(c1.url, 'PUT', '/v1/config', EXPORTS);
    await eventually(
      async () => (await viaGateway(leaves.c3, sni('secret', 'cluster-03'), 'back')).data === 'back',
      20_000,
    );
    // Applied through the runtime API or a reload: the HAProxy master was never restarted.
    expect(logRecords(gateway, /^haproxy started$/)).toHaveLength(1);
    expect(logRecords(gateway, /^haproxy is down/)).toHaveLength(0);
  });
});
