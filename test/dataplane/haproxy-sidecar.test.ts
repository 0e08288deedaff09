import { execFile } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueLeaf } from '../../src/ca/index.js';
import { type ServiceIntentionsEntry, serviceIntentionsSchema } from '../../src/config-entries/index.js';
import { StaticConfigSource } from '../../src/dataplane/config-source.js';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import { type GatewayConfig, MeshGateway } from '../../src/dataplane/gateway/index.js';
import { findHaproxy } from '../../src/dataplane/haproxy-process.js';
import { HaproxySidecar } from '../../src/dataplane/proxy/haproxy-sidecar.js';
import { type ProxyConfig, type ProxyLeaf, Sidecar } from '../../src/dataplane/proxy/index.js';
import { peeredServiceSni } from '../../src/dataplane/sni.js';
import {
  type EchoServer,
  echoOnce,
  startEchoServer,
  startNamedEchoServer,
} from '../../src/dataplane/testing/traffic.js';
import {
  baseGatewayConfig,
  baseProxyConfig,
  exportsTo,
  leafFor,
  type TestCluster,
  testCluster,
} from '../../src/dataplane/testing/two-clusters.js';
import {
  type DataplaneProcess,
  freePort,
  logRecords,
  sidecarRefusals,
  startDataplaneProcess,
} from '../security/dataplane-processes.js';
import { api, CLI, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';
import { metricValue, tlsAttempt } from './helpers.js';

// `meshpeer proxy --engine haproxy`. First in process: HaproxySidecar objects, each driving a real
// HAProxy (scripts/haproxy.sh installs it), with real certificates from two clusters' CAs, real echo apps
// and a real Node mesh gateway; configuration changes while traffic flows. Then as processes (from dist/)
// between two real servers, through real gateways; and the command's refusals.

const LOOPBACK: Endpoint = { host: '127.0.0.1', port: 0 };
const stoppers: (() => Promise<unknown>)[] = [];
let exporter: TestCluster;
let importer: TestCluster;
let echo: EchoServer;
let backendSource: StaticConfigSource<ProxyConfig>;
let backend: HaproxySidecar;
let backendAddress: Endpoint;
let webSource: StaticConfigSource<ProxyConfig>;
let web: HaproxySidecar;
let frontend: HaproxySidecar;
let frontendSource: StaticConfigSource<ProxyConfig>;
let exporterGatewayAddress: Endpoint;
let backendSni: string;

/** A leaf for `service` of `cluster` naming its local SNI name and the peered ones given. */
async function leafOf(cluster: TestCluster, service: string, sniNames: string[] = []): Promise<ProxyLeaf> {
  const issued = await issueLeaf(cluster.root, { service, datacenter: cluster.datacenter, sniNames });
  return { certPem: issued.certPem, keyPem: issued.keyPem, serialNumber: issued.serialNumber };
}

async function start<T extends { stop(drainMs?: number): Promise<void> }>(
  component: T,
  run: (c: T) => Promise<unknown>,
): Promise<T> {
  stoppers.push(() => component.stop());
  await run(component);
  return component;
}

/** A connection through `endpoint` that stays open: each `say` is echoed back before it resolves. */
async function liveConnection(endpoint: Endpoint) {
  const socket = net.connect({ host: endpoint.host, port: endpoint.port });
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    received += chunk;
  });
  const closed = once(socket, 'close');
  socket.on('error', () => {});
  return {
    async say(text: string): Promise<string> {
      const before = received.length;
      socket.write(text);
      await eventually(async () => received.length >= before + text.length || socket.destroyed, 10_000);
      return received.slice(before);
    },
    async close(): Promise<void> {
      socket.end();
      await closed;
    },
  };
}

const upstreamOf = (s: HaproxySidecar, name: string, peer?: string) => s.upstreamAddress(name, peer);
const echoed = async (endpoint: Endpoint, text: string) => (await echoOnce(endpoint, text)).toString();

