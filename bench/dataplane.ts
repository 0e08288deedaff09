// Data-plane benchmark: app → sidecar → mesh gateway → mesh gateway → sidecar → echo (local mode, the
// longest path), against the same echo over direct loopback TCP, in one run. Each sidecar and gateway
// runs in its own process, as in production; the client and the echo app share this one. Prints
// throughput, request latency and connection setup (each with its ratio to direct TCP), and the
// memory a gateway holds per 1,000 concurrent connections.
//   npm run build && node dist/bench/dataplane.js
import { fork } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import type { Endpoint } from '../src/dataplane/endpoint.js';
import { peeredServiceSni } from '../src/dataplane/sni.js';
import { type EchoServer, startEchoServer } from '../src/dataplane/testing/traffic.js';
import {
  baseGatewayConfig,
  baseProxyConfig,
  exportsTo,
  leafFor,
  type TestCluster,
  testCluster,
} from '../src/dataplane/testing/two-clusters.js';
import type { ChildReply, ChildRequest } from './dataplane-child.js';
import { percentile } from './support/measure.js';

const MB = 1024 * 1024;

export interface DataplaneBenchResult {
  throughputMBps: { direct: number; mesh: number; ratio: number };
  requestLatencyMs: { direct: Percentiles; mesh: Percentiles; p50Ratio: number; p99Ratio: number };
  connectionSetupMs: { direct: Percentiles; mesh: Percentiles; p50Ratio: number };
  gatewayRssMBPer1000Connections: number;
  /** CPU milliseconds each process spent per MB echoed through the mesh. */
  cpuMsPerMB: Record<string, number>;
}

export interface Percentiles {
  p50: number;
  p99: number;
}

export async function main(options: { transferMB?: number; requests?: number; connections?: number } = {}) {
  const transferMB = options.transferMB ?? 512;
  const requests = options.requests ?? 2000;
  const connections = options.connections ?? 300;
  const mesh = await startMesh();
  try {
    const direct = mesh.echo.address;
    const path = mesh.upstream;
    await throughputMBps(path, 16); // warm up JIT and TLS state in every process

    const directMBps = await throughputMBps(direct, transferMB);
    const cpuBefore = await cpuByComponent(mesh);
    const meshMBps = await throughputMBps(path, transferMB);
    const cpuAfter = await cpuByComponent(mesh);
    const throughput = { direct: directMBps, mesh: meshMBps };
    const cpuMsPerMB = Object.fromEntries(
      Object.entries(cpuAfter).map(([name, ms]) => [name, (ms - (cpuBefore[name] ?? 0)) / transferMB]),
    );
    const latency = {
      direct: await requestLatency(direct, requests),
      mesh: await requestLatency(path, requests),
    };
    const setup = {
      direct: await connectionSetup(direct, connections),
      mesh: await connectionSetup(path, connections),
    };
    const rss = await gatewayRssPer1000(mesh);

    const result: DataplaneBenchResult = {
      throughputMBps: { ...throughput, ratio: throughput.mesh / throughput.direct },
      requestLatencyMs: {
        ...latency,
        p50Ratio: latency.mesh.p50 / latency.direct.p50,
        p99Ratio: latency.mesh.p99 / latency.direct.p99,
      },
      connectionSetupMs: { ...setup, p50Ratio: setup.mesh.p50 / setup.direct.p50 },
      gatewayRssMBPer1000Connections: rss,
      cpuMsPerMB,
    };
    print(result, { transferMB, requests, connections });
    return result;
  } finally {
    await mesh.close();
  }
}

export interface Child {
  readonly pid: number;
  ask<T extends ChildReply['type']>(
    request: ChildRequest,
    type: T,
  ): Promise<Extract<ChildReply, { type: T }>>;
  stop(): Promise<void>;
}

