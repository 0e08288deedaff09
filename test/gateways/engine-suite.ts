import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConfigSource, StaticConfigSource } from '../../src/dataplane/config-source.js';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import type { GatewayConfig, GatewayMetrics } from '../../src/dataplane/gateway/index.js';
import { type ProxyConfig, Sidecar } from '../../src/dataplane/proxy/index.js';
import { DEFAULT_MAX_CLIENT_HELLO_BYTES, peeredServiceSni } from '../../src/dataplane/sni.js';
import {
  captureClientHello,
  sendAndHalfClose,
  unfinishedClientHello,
} from '../../src/dataplane/testing/client-hello.js';
import {
  type EchoServer,
  echoTransfer,
  startEchoServer,
  startNamedEchoServer,
} from '../../src/dataplane/testing/traffic.js';
import {
  baseGatewayConfig,
  baseProxyConfig,
  importerGatewayConfig,
  leafFor,
  type TestCluster,
  testCluster,
} from '../../src/dataplane/testing/two-clusters.js';

// A mesh gateway engine (`meshpeer gateway --engine haproxy|nginx`), end to end: real engine processes
// as both mesh gateways of the two-cluster path, real Node sidecars doing mTLS through them, routes
// decided by meshpeer and changed while traffic flows. Each engine's test file runs this suite.

/** What the suite needs of a gateway, whichever engine carries its bytes. */
export interface EngineGateway {
  readonly metrics: GatewayMetrics;
  readonly address: Endpoint;
  readonly workerPid: number;
  start(): Promise<Endpoint>;
  stop(drainMs?: number): Promise<void>;
  settled(): Promise<void>;
}

export interface EngineUnderTest {
  name: 'haproxy' | 'nginx';
  /** Throws, saying how to install it, when the engine is missing. */
  find(): void;
  make(options: { config: ConfigSource<GatewayConfig>; listen: Endpoint; binary?: string }): EngineGateway;
  /** Whether a change of names and endpoints alone keeps the worker (a runtime update, no reload). */
  updatesLive: boolean;
  /** Kills the engine so that it must be started again (its master: a worker alone is replaced by it). */
  kill(gateway: EngineGateway): void;
  /** The refusal reasons counted for a name not exported to the peer and for bytes that are not TLS. */
  refusedReasons: { notExported: string; notTls: string };
  /** What the error says when the binary is missing. */
  installHint: RegExp;
}