beforeAll(async () => {
  findHaproxy(); // scripts/haproxy.sh (from scripts/test-deps.sh) installs it; fail loudly if it did not
  exporter = await testCluster('cluster-01', 'cluster-01', 'dc1');
  importer = await testCluster('cluster-02', 'cluster-02', 'dc2');
  echo = await startEchoServer();
  stoppers.push(() => echo.close());
  backendSni = peeredServiceSni({
    service: 'backend',
    peer: importer.peerName,
    trustDomain: exporter.root.trustDomain,
  });

  // backend (cluster-01) is exported to cluster-02: its leaf names the SNI cluster-02's callers send.
  backendSource = new StaticConfigSource<ProxyConfig>({
    ...baseProxyConfig(exporter, 'backend', await leafOf(exporter, 'backend', [backendSni])),
    peerBundles: [importer.bundle],
    inboundPeerBundles: [importer.bundle],
  });
  backend = await start(
    new HaproxySidecar({ config: backendSource, inbound: { listen: LOOPBACK, app: echo.address } }),
    (s) => s.start(),
  );
  backendAddress = backend.addresses.inbound as Endpoint;

  // web (cluster-01) calls backend locally.
  webSource = new StaticConfigSource<ProxyConfig>({
    ...baseProxyConfig(exporter, 'web', await leafFor(exporter, 'web')),
    upstreams: [{ name: 'backend', instances: [backendAddress] }],
  });
  web = await start(
    new HaproxySidecar({ config: webSource, upstreams: [{ name: 'backend', bind: LOOPBACK }] }),
    (s) => s.start(),
  );

  // frontend (cluster-02) calls backend through both clusters' mesh gateways.
  const exporterGateway = await start(
    new MeshGateway({
      config: new StaticConfigSource<GatewayConfig>({
        ...baseGatewayConfig(exporter),
        exportedServices: exportsTo('backend', importer.peerName),
        localServices: new Map([['backend', [backendAddress]]]),
      }),
      listen: LOOPBACK,
    }),
    (g) => g.start(),
  );
  exporterGatewayAddress = exporterGateway.address;
  frontendSource = new StaticConfigSource<ProxyConfig>({
    ...baseProxyConfig(importer, 'frontend', await leafFor(importer, 'frontend')),
    peerBundles: [exporter.bundle],
    upstreams: [
      {
        name: 'backend',
        peer: exporter.peerName,
        instances: [exporterGateway.address],
        sni: backendSni,
      },
    ],
  });
  frontend = await start(
    new HaproxySidecar({
      config: frontendSource,
      upstreams: [{ name: 'backend', peer: exporter.peerName, bind: LOOPBACK }],
    }),
    (s) => s.start(),
  );
}, 60_000);

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
});