function startChild(): Child {
  const child = fork(fileURLToPath(new URL('./dataplane-child.js', import.meta.url)), {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return {
    pid: child.pid ?? 0,
    async ask(request, type) {
      const reply = once(child, 'message') as Promise<[ChildReply]>;
      child.send(request);
      const [message] = await reply;
      if (message.type !== type) throw new Error(`child answered ${message.type}, not ${type}`);
      return message as Extract<ChildReply, { type: typeof type }>;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.send({ type: 'stop' } satisfies ChildRequest);
      await exited;
    },
  };
}

export interface BenchMesh {
  /** In path order: frontend sidecar, importer gateway, exporter gateway, backend sidecar. */
  components: { name: string; child: Child }[];
  exporter: TestCluster;
  importer: TestCluster;
  echo: EchoServer;
  upstream: Endpoint;
  exporterGateway: { child: Child; address: Endpoint };
  backendSni: string;
  close(): Promise<void>;
}

/** The two-cluster topology of the tests, with each component in a child process. */
export async function startMesh(): Promise<BenchMesh> {
  const exporter = await testCluster('cluster-01', 'cluster-01', 'dc1');
  const importer = await testCluster('cluster-02', 'cluster-02', 'dc2');
  const echo = await startEchoServer();
  const children: Child[] = [];
  const spawn = async (request: ChildRequest) => {
    const child = startChild();
    children.push(child);
    return { child, ...(await child.ask(request, 'started')) };
  };
  const close = async (): Promise<void> => {
    await Promise.all(children.map((c) => c.stop()));
    await echo.close();
  };
  try {
    const backend = await spawn({
      type: 'sidecar',
      config: {
        ...baseProxyConfig(exporter, 'backend', await leafFor(exporter, 'backend')),
        peerBundles: [importer.bundle],
        inboundPeerBundles: [importer.bundle],
      },
      app: echo.address,
      upstreams: [],
    });
    const gatewayA = await spawn({
      type: 'gateway',
      config: {
        ...baseGatewayConfig(exporter),
        exportedServices: exportsTo('backend', importer.peerName),
        localServices: [['backend', [backend.inbound as Endpoint]]],
      },
    });
    const exporterGateway = gatewayA.inbound as Endpoint;
    const gatewayB = await spawn({
      type: 'gateway',
      config: {
        ...baseGatewayConfig(importer),
        peers: [
          {
            name: exporter.peerName,
            trustDomain: exporter.root.trustDomain,
            gateways: [exporterGateway],
            servers: [],
          },
        ],
        localServices: [],
      },
    });
    const backendSni = peeredServiceSni({
      service: 'backend',
      peer: importer.peerName,
      trustDomain: exporter.root.trustDomain,
    });
    const upstreams = [{ name: 'backend', peer: exporter.peerName, bind: { host: '127.0.0.1', port: 0 } }];
    const frontend = await spawn({
      type: 'sidecar',
      config: {
        ...baseProxyConfig(importer, 'frontend', await leafFor(importer, 'frontend')),
        peerBundles: [exporter.bundle],
        upstreams: [
          { name: 'backend', peer: exporter.peerName, instances: [exporterGateway], sni: backendSni },
        ],
        localGateways: [gatewayB.inbound as Endpoint],
        meshGatewayMode: 'local',
      },
      upstreams,
    });
    return {
      components: [
        { name: 'frontend sidecar', child: frontend.child },
        { name: 'importer gateway', child: gatewayB.child },
        { name: 'exporter gateway', child: gatewayA.child },
        { name: 'backend sidecar', child: backend.child },
      ],
      exporter,
      importer,
      echo,
      upstream: frontend.upstreams[0] as Endpoint,
      exporterGateway: { child: gatewayA.child, address: exporterGateway },
      backendSni,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * One-way MB/s of an echo transfer (each byte crosses the path twice, once each way). The same buffer
 * is written over and over and only counted on return, so the client costs as little as it can: every
 * hop runs in this one process, and a client that hashed would be measured instead of the path.
 */
export async function throughputMBps(endpoint: Endpoint, megabytes: number): Promise<number> {
  const total = megabytes * MB;
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  const socket = net.connect({ ...endpoint, noDelay: true, allowHalfOpen: true });
  await once(socket, 'connect');
  const started = process.hrtime.bigint();
  let received = 0;
  socket.on('data', (data: Buffer) => {
    received += data.length;
  });
  const ended = once(socket, 'end');
  // A reset while writing rejects both this and the write loop's wait: it is reported once, there.
  ended.catch(() => {});
  for (let sent = 0; sent < total; sent += chunk.length) {
    if (!socket.write(chunk)) await once(socket, 'drain');
  }
  socket.end();
  await ended;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  socket.destroy();
  if (received !== total) throw new Error(`sent ${total} bytes, ${received} came back`);
  return megabytes / seconds;
}

/** Round trips of a 64-byte request on one kept-open connection. */
export async function requestLatency(endpoint: Endpoint, count: number): Promise<Percentiles> {
  const probe = await openRequestProbe(endpoint);
  const samples: number[] = [];
  try {
    for (let i = 0; i < count; i++) samples.push(await probe.roundTrip());
  } finally {
    probe.close();
  }
  return percentiles(samples);
}

/** One kept-open connection sending 64-byte requests one at a time (after 100 unmeasured ones). */
export interface RequestProbe {
  /** One request's round trip, in ms. */
  roundTrip(): Promise<number>;
  close(): void;
}

export async function openRequestProbe(endpoint: Endpoint): Promise<RequestProbe> {
  const socket = net.connect({ ...endpoint, noDelay: true });
  await once(socket, 'connect');
  const request = Buffer.alloc(64, 7);
  let pending = 0;
  let wake: () => void = () => {};
  socket.on('data', (chunk: Buffer) => {
    pending -= chunk.length;
    if (pending <= 0) wake();
  });
  const roundTrip = async (): Promise<number> => {
    const started = process.hrtime.bigint();
    pending = request.length;
    await new Promise<void>((resolve) => {
      wake = resolve;
      socket.write(request);
    });
    return Number(process.hrtime.bigint() - started) / 1e6;
  };
  for (let i = 0; i < 100; i++) await roundTrip();
  return { roundTrip, close: () => socket.destroy() };
}

/** From connect() to the first echoed byte on a new connection: TCP, and for the mesh, two TLS handshakes. */
export async function connectionSetup(endpoint: Endpoint, count: number): Promise<Percentiles> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) samples.push(await newConnectionMs(endpoint));
  return percentiles(samples);
}

/** One new connection's time to its first echoed byte, in ms. */
export async function newConnectionMs(endpoint: Endpoint): Promise<number> {
  const started = process.hrtime.bigint();
  const socket = net.connect({ ...endpoint, noDelay: true });
  socket.write('x');
  await once(socket, 'data');
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  socket.destroy();
  return ms;
}

/** RSS growth of the exporting gateway's process while it carries 1,000 more open mTLS connections. */
async function gatewayRssPer1000(mesh: BenchMesh): Promise<number> {
  const { child, address } = mesh.exporterGateway;
  const leaf = await leafFor(mesh.importer, 'frontend');
  const sockets: tls.TLSSocket[] = [];
  const open = (): Promise<tls.TLSSocket> =>
    new Promise((resolve, reject) => {
      const socket = tls.connect({
        ...address,
        servername: mesh.backendSni,
        ca: [mesh.exporter.root.certPem],
        cert: leaf.certPem,
        key: leaf.keyPem,
        checkServerIdentity: () => undefined,
      });
      sockets.push(socket);
      socket.once('secureConnect', () => {
        socket.write('x');
        socket.once('data', () => resolve(socket));
      });
      socket.once('error', reject);
    });
  try {
    for (let i = 0; i < 50; i++) await open(); // warm up
    const before = await child.ask({ type: 'memory' }, 'memory');
    for (let batch = 0; batch < 10; batch++) await Promise.all(Array.from({ length: 100 }, open));
    const after = await child.ask({ type: 'memory' }, 'memory');
    if (after.live - before.live !== 1000) {
      throw new Error(`expected 1000 more live connections, saw ${after.live - before.live}`);
    }
    return (after.rss - before.rss) / MB;
  } finally {
    for (const socket of sockets) socket.destroy();
  }
}

/** CPU time so far of each component's process, and of this one (the client and the echo app). */
async function cpuByComponent(mesh: BenchMesh): Promise<Record<string, number>> {
  const cpu: Record<string, number> = {};
  for (const { name, child } of mesh.components)
    cpu[name] = (await child.ask({ type: 'memory' }, 'memory')).cpuMs;
  const own = process.cpuUsage();
  cpu['client + echo app'] = (own.user + own.system) / 1000;
  return cpu;
}

function percentiles(samples: number[]): Percentiles {
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) };
}

function print(
  r: DataplaneBenchResult,
  setup: { transferMB: number; requests: number; connections: number },
): void {
  const f = (n: number, digits = 3): string => n.toFixed(digits);
  const lines = [
    'data plane: app → sidecar → gateway → gateway → sidecar → echo (local mode; one process each), vs direct loopback TCP',
    `throughput (${setup.transferMB} MB echoed)   direct ${f(r.throughputMBps.direct, 0)} MB/s   mesh ${f(r.throughputMBps.mesh, 0)} MB/s   mesh/direct ${f(r.throughputMBps.ratio, 2)}`,
    `request latency (64 B, n=${setup.requests})  direct p50 ${f(r.requestLatencyMs.direct.p50)} ms p99 ${f(r.requestLatencyMs.direct.p99)} ms   mesh p50 ${f(r.requestLatencyMs.mesh.p50)} ms p99 ${f(r.requestLatencyMs.mesh.p99)} ms   ratio p50 ${f(r.requestLatencyMs.p50Ratio, 1)}× p99 ${f(r.requestLatencyMs.p99Ratio, 1)}×`,
    `connection setup (n=${setup.connections})      direct p50 ${f(r.connectionSetupMs.direct.p50)} ms p99 ${f(r.connectionSetupMs.direct.p99)} ms   mesh p50 ${f(r.connectionSetupMs.mesh.p50)} ms p99 ${f(r.connectionSetupMs.mesh.p99)} ms   ratio p50 ${f(r.connectionSetupMs.p50Ratio, 1)}×`,
    `gateway RSS per 1,000 concurrent connections: ${f(r.gatewayRssMBPer1000Connections, 1)} MB`,
    `CPU per MB echoed through the mesh: ${Object.entries(r.cpuMsPerMB)
      .map(([name, ms]) => `${name} ${f(ms, 2)} ms`)
      .join(', ')}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
