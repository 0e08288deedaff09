// Issue 9, item 5: a peer reaches only what is exported to it, whatever SNI name it sends and
// whichever sidecar it dials. Three real `meshpeer server` processes (cluster-01 exports; cluster-02
// and cluster-03 are its peers), cluster-01's real `meshpeer gateway` and `meshpeer proxy` processes,
// and workload leaves issued by each cluster's own server. ACLs are off, so the sidecars' default
// intention is allow: every refusal below comes from identity and exports, not from a deny default.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peeredServiceSni } from '../../src/ca/sni.js';
import type { ProxyLeaf } from '../../src/dataplane/proxy/index.js';
import { type EchoServer, startEchoServer } from '../../src/dataplane/testing/traffic.js';
import { tlsAttempt } from '../dataplane/helpers.js';
import { api, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';
import {
  caOf,
  counter,
  type DataplaneProcess,
  leafFrom,
  logRecords,
  sidecarRefusals,
  startDataplaneProcess,
} from './dataplane-processes.js';

const stops: (() => Promise<unknown>)[] = [];
let c1: ServerProcess;
let c2: ServerProcess;
let c3: ServerProcess;
let td1: string;
let roots1: string[];
let gateway: DataplaneProcess;
const sidecars: Record<string, DataplaneProcess> = {};
const apps: Record<string, EchoServer> = {};
/** Leaves of real workloads: frontend in cluster-02 (the attacker), in cluster-03, and web in cluster-01. */
const leaves: Record<'c2' | 'c3' | 'local', ProxyLeaf> = {} as Record<'c2' | 'c3' | 'local', ProxyLeaf>;

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

/** A connection through cluster-01's gateway, as a workload with `leaf` would make it. */
const viaGateway = (leaf: ProxyLeaf, servername: string, payload = 'let me in') =>
  tlsAttempt(gateway.address, { servername, ca: roots1, leaf, payload });

/** A connection straight to a sidecar's mTLS listener. */
const direct = (service: string, leaf: ProxyLeaf, payload = 'let me in') =>
  tlsAttempt((sidecars[service] as DataplaneProcess).address, {
    servername: service,
    ca: roots1,
    leaf,
    payload,
  });

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
    startDataplaneProcess('gateway', ['--server', c1.url, '--listen', '127.0.0.1:0', '--register']),
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
  leaves.local = await leafFrom(c1.url, 'web');

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

describe("the bundles a service's sidecar trusts", () => {
  it('are those of the peers the service is exported to, and no other', async () => {
    const peersOf = async (service: string) =>
      ((await ok(c1.url, 'GET', `/v1/internal/meshpeer/trust-bundles/${service}`)) as { PeerName: string }[])
        .map((b) => b.PeerName)
        .sort();
    expect(await peersOf('secret')).toEqual(['cluster-03']);
    expect(await peersOf('backend')).toEqual(['cluster-02', 'cluster-03']);
    expect(await peersOf('lonely')).toEqual([]);
  });
});

describe("a peer's workload with its own valid leaf", () => {
  it('reaches a service exported to its peer (control)', async () => {
    expect((await viaGateway(leaves.c3, sni('secret', 'cluster-03'), 'ok')).data).toBe('ok');
    expect((await viaGateway(leaves.c2, sni('backend', 'cluster-02'), 'ok')).data).toBe('ok');
  });

  it('cannot reach a service exported to another peer by naming that peer in the SNI', async () => {
    const secret = sidecars.secret as DataplaneProcess;
    const app = apps.secret as EchoServer;
    const [reached, forwarded, refused] = [
      app.connections,
      await counter(gateway, 'meshpeer_gateway_connections_forwarded_total', { route: 'inbound' }),
      await sidecarRefusals(secret),
    ];
    // cluster-02's leaf, the SNI name cluster-01 gives secret for cluster-03.
    const attempt = await viaGateway(leaves.c2, sni('secret', 'cluster-03'));
    expect(attempt.data).toBe('');
    expect(app.connections).toBe(reached);
    // The gateway only picked the route (secret is exported to cluster-03); the sidecar refused.
    expect(await counter(gateway, 'meshpeer_gateway_connections_forwarded_total', { route: 'inbound' })).toBe(
      forwarded + 1,
    );
    await eventually(async () => (await sidecarRefusals(secret)) === refused + 1);
  });

  it('cannot reach that sidecar directly either', async () => {
    const reached = (apps.secret as EchoServer).connections;
    const refused = await sidecarRefusals(sidecars.secret as DataplaneProcess);
    expect((await direct('secret', leaves.c2)).data).toBe('');
    expect((apps.secret as EchoServer).connections).toBe(reached);
    await eventually(
      async () => (await sidecarRefusals(sidecars.secret as DataplaneProcess)) === refused + 1,
    );
  });

  it('cannot reach the sidecar of a service exported to nobody, from any peer', async () => {
    const lonely = sidecars.lonely as DataplaneProcess;
    const refused = await sidecarRefusals(lonely);
    expect((await direct('lonely', leaves.c2)).data).toBe('');
    expect((await direct('lonely', leaves.c3)).data).toBe('');
    expect((apps.lonely as EchoServer).connections).toBe(0);
    await eventually(async () => (await sidecarRefusals(lonely)) === refused + 2);
    // The gateway refuses such a name early, too.
    expect((await viaGateway(leaves.c2, sni('lonely', 'cluster-02'))).data).toBe('');
    expect((apps.lonely as EchoServer).connections).toBe(0);
  });

  it('leaves local callers as they were', async () => {
    expect((await direct('lonely', leaves.local, 'local')).data).toBe('local');
    expect((await direct('secret', leaves.local, 'local')).data).toBe('local');
  });
});

describe('intentions match the peer the certificate proves, never the one the SNI names', () => {
  beforeAll(async () => {
    await ok(c1.url, 'PUT', '/v1/config', {
      Kind: 'service-intentions',
      Name: 'backend',
      Sources: [{ Name: 'frontend', Peer: 'cluster-02', Action: 'deny' }],
    });
    // Applied once cluster-02's own route is refused.
    await eventually(
      async () => (await viaGateway(leaves.c2, sni('backend', 'cluster-02'))).data === '',
      20_000,
    );
  });

  it("denies cluster-02's frontend even when it sends cluster-03's SNI name", async () => {
    const backend = sidecars.backend as DataplaneProcess;
    const reached = (apps.backend as EchoServer).connections;
    const denied = await sidecarRefusals(backend, 'intention-deny');
    expect((await viaGateway(leaves.c2, sni('backend', 'cluster-03'))).data).toBe('');
    expect((await direct('backend', leaves.c2)).data).toBe('');
    expect((apps.backend as EchoServer).connections).toBe(reached);
    await eventually(async () => (await sidecarRefusals(backend, 'intention-deny')) === denied + 2);
    const refusal = logRecords(backend, /refused inbound connection/).at(-1);
    expect(refusal).toMatchObject({
      reason: 'intention-deny',
      caller: expect.stringContaining('/svc/frontend'),
    });
  });

  it("lets cluster-03's frontend in, whichever peer its SNI name says", async () => {
    expect((await viaGateway(leaves.c3, sni('backend', 'cluster-03'), 'three')).data).toBe('three');
    expect((await viaGateway(leaves.c3, sni('backend', 'cluster-02'), 'still three')).data).toBe(
      'still three',
    );
  });
});

describe('exports are followed live', () => {
  it("refuses cluster-03 at secret's sidecar once secret is no longer exported to it", async () => {
    await ok(
      c1.url,
      'PUT',
      '/v1/config',
      exportsOf([{ name: 'backend', peers: ['cluster-02', 'cluster-03'] }]),
    );
    await eventually(async () => (await direct('secret', leaves.c3)).data === '', 20_000);
    const reached = (apps.secret as EchoServer).connections;
    expect((await direct('secret', leaves.c3)).data).toBe('');
    expect((apps.secret as EchoServer).connections).toBe(reached);
    await ok(c1.url, 'PUT', '/v1/config', EXPORTS);
    await eventually(async () => (await direct('secret', leaves.c3, 'back')).data === 'back', 20_000);
  });
});

describe('the default intention with ACLs off', () => {
  it('is allow, and every sidecar says why', () => {
    for (const p of Object.values(sidecars)) {
      expect(logRecords(p, /^default intention action: allow/)[0]).toMatchObject({
        defaultIntention: 'allow',
        why: 'ACLs are disabled on the server',
      });
    }
  });
});