export function engineSuite(engine: EngineUnderTest): void {
  const LOOPBACK: Endpoint = { host: '127.0.0.1', port: 0 };
  const stoppers: (() => Promise<void>)[] = [];
  let exporter: TestCluster;
  let importer: TestCluster;
  let echo: EchoServer;
  /** Plain echo apps routed to directly (the gateway never terminates TLS, so any TCP app will do). */
  let raw: EchoServer;
  let rawB: EchoServer;
  let admin: EchoServer;
  let exporterSource: StaticConfigSource<GatewayConfig>;
  let exporterGateway: EngineGateway;
  let importerGateway: EngineGateway;
  let upstream: Endpoint;

  const sniFor = (service: string, peer = 'cluster-02'): string =>
    peeredServiceSni({ service, peer, trustDomain: exporter.root.trustDomain });

  function exports(...services: string[]): GatewayConfig['exportedServices'] {
    return {
      Kind: 'exported-services',
      Name: 'default',
      Services: services.map((Name) => ({ Name, Consumers: [{ Peer: 'cluster-02' }] })),
    };
  }

  /** A gateway's routes with only `raw` exported, for the gateways a test starts of its own. */
  function rawOnly(): StaticConfigSource<GatewayConfig> {
    return new StaticConfigSource<GatewayConfig>({
      ...baseGatewayConfig(exporter),
      exportedServices: exports('raw'),
      localServices: new Map([['raw', [raw.address]]]),
    });
  }

  beforeAll(async () => {
    engine.find(); // scripts/haproxy.sh (from scripts/test-deps.sh) installs it; fail loudly if it did not
    exporter = await testCluster('cluster-01', 'cluster-01', 'dc1');
    importer = await testCluster('cluster-02', 'cluster-02', 'dc2');
    echo = await startEchoServer();
    raw = await startNamedEchoServer('raw-a');
    rawB = await startNamedEchoServer('raw-b');
    admin = await startEchoServer();
    stoppers.push(
      () => echo.close(),
      () => raw.close(),
      () => rawB.close(),
      () => admin.close(),
    );

    const backend = new Sidecar({
      config: new StaticConfigSource<ProxyConfig>({
        ...baseProxyConfig(exporter, 'backend', await leafFor(exporter, 'backend')),
        peerBundles: [importer.bundle],
        inboundPeerBundles: [importer.bundle],
      }),
      inbound: { listen: LOOPBACK, app: echo.address },
    });
    const backendAddress = (await backend.start()).inbound as Endpoint;
    stoppers.push(() => backend.stop());

    exporterSource = new StaticConfigSource<GatewayConfig>({
      ...baseGatewayConfig(exporter),
      exportedServices: exports('backend', 'raw'),
      localServices: new Map([
        ['backend', [backendAddress]],
        ['raw', [raw.address]],
        ['admin', [admin.address]],
      ]),
    });
    exporterGateway = engine.make({ config: exporterSource, listen: LOOPBACK });
    const exporterAddress = await exporterGateway.start();
    stoppers.push(() => exporterGateway.stop());

    importerGateway = engine.make({
      config: new StaticConfigSource<GatewayConfig>({
        ...importerGatewayConfig(importer, exporter, [exporterAddress]),
      }),
      listen: LOOPBACK,
    });
    const importerAddress = await importerGateway.start();
    stoppers.push(() => importerGateway.stop());

    const frontend = new Sidecar({
      config: new StaticConfigSource<ProxyConfig>({
        ...baseProxyConfig(importer, 'frontend', await leafFor(importer, 'frontend')),
        peerBundles: [exporter.bundle],
        upstreams: [
          { name: 'backend', peer: exporter.peerName, instances: [exporterAddress], sni: sniFor('backend') },
        ],
        localGateways: [importerAddress],
        meshGatewayMode: 'local',
      }),
      upstreams: [{ name: 'backend', peer: exporter.peerName, bind: LOOPBACK }],
    });
    await frontend.start();
    stoppers.push(() => frontend.stop());
    upstream = frontend.upstreamAddress('backend', exporter.peerName) as Endpoint;
  }, 60_000);

  afterAll(async () => {
    for (const stop of stoppers.reverse()) await stop();
  });

  /** Every byte that comes back for `payload` written in one go (sendAndHalfClose). */
  const sendAll = async (to: Endpoint, payload: Buffer): Promise<Buffer> =>
    (await sendAndHalfClose(to, payload)).received;

  /** A connection kept open: send a line, read it back (echoed, after the named echo's greeting). */
  async function openConnection(to: Endpoint, servername: string) {
    const socket = net.connect({ ...to, allowHalfOpen: true });
    socket.on('error', () => {});
    await once(socket, 'connect');
    let received = Buffer.alloc(0);
    let waiter: (() => void) | undefined;
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      waiter?.();
    });
    const closed = once(socket, 'close');
    const until = (length: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (received.length >= length) resolve();
        };
        waiter = check;
        closed.then(() => reject(new Error(`closed after ${received.length} of ${length} bytes`)));
        check();
      });
    const hello = await captureClientHello(servername);
    const sent: Buffer[] = [hello];
    socket.write(hello);
    return {
      socket,
      closed,
      get received() {
        return received;
      },
      /** Sends `bytes` and waits until everything sent so far (plus `extra` greeting bytes) came back. */
      async roundTrip(bytes: Buffer, extra: number): Promise<void> {
        sent.push(bytes);
        socket.write(bytes);
        await until(Buffer.concat(sent).length + extra);
      },
      sent: () => Buffer.concat(sent),
    };
  }

  /** Reads until `done` says so (at most 10 s), and returns the last reading. */
  async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const value = await read();
      if (done(value) || Date.now() > deadline) return value;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function refusedNow(to: Endpoint): Promise<boolean> {
    const socket = net.connect(to);
    return new Promise((resolve) => {
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
    });
  }

  describe(`meshpeer gateway --engine ${engine.name}`, () => {
    it(`carries mTLS from a sidecar through two ${engine.name} gateways to the exported service, byte for byte`, async () => {
      const result = await echoTransfer(upstream, 8 * 1024 * 1024);
      expect(result.received).toBe(result.sent);
      expect(result.receivedSha256).toBe(result.sentSha256);
    });

    it('routes only the names the peer may reach: unexported, other peers, unknown, non-TLS are refused', async () => {
      const payload = randomBytes(1024);
      const reached = await sendAll(
        exporterGateway.address,
        Buffer.concat([await captureClientHello(sniFor('raw')), payload]),
      );
      expect(reached.subarray(0, 6).toString()).toBe('raw-a:');

      const adminBefore = admin.connections;
      const rawBefore = raw.connections;
      for (const name of [
        sniFor('admin'),
        sniFor('raw', 'cluster-03'),
        peeredServiceSni({
          service: 'raw',
          namespace: 'other',
          peer: 'cluster-02',
          trustDomain: exporter.root.trustDomain,
        }),
        `raw.default.dc1.internal.${exporter.root.trustDomain}`,
        'example.com',
      ]) {
        const answer = await sendAll(
          exporterGateway.address,
          Buffer.concat([await captureClientHello(name), payload]),
        );
        expect(answer.length, name).toBe(0);
      }
      expect(await sendAll(exporterGateway.address, Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toHaveLength(0);
      expect(admin.connections).toBe(adminBefore);
      expect(raw.connections).toBe(rawBefore);
    });

    it("counts forwarded, refused and live connections into the gateway's metrics", async () => {
      // A gateway of its own, so that nothing else it carried is still on its way into the counts.
      const gateway = engine.make({
        config: new StaticConfigSource<GatewayConfig>({
          ...baseGatewayConfig(exporter),
          exportedServices: exports('raw'),
          localServices: new Map([
            ['raw', [raw.address]],
            ['admin', [admin.address]],
          ]),
        }),
        listen: LOOPBACK,
      });
      const address = await gateway.start();
      stoppers.push(() => gateway.stop());
      const { notExported, notTls } = engine.refusedReasons;
      const read = async () => {
        const text = await gateway.metrics.registry.metrics();
        const value = (pattern: RegExp): number => Number(pattern.exec(text)?.[1] ?? 0);
        const refused = (reason: string): number =>
          value(
            new RegExp(`^meshpeer_gateway_connections_refused_total\\{reason="${reason}"\\} (\\d+)$`, 'm'),
          );
        return {
          up: value(/^meshpeer_gateway_haproxy_up (\d+)$/m),
          inbound: value(/^meshpeer_gateway_connections_forwarded_total\{route="inbound"\} (\d+)$/m),
          active: value(/^meshpeer_gateway_connections_active (\d+)$/m),
          notExported: refused(notExported),
          notTls: refused(notTls),
        };
      };
      await sendAll(address, Buffer.concat([await captureClientHello(sniFor('raw')), Buffer.from('x')]));
      await sendAll(address, Buffer.concat([await captureClientHello(sniFor('admin')), Buffer.from('x')]));
      await sendAll(address, Buffer.from('not tls'));
      const same = notTls === notExported;
      const expected = { inbound: 1, notExported: same ? 2 : 1, notTls: same ? 2 : 1 };
      // nginx's lines reach meshpeer after the connections end (within its log's flush time).
      const after = await until(
        read,
        (m) => m.inbound >= 1 && m.notTls >= expected.notTls && m.notExported >= expected.notExported,
      );
      if (engine.name === 'haproxy') expect(after.up).toBe(1);
      expect({ inbound: after.inbound, notExported: after.notExported, notTls: after.notTls }).toEqual(
        expected,
      );
      expect(after.active).toBe(0);

      const live = await openConnection(address, sniFor('raw'));
      await live.roundTrip(randomBytes(1000), 6);
      expect((await until(read, (m) => m.active > 0)).active).toBe(1);
      live.socket.end();
      await live.closed;
      expect((await until(read, (m) => m.active === 0)).active).toBe(0);
    });

    it('forwards a ClientHello plus 64 KiB sent in one write, byte for byte', async () => {
      const hello = await captureClientHello(sniFor('raw'));
      const payload = Buffer.concat([hello, randomBytes(64 * 1024)]);
      expect(payload.length).toBeGreaterThan(DEFAULT_MAX_CLIENT_HELLO_BYTES);
      const received = await sendAll(exporterGateway.address, payload);
      expect(received.toString('latin1')).toBe(`raw-a:${payload.toString('latin1')}`);
    });

    it('refuses a ClientHello still incomplete past its buffer, without dialing the instance', async () => {
      const before = raw.connections;
      expect(await sendAll(exporterGateway.address, unfinishedClientHello())).toHaveLength(0);
      expect(raw.connections).toBe(before);
    });

    it('applies route changes (runtime API, then a reload) while a transfer is live, without cutting it', async () => {
      const greeting = 'raw-a:'.length;
      const live = await openConnection(exporterGateway.address, sniFor('raw'));
      await live.roundTrip(randomBytes(100_000), greeting);
      const worker = exporterGateway.workerPid;

      // Names and endpoints only: runtime API. admin becomes reachable, raw moves to another instance.
      exporterSource.update((c) => ({
        ...c,
        exportedServices: exports('backend', 'raw', 'admin'),
        localServices: new Map([...c.localServices, ['raw', [rawB.address]]]),
      }));
      await exporterGateway.settled();
      // HAProxy takes these through its runtime API; nginx has none, and reloads.
      if (engine.updatesLive) expect(exporterGateway.workerPid).toBe(worker);
      else expect(exporterGateway.workerPid).not.toBe(worker);
      await live.roundTrip(randomBytes(100_000), greeting);
      const moved = await sendAll(
        exporterGateway.address,
        Buffer.concat([await captureClientHello(sniFor('raw')), Buffer.from('x')]),
      );
      expect(moved.subarray(0, 6).toString()).toBe('raw-b:');
      const adminBefore = admin.connections;
      await sendAll(
        exporterGateway.address,
        Buffer.concat([await captureClientHello(sniFor('admin')), Buffer.from('x')]),
      );
      expect(admin.connections).toBe(adminBefore + 1);

      // A new destination: a reload, with a new worker; the live connection stays with the old one.
      exporterSource.update((c) => ({
        ...c,
        exportedServices: exports('backend', 'raw', 'admin', 'extra'),
        localServices: new Map([...c.localServices, ['extra', [raw.address]]]),
      }));
      await exporterGateway.settled();
      expect(exporterGateway.workerPid).not.toBe(worker);
      await live.roundTrip(randomBytes(100_000), greeting);
      const extra = await sendAll(
        exporterGateway.address,
        Buffer.concat([await captureClientHello(sniFor('extra')), Buffer.from('x')]),
      );
      expect(extra.subarray(0, 6).toString()).toBe('raw-a:');

      // Unexporting refuses new connections only.
      exporterSource.update((c) => ({ ...c, exportedServices: exports('backend', 'raw') }));
      await exporterGateway.settled();
      expect(
        await sendAll(
          exporterGateway.address,
          Buffer.concat([await captureClientHello(sniFor('admin')), Buffer.from('x')]),
        ),
      ).toHaveLength(0);
      await live.roundTrip(randomBytes(100_000), greeting);

      live.socket.end();
      await live.closed;
      expect(live.received.toString('latin1')).toBe(`raw-a:${live.sent().toString('latin1')}`);
      // And the sidecar path still works across all of it.
      const result = await echoTransfer(upstream, 1024 * 1024);
      expect(result.receivedSha256).toBe(result.sentSha256);
    });

    it(`drains on stop: stops accepting at once, lets a live connection finish, then stops ${engine.name}`, async () => {
      const gateway = engine.make({
        config: rawOnly(),
        listen: LOOPBACK,
      });
      const address = await gateway.start();
      const live = await openConnection(address, sniFor('raw'));
      await live.roundTrip(randomBytes(10_000), 6);

      let stopped = false;
      const stopping = gateway.stop(120_000).then(() => {
        stopped = true;
      });
      while (!(await refusedNow(address))) await new Promise((resolve) => setTimeout(resolve, 20));
      await live.roundTrip(randomBytes(10_000), 6);
      expect(stopped).toBe(false);
      live.socket.end();
      await live.closed;
      await stopping;
      expect(live.received.toString('latin1')).toBe(`raw-a:${live.sent().toString('latin1')}`);
    });

    it('cuts what is still live when the drain time is up', async () => {
      const gateway = engine.make({
        config: rawOnly(),
        listen: LOOPBACK,
      });
      const address = await gateway.start();
      const live = await openConnection(address, sniFor('raw'));
      await live.roundTrip(randomBytes(1000), 6);
      const ended = Promise.race([once(live.socket, 'end'), live.closed]);
      await gateway.stop(100);
      await ended;
      expect(await refusedNow(address)).toBe(true);
    });

    it(`starts ${engine.name} again, on the current routes, when it dies`, async () => {
      const source = rawOnly();
      const gateway = engine.make({ config: source, listen: LOOPBACK });
      const address = await gateway.start();
      try {
        const worker = gateway.workerPid;
        // Routes change while it is down too.
        engine.kill(gateway);
        source.update((c) => ({ ...c, localServices: new Map([['raw', [rawB.address]]]) }));
        while (gateway.workerPid === worker || gateway.workerPid === 0) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const answer = await sendAll(
          address,
          Buffer.concat([await captureClientHello(sniFor('raw')), Buffer.from('x')]),
        );
        expect(answer.subarray(0, 6).toString()).toBe('raw-b:');
      } finally {
        await gateway.stop(0);
      }
    });

    it(`fails at start with how to install ${engine.name} when it is missing`, async () => {
      const gateway = engine.make({
        config: new StaticConfigSource<GatewayConfig>(baseGatewayConfig(exporter)),
        listen: LOOPBACK,
        binary: `/nonexistent/${engine.name}`,
      });
      await expect(gateway.start()).rejects.toThrow(engine.installHint);
    });
  });
}
