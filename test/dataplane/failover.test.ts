// Issue 17: health and service-resolver Failover/Redirect to a peer, acted on by the sidecar. Two real
// `meshpeer server` processes peered through their HTTP APIs, and real `meshpeer proxy` and `meshpeer
// gateway` processes (from dist/): cluster-02 runs frontend and a local backend; cluster-01 (ACLs on,
// default deny) runs another backend, exported to cluster-02 and allowed for frontend of cluster-02 by
// an intention with a Peer source. Each backend app says who it is, so every answer shows which
// instance took the connection.
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import { type EchoServer, echoOnce, startNamedEchoServer } from '../../src/dataplane/testing/traffic.js';
import {
  counter,
  type DataplaneProcess,
  freePort,
  logRecords,
  newestLogRecord,
  sidecarRefusals,
  startDataplaneProcess,
} from '../security/dataplane-processes.js';
import { MGMT, startAclServer } from '../security/support.js';
import { api, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

const stops: (() => Promise<unknown>)[] = [];
let peerUrl: string; // cluster-01: ACLs on, exports backend
let homeUrl: string; // cluster-02: frontend and a local backend
let localApp: EchoServer;
let peerApp: EchoServer;
let peerBackend: DataplaneProcess;
let frontend: DataplaneProcess;
let upstream: Endpoint;

const mgmt = { 'X-Consul-Token': MGMT };

async function call(url: string, method: string, path: string, json?: unknown): Promise<unknown> {
  const res = await api(`${url}${path}`, {
    method,
    headers: mgmt,
    ...(json === undefined ? {} : { json }),
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status}: ${res.text}`);
  return res.body;
}

async function dataplane(
  kind: 'gateway' | 'proxy',
  url: string,
  args: string[],
  token = true,
): Promise<DataplaneProcess> {
  const p = await startDataplaneProcess(
    kind,
    ['--server', url, '--listen', '127.0.0.1:0', ...args],
    token ? { MESHPEER_HTTP_TOKEN: MGMT } : {},
  );
  stops.push(() => p.stop());
  return p;
}

/** One request through frontend's backend upstream: who answered ('' when the connection was refused). */
async function ask(payload = 'hello'): Promise<string> {
  const answer = (await echoOnce(upstream, payload)).toString();
  return answer === '' ? '' : answer.slice(0, answer.indexOf(':'));
}

const backendResolver = (body: Record<string, unknown>) =>
  call(homeUrl, 'PUT', '/v1/config', { Kind: 'service-resolver', Name: 'backend', ...body });
const failoverToPeer = () =>
  backendResolver({ ConnectTimeout: '2s', Failover: { '*': { Targets: [{ Peer: 'cluster-01' }] } } });
const setLocalCheck = (status: 'pass' | 'fail') =>
  call(homeUrl, 'PUT', `/v1/agent/check/${status}/backend-alive`);
const allowFrontendFromHome = () =>
  call(peerUrl, 'PUT', '/v1/config', {
    Kind: 'service-intentions',
    Name: 'backend',
    Sources: [{ Name: 'frontend', Peer: 'cluster-02', Action: 'allow' }],
  });

/** A connection held open to see that a route change never cuts it. */
interface Held {
  /** Who answered when the connection was made. */
  greeting: string;
  send(text: string): Promise<string>;
  close(): void;
}
async function hold(): Promise<Held> {
  const socket = net.connect(upstream);
  socket.setEncoding('utf8');
  let buffer = '';
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    wake?.();
  });
  socket.on('error', () => {});
  const until = (want: string) =>
    eventually(async () => {
      if (buffer.includes(want)) return true;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      return buffer.includes(want);
    }, 10_000);
  await until(':');
  const greeting = buffer;
  return {
    greeting,
    async send(text) {
      buffer = '';
      socket.write(text);
      await until(text);
      return buffer;
    },
    close: () => socket.destroy(),
  };
}

beforeAll(async () => {
  const [peer, home] = await Promise.all([
    startAclServer('dc1'),
    startServerProcess({ datacenter: 'dc2' }) as Promise<ServerProcess>,
  ]);
  stops.push(
    () => peer.server.stop(),
    () => home.stop(),
  );
  peerUrl = peer.url;
  homeUrl = home.url;
  [localApp, peerApp] = await Promise.all([startNamedEchoServer('local'), startNamedEchoServer('peer')]);
  stops.push(
    () => localApp.close(),
    () => peerApp.close(),
  );

  // cluster-01: backend behind its sidecar, a gateway, the export and the intention.
  await call(peerUrl, 'PUT', '/v1/agent/service/register', {
    ID: 'backend-1',
    Name: 'backend',
    Address: '127.0.0.1',
    Port: peerApp.address.port,
    Check: { CheckID: 'backend-alive', Name: 'alive', Status: 'passing' },
  });
  // cluster-02: the same service name, local, with a check the test turns critical and back.
  await call(homeUrl, 'PUT', '/v1/agent/service/register', {
    ID: 'backend-1',
    Name: 'backend',
    Meta: { version: 'v1' },
    Address: '127.0.0.1',
    Port: localApp.address.port,
    Check: { CheckID: 'backend-alive', Name: 'alive', Status: 'passing' },
  });
  const sidecarArgs = (app: EchoServer) => ['--service', 'backend', '--app-port', String(app.address.port)];
  [peerBackend] = await Promise.all([
    dataplane('proxy', peerUrl, [...sidecarArgs(peerApp), '--register']),
    dataplane('proxy', homeUrl, [...sidecarArgs(localApp), '--register'], false),
    dataplane('gateway', peerUrl, ['--register']),
    dataplane('gateway', homeUrl, ['--register'], false),
  ]);
  await call(peerUrl, 'PUT', '/v1/config', {
    Kind: 'exported-services',
    Name: 'default',
    Services: [{ Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] }],
  });
  await allowFrontendFromHome();
  const { PeeringToken } = (await call(peerUrl, 'POST', '/v1/peering/token', { PeerName: 'cluster-02' })) as {
    PeeringToken: string;
  };
  await call(homeUrl, 'POST', '/v1/peering/establish', { PeerName: 'cluster-01', PeeringToken });
  await eventually(async () => {
    const imported = (await call(homeUrl, 'GET', '/v1/health/connect/backend?peer=cluster-01')) as unknown[];
    return imported.length > 0;
  }, 30_000);

  // frontend (its app is irrelevant here) with a local upstream to backend.
  const port = await freePort();
  upstream = { host: '127.0.0.1', port };
  frontend = await dataplane(
    'proxy',
    homeUrl,
    ['--service', 'frontend', '--app-port', String(localApp.address.port), '--upstream', `backend:${port}`],
    false,
  );
}, 120_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
});

const frontendLog = (msg: RegExp) => logRecords(frontend, msg);

describe('an upstream follows health and the service-resolver', () => {
  let held: Held;

  it('sends frontend to the local backend while it passes', async () => {
    await eventually(async () => (await ask()) === 'local', 20_000);
    held = await hold();
    expect(held.greeting).toBe('local:');
    expect(await held.send('first')).toBe('first');
  });

  it('sends nothing to a local backend whose check is critical', async () => {
    await setLocalCheck('fail');
    // No resolver yet: nowhere else to go, so new connections are refused.
    await eventually(async () => (await ask()) === '', 15_000);
    const before = localApp.connections;
    for (let i = 0; i < 5; i++) expect(await ask()).toBe('');
    expect(localApp.connections).toBe(before);
    expect(
      await counter(frontend, 'meshpeer_proxy_upstream_refused_total', { reason: 'no-instances' }),
    ).toBeGreaterThan(0);
    expect(frontendLog(/no passing instance, 1 listed, none passing/).length).toBeGreaterThan(0);
  });

  it('fails over to the peer named by the resolver, through the gateways', async () => {
    await failoverToPeer();
    await eventually(async () => (await ask()) === 'peer', 15_000);
    const before = localApp.connections;
    for (let i = 0; i < 5; i++) expect(await ask()).toBe('peer');
    expect(localApp.connections).toBe(before);
    expect(
      await counter(frontend, 'meshpeer_proxy_upstream_connections_total', {
        target: 'backend (peer cluster-01)',
        route: 'remote-gateway',
      }),
    ).toBeGreaterThanOrEqual(5);
    expect(
      await counter(frontend, 'meshpeer_proxy_upstream_failover', { target: 'backend (peer cluster-01)' }),
    ).toBe(1);
    expect(
      frontendLog(/new connections fail over to backend \(peer cluster-01\) via remote-gateway/).length,
    ).toBeGreaterThan(0);
    // The connection made before the check failed still reaches the local backend.
    expect(await held.send('second')).toBe('second');
  });

  it('returns to the local backend once it passes again', async () => {
    await setLocalCheck('pass');
    await eventually(async () => (await ask()) === 'local', 15_000);
    const before = peerApp.connections;
    for (let i = 0; i < 5; i++) expect(await ask()).toBe('local');
    expect(peerApp.connections).toBe(before);
    expect(
      await counter(frontend, 'meshpeer_proxy_upstream_failover', { target: 'backend (peer cluster-01)' }),
    ).toBe(0);
    expect(await held.send('third')).toBe('third');
    held.close();
  });

  it('is refused by the peer when no intention allows it there (ACLs on, default deny)', async () => {
    await call(peerUrl, 'DELETE', '/v1/config/service-intentions/backend');
    await setLocalCheck('fail');
    const refusedBefore = await sidecarRefusals(peerBackend, 'intention-deny');
    const appBefore = peerApp.connections;
    await eventually(async () => {
      expect(await ask()).toBe('');
      return (await sidecarRefusals(peerBackend, 'intention-deny')) > refusedBefore;
    }, 15_000);
    expect(peerApp.connections).toBe(appBefore);
    const refusal = await newestLogRecord(
      peerBackend,
      /^refused inbound connection/,
      (r) => r.reason === 'intention-deny',
    );
    expect(refusal).toMatchObject({ caller: expect.stringMatching(/\/svc\/frontend$/) });
    expect(String(refusal.msg)).toMatch(/deny/);
  });

  it('redirects every connection to the peer, with the local backend passing', async () => {
    await allowFrontendFromHome();
    await setLocalCheck('pass');
    await backendResolver({ Redirect: { Peer: 'cluster-01' } });
    await eventually(async () => (await ask()) === 'peer', 15_000);
    const before = localApp.connections;
    for (let i = 0; i < 5; i++) expect(await ask()).toBe('peer');
    expect(localApp.connections).toBe(before);
    expect(
      frontendLog(/new connections go to backend \(peer cluster-01\) via remote-gateway/).length,
    ).toBeGreaterThan(0);
    // Without the resolver, back home.
    await call(homeUrl, 'DELETE', '/v1/config/service-resolver/backend');
    await eventually(async () => (await ask()) === 'local', 15_000);
  });

  it("follows the resolver's DefaultSubset: with no local instance in it, the subset's failover takes over", async () => {
    const bySubset = (defaultSubset: string) =>
      backendResolver({
        Subsets: {
          v1: { Filter: 'Service.Meta.version == v1' },
          v2: { Filter: 'Service.Meta.version == v2' },
        },
        DefaultSubset: defaultSubset,
        Failover: { v2: { Targets: [{ Peer: 'cluster-01' }] } },
      });
    // The local backend passes but is v1: a v2 upstream goes to the peer.
    await bySubset('v2');
    await eventually(async () => (await ask()) === 'peer', 15_000);
    const before = localApp.connections;
    for (let i = 0; i < 5; i++) expect(await ask()).toBe('peer');
    expect(localApp.connections).toBe(before);
    expect(frontendLog(/backend \(subset v2\)/).length).toBeGreaterThan(0);
    // v1 is the local instance's subset: home again.
    await bySubset('v1');
    await eventually(async () => (await ask()) === 'local', 15_000);
    await call(homeUrl, 'DELETE', '/v1/config/service-resolver/backend');
  });

  it("follows a Redirect to another service through that service's resolver (a chain)", async () => {
    // backend → backend-alias (no instance of its own) → backend in the peer.
    await call(homeUrl, 'PUT', '/v1/config', {
      Kind: 'service-resolver',
      Name: 'backend-alias',
      Redirect: { Service: 'backend', Peer: 'cluster-01' },
    });
    await backendResolver({ Redirect: { Service: 'backend-alias' } });
    await eventually(async () => (await ask()) === 'peer', 15_000);
    const before = localApp.connections;
    for (let i = 0; i < 3; i++) expect(await ask()).toBe('peer');
    expect(localApp.connections).toBe(before);
    await call(homeUrl, 'DELETE', '/v1/config/service-resolver/backend');
    await call(homeUrl, 'DELETE', '/v1/config/service-resolver/backend-alias');
    await eventually(async () => (await ask()) === 'local', 15_000);
  });
});