describe('the sidecar on HAProxy', () => {
  it('carries a local upstream from one HAProxy sidecar to another, both checking certificates', async () => {
    expect(await echoed(upstreamOf(web, 'backend'), 'local hello')).toBe('local hello');
    expect(await metricValue(backend.metrics.registry, 'meshpeer_proxy_haproxy_up')).toBe(1);
    expect(await metricValue(backend.metrics.registry, 'meshpeer_proxy_inbound_allowed_total')).toBe(1);
    expect(
      await metricValue(web.metrics.registry, 'meshpeer_proxy_upstream_connections_total', {
        upstream: 'backend',
        route: 'direct',
        target: 'backend',
      }),
    ).toBe(1);
  });

  it('takes connections from a Node sidecar, as the Node engine does', async () => {
    const nodeWeb = await start(
      new Sidecar({
        config: new StaticConfigSource<ProxyConfig>({
          ...baseProxyConfig(exporter, 'web', await leafFor(exporter, 'web')),
          upstreams: [{ name: 'backend', instances: [backendAddress] }],
        }),
        upstreams: [{ name: 'backend', bind: LOOPBACK }],
      }),
      (s) => s.start(),
    );
    expect(await echoed(nodeWeb.upstreamAddress('backend'), 'from node')).toBe('from node');
  });

  it('refuses a caller without a certificate at the handshake, and counts it', async () => {
    const attempt = await tlsAttempt(backendAddress, {
      servername: 'backend.default.dc1.internal.x',
      ca: [exporter.root.certPem],
      payload: 'no cert',
    });
    expect(attempt.data).toBe('');
    await eventually(
      async () =>
        (await metricValue(backend.metrics.registry, 'meshpeer_proxy_inbound_refused_total', {
          reason: 'tls-handshake',
        })) >= 1,
      10_000,
    );
  });

  it('carries a peered upstream through both clusters’ gateways to the exporter’s HAProxy sidecar', async () => {
    expect(await echoed(upstreamOf(frontend, 'backend', 'cluster-01'), 'across')).toBe('across');
  });

  it('goes through its own cluster’s gateway in local mode, and back to the peer’s when remote again', async () => {
    const importerGateway = await start(
      new MeshGateway({
        config: new StaticConfigSource<GatewayConfig>({
          ...baseGatewayConfig(importer),
          peers: [
            {
              name: exporter.peerName,
              trustDomain: exporter.root.trustDomain,
              gateways: [exporterGatewayAddress],
              servers: [],
            },
          ],
        }),
        listen: LOOPBACK,
      }),
      (g) => g.start(),
    );
    const forwarded = async () =>
      (await importerGateway.metrics.forwarded.get()).values.reduce((n, v) => n + v.value, 0);
    frontendSource.update((c) => ({
      ...c,
      meshGatewayMode: 'local',
      localGateways: [importerGateway.address],
    }));
    await frontend.settled();
    const before = await forwarded();
    expect(await echoed(upstreamOf(frontend, 'backend', 'cluster-01'), 'local mode')).toBe('local mode');
    expect(await forwarded()).toBe(before + 1);
    frontendSource.update((c) => ({ ...c, meshGatewayMode: '', localGateways: [] }));
    await frontend.settled();
    expect(await echoed(upstreamOf(frontend, 'backend', 'cluster-01'), 'remote mode')).toBe('remote mode');
    expect(await forwarded()).toBe(before + 1);
  });

  it('refuses an upstream instance that presents another service’s leaf, or one from another trust set', async () => {
    const impostorApp = await startNamedEchoServer('impostor');
    stoppers.push(() => impostorApp.close());
    // Another service of our own cluster: its chain is good, its name is not backend's.
    const other = await start(
      new Sidecar({
        config: new StaticConfigSource({
          ...baseProxyConfig(exporter, 'other', await leafFor(exporter, 'other')),
        }),
        inbound: { listen: LOOPBACK, app: impostorApp.address },
      }),
      (s) => s.start(),
    );
    // "backend" with a leaf from cluster-02's CA: the right name, the wrong trust set. It trusts our
    // roots too, so the handshake fails at web's check, not at its own.
    const foreign = await start(
      new Sidecar({
        config: new StaticConfigSource({
          ...baseProxyConfig(importer, 'backend', await leafOf(importer, 'backend')),
          roots: [importer.root.certPem, exporter.root.certPem],
        }),
        inbound: { listen: LOOPBACK, app: impostorApp.address },
      }),
      (s) => s.start(),
    );
    const impostors = [other.addresses.inbound as Endpoint, foreign.addresses.inbound as Endpoint];
    try {
      for (const impostor of impostors) {
        webSource.update((c) => ({ ...c, upstreams: [{ name: 'backend', instances: [impostor] }] }));
        await web.settled();
        expect(await echoed(upstreamOf(web, 'backend'), 'secret')).toBe('');
      }
      expect(impostorApp.connections).toBe(0);
    } finally {
      webSource.update((c) => ({ ...c, upstreams: [{ name: 'backend', instances: [backendAddress] }] }));
      await web.settled();
    }
    expect(await echoed(upstreamOf(web, 'backend'), 'back')).toBe('back');
  });

  it('denies new connections once an intention says so, while a live one keeps flowing', async () => {
    const live = await liveConnection(upstreamOf(web, 'backend'));
    expect(await live.say('one')).toBe('one');
    const workerBefore = backend.workerPid;
    backendSource.update((c) => ({ ...c, intentions: [intention('backend', 'web', 'deny')] }));
    await backend.settled();
    expect(backend.workerPid).not.toBe(workerBefore);
    expect(await echoed(upstreamOf(web, 'backend'), 'denied?')).toBe('');
    expect(await live.say('two')).toBe('two');
    await eventually(
      async () =>
        (await metricValue(backend.metrics.registry, 'meshpeer_proxy_inbound_refused_total', {
          reason: 'intention-deny',
        })) >= 1,
      10_000,
    );
    backendSource.update((c) => ({ ...c, intentions: [] }));
    await backend.settled();
    expect(await echoed(upstreamOf(web, 'backend'), 'allowed')).toBe('allowed');
    expect(await live.say('three')).toBe('three');
    await live.close();
  });

  it('takes a renewed leaf and new roots without cutting a live connection', async () => {
    const live = await liveConnection(upstreamOf(web, 'backend'));
    expect(await live.say('before')).toBe('before');
    const renewed = await leafOf(exporter, 'backend', [backendSni]);
    const spare = await testCluster('cluster-01', 'cluster-01', 'dc1');
    backendSource.update((c) => ({ ...c, leaf: renewed, roots: [...c.roots, spare.root.certPem] }));
    webSource.update((c) => ({ ...c, roots: [...c.roots, spare.root.certPem] }));
    await Promise.all([backend.settled(), web.settled()]);
    expect(backend.leafSerial).toBe(renewed.serialNumber);
    expect(await live.say('during')).toBe('during');
    expect(await echoed(upstreamOf(web, 'backend'), 'after')).toBe('after');
    expect(await live.say('still')).toBe('still');
    await live.close();
  });

  it('fails over to the next target when the first one’s endpoint is dead', async () => {
    const spareApp = await startNamedEchoServer('spare');
    stoppers.push(() => spareApp.close());
    const spare = await start(
      new Sidecar({
        config: new StaticConfigSource(baseProxyConfig(exporter, 'spare', await leafFor(exporter, 'spare'))),
        inbound: { listen: LOOPBACK, app: spareApp.address },
      }),
      (s) => s.start(),
    );
    const dead = await deadEndpoint();
    webSource.update((c) => ({
      ...c,
      upstreams: [
        { name: 'backend', instances: [dead] },
        { name: 'spare', instances: [spare.addresses.inbound as Endpoint] },
      ],
      resolvers: [
        { Kind: 'service-resolver', Name: 'backend', Failover: { '*': { Targets: [{ Service: 'spare' }] } } },
      ],
    }));
    await web.settled();
    try {
      // The first connection finds the primary dead and is redispatched to the failover target.
      expect(await echoed(upstreamOf(web, 'backend'), 'x')).toBe('spare:x');
      expect(await echoed(upstreamOf(web, 'backend'), 'y')).toBe('spare:y');
    } finally {
      webSource.update((c) => ({
        ...c,
        upstreams: [{ name: 'backend', instances: [backendAddress] }],
        resolvers: [],
      }));
      await web.settled();
    }
  });

  it('starts HAProxy again on the newest configuration when it dies', async () => {
    const master = web.masterPid;
    process.kill(master, 'SIGKILL');
    await eventually(async () => web.masterPid !== 0 && web.masterPid !== master, 20_000);
    await eventually(async () => (await echoed(upstreamOf(web, 'backend'), 'again')) === 'again', 10_000);
  });
});

// `meshpeer proxy --engine haproxy` as a process (from dist/, built by `npm test`), against real servers:
// configuration and leaves from the server's HTTP API, registration, peering, SIGTERM.
describe('meshpeer proxy --engine haproxy, as a process between real servers', () => {
  const stops: (() => Promise<unknown>)[] = [];
  const apps: Record<string, EchoServer> = {};
  let c1: ServerProcess;
  let c2: ServerProcess;
  let backendProc: DataplaneProcess;
  let webPort: number;
  let frontendPort: number;

  const call = async (url: string, method: string, path: string, json?: unknown): Promise<unknown> => {
    const res = await api(`${url}${path}`, { method, ...(json === undefined ? {} : { json }) });
    expect(res.status, `${method} ${path}: ${res.text}`).toBe(200);
    return res.body;
  };
  const proxy = (server: ServerProcess, args: string[]) =>
    startDataplaneProcess('proxy', ['--engine', 'haproxy', '--server', server.url, ...args]).then((p) => {
      stops.push(() => p.stop());
      return p;
    });

  beforeAll(async () => {
    [c1, c2] = (await Promise.all(
      ['dc1', 'dc2'].map((datacenter) => startServerProcess({ datacenter })),
    )) as [ServerProcess, ServerProcess];
    stops.push(
      () => c1.stop(),
      () => c2.stop(),
    );
    for (const name of ['backend', 'web', 'frontend']) {
      apps[name] = await startEchoServer();
      stops.push(() => (apps[name] as EchoServer).close());
    }
    await call(c1.url, 'PUT', '/v1/agent/service/register', {
      Name: 'backend',
      Address: '127.0.0.1',
      Port: (apps.backend as EchoServer).address.port,
    });
    await call(c1.url, 'PUT', '/v1/config', {
      Kind: 'exported-services',
      Name: 'default',
      Services: [{ Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] }],
    });
    const { PeeringToken } = (await call(c1.url, 'POST', '/v1/peering/token', {
      PeerName: 'cluster-02',
    })) as {
      PeeringToken: string;
    };
    await call(c2.url, 'POST', '/v1/peering/establish', { PeerName: 'cluster-01', PeeringToken });

    webPort = await freePort();
    frontendPort = await freePort();
    const started = await Promise.all([
      proxy(c1, [
        '--service',
        'backend',
        '--listen',
        '127.0.0.1:0',
        '--app-port',
        String((apps.backend as EchoServer).address.port),
        '--register',
        '--drain-seconds',
        '30',
      ]),
      proxy(c1, [
        '--service',
        'web',
        '--listen',
        '127.0.0.1:0',
        '--app-port',
        String((apps.web as EchoServer).address.port),
        '--upstream',
        `backend:${webPort}`,
      ]),
      proxy(c2, [
        '--service',
        'frontend',
        '--listen',
        '127.0.0.1:0',
        '--app-port',
        String((apps.frontend as EchoServer).address.port),
        '--upstream',
        `backend:peer=cluster-01:${frontendPort}`,
      ]),
      ...[c1, c2].map((server, i) =>
        startDataplaneProcess('gateway', [
          ...(i === 0 ? ['--engine', 'haproxy'] : []),
          '--server',
          server.url,
          '--listen',
          '127.0.0.1:0',
          '--register',
        ]).then((p) => {
          stops.push(() => p.stop());
          return p;
        }),
      ),
    ]);
    backendProc = started[0];
  }, 120_000);

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  });

  it('registers as the connect-proxy of its service and carries a local upstream', async () => {
    const proxies = (await call(c1.url, 'GET', '/v1/health/connect/backend')) as {
      Service: { Kind: string; Port: number; Proxy: { DestinationServiceName: string } };
    }[];
    expect(
      proxies.map((p) => [p.Service.Kind, p.Service.Proxy.DestinationServiceName, p.Service.Port]),
    ).toEqual([['connect-proxy', 'backend', backendProc.address.port]]);
    expect(logRecords(backendProc, /^haproxy started$/)).toHaveLength(1);
    const upstream = { host: '127.0.0.1', port: webPort };
    await eventually(async () => (await echoed(upstream, 'via web')) === 'via web', 30_000);
  });

  it('carries a peered upstream to the exporter, whose leaf names the peered SNI', async () => {
    const upstream = { host: '127.0.0.1', port: frontendPort };
    await eventually(async () => (await echoed(upstream, 'from dc2')) === 'from dc2', 60_000);
  });

  it('refuses a caller an intention denies, saying why', async () => {
    await call(c1.url, 'PUT', '/v1/config', {
      Kind: 'service-intentions',
      Name: 'backend',
      Sources: [{ Name: 'web', Action: 'deny' }],
    });
    const upstream = { host: '127.0.0.1', port: webPort };
    await eventually(async () => (await echoed(upstream, 'denied?')) === '', 30_000);
    await eventually(async () => (await sidecarRefusals(backendProc, 'intention-deny')) >= 1, 10_000);
    expect(
      logRecords(backendProc, /^refused inbound connection: intention web → backend says deny$/),
    ).not.toEqual([]);
    // Still open to the peer's frontend.
    expect(await echoed({ host: '127.0.0.1', port: frontendPort }, 'peer ok')).toBe('peer ok');
    // The reload that applied it is not reported as a warning.
    expect(backendProc.logs.filter((l) => /"level":(40|50).*stopped \(cumulated conns/.test(l))).toEqual([]);
    await call(c1.url, 'DELETE', '/v1/config/service-intentions/backend');
    await eventually(async () => (await echoed(upstream, 'allowed')) === 'allowed', 30_000);
  });

  it('drains on SIGTERM: live connections go on, new ones are refused, then it exits', async () => {
    const live = await liveConnection({ host: '127.0.0.1', port: webPort });
    expect(await live.say('before')).toBe('before');
    const exited = new Promise<number | null>((resolve) =>
      backendProc.child.once('exit', (code) => resolve(code)),
    );
    backendProc.child.kill('SIGTERM');
    await eventually(
      async () => logRecords(backendProc, /^sidecar \(haproxy\) draining$/).length === 1,
      10_000,
    );
    expect(await live.say('during the drain')).toBe('during the drain');
    // HAProxy closes its listener once the signal reaches it: from then on, nothing connects.
    await eventually(async () => {
      const attempt = await tlsAttempt(backendProc.address, {
        servername: 'backend',
        ca: [],
        payload: 'new',
      });
      return attempt.data === '' && /ECONNREFUSED/.test(attempt.error ?? '');
    }, 10_000);
    expect(await live.say('still draining')).toBe('still draining');
    await live.close();
    expect(await exited).toBe(0);
  });
});

describe('meshpeer proxy --engine', () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ failed: boolean; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [CLI, 'proxy', ...args],
        { env: { ...process.env, ...env } },
        (err, _out, stderr) => resolve({ failed: err !== null, stderr }),
      );
    });

  it('fails at start without an HAProxy binary, saying how to install one', async () => {
    // No server answers here: the binary is looked for before anything else.
    const { failed, stderr } = await run(
      ['--engine', 'haproxy', '--server', 'http://127.0.0.1:1', '--service', 'web'],
      { MESHPEER_HAPROXY: '/nonexistent/haproxy' },
    );
    expect(failed).toBe(true);
    expect(stderr).toMatch(
      /haproxy binary \/nonexistent\/haproxy is not an executable file: .*apt-get install haproxy/,
    );
  });

  it('refuses an engine it does not know', async () => {
    const { failed, stderr } = await run(['--engine', 'envoy', '--service', 'web']);
    expect(failed).toBe(true);
    expect(stderr).toMatch(/node, haproxy/);
  });
});

function intention(destination: string, source: string, action: 'allow' | 'deny'): ServiceIntentionsEntry {
  return serviceIntentionsSchema.parse({
    Kind: 'service-intentions',
    Name: destination,
    Sources: [{ Name: source, Action: action }],
  });
}

/** A loopback port nothing listens on. */
async function deadEndpoint(): Promise<Endpoint> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return { host: '127.0.0.1', port };
}
