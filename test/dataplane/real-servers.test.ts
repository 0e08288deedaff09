import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningComponent } from '../../src/dataplane/component-process.js';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import type { SidecarAddresses } from '../../src/dataplane/proxy/index.js';
import { runGateway } from '../../src/dataplane/run-gateway.js';
import { runProxy } from '../../src/dataplane/run-proxy.js';
import { type EchoServer, echoOnce, startEchoServer } from '../../src/dataplane/testing/traffic.js';
import { silentLogger } from '../../src/shared/logger.js';
import { freePort } from '../../src/shared/testing/free-port.js';
import { eventually } from './fake-consul.js';

// The data plane against two real `meshpeer server` processes (from dist/, built by `npm test`),
// peered through the HTTP API: the config sources read exactly what the server serves, and the
// exporter's replicated addresses and SNI names route real traffic through real gateways.

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const mainJs = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');

interface ServerProcess {
  url: string;
  child: ChildProcess;
}

async function startServerProcess(datacenter: string): Promise<ServerProcess> {
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    [
      mainJs,
      'server',
      '--dev',
      '--http-addr',
      `127.0.0.1:${httpPort}`,
      '--grpc-addr',
      `127.0.0.1:${grpcPort}`,
    ].concat(['--datacenter', datacenter, '--node-name', `node-${datacenter}`]),
    { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, MESHPEER_LOG_LEVEL: 'warn' } },
  );
  const url = `http://127.0.0.1:${httpPort}`;
  await eventually(async () => expect((await fetch(`${url}/v1/connect/ca/roots`)).ok).toBe(true), 15_000);
  return { url, child };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function call(base: string, method: string, route: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${base}${route}`, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${route}: HTTP ${res.status}: ${text}`);
  return text ? JSON.parse(text) : undefined;
}

const LOOPBACK: Endpoint = { host: '127.0.0.1', port: 0 };
const logger = silentLogger();
const stops: (() => Promise<unknown> | unknown)[] = [];
let exporter: ServerProcess;
let importer: ServerProcess;
let echo: EchoServer;
let frontend: RunningComponent<SidecarAddresses>;

beforeAll(async () => {
  if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: run \`npm run build\` first`);
  exporter = await startServerProcess('dc1');
  stops.push(() => stopProcess(exporter.child));
  importer = await startServerProcess('dc2');
  stops.push(() => stopProcess(importer.child));
  echo = await startEchoServer();
  stops.push(() => echo.close());

  await call(exporter.url, 'PUT', '/v1/agent/service/register', {
    Name: 'backend',
    Address: '127.0.0.1',
    Port: echo.address.port,
  });
  const common = { drainMs: 0, logger, configTimeoutMs: 15_000 };
  const backend = await runProxy({
    ...common,
    server: exporter.url,
    service: 'backend',
    listen: LOOPBACK,
    app: echo.address,
    upstreams: [],
    meshGatewayService: 'mesh-gateway',
    defaultIntentionAction: 'allow',
    register: {},
  });
  stops.push(() => backend.stop());
  // No datacenter given: each gateway asks its server (/v1/agent/self).
  for (const server of [exporter, importer]) {
    const gateway = await runGateway({
      ...common,
      server: server.url,
      listen: LOOPBACK,
      serviceName: 'mesh-gateway',
      register: {},
      localServers: [],
    });
    stops.push(() => gateway.stop());
  }

  await call(exporter.url, 'PUT', '/v1/config', {
    Kind: 'exported-services',
    Name: 'default',
    Services: [{ Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] }],
  });
  const { PeeringToken } = (await call(exporter.url, 'POST', '/v1/peering/token', {
    PeerName: 'cluster-02',
  })) as {
    PeeringToken: string;
  };
  await call(importer.url, 'POST', '/v1/peering/establish', { PeerName: 'cluster-01', PeeringToken });
  await eventually(async () => {
    const imported = (await call(
      importer.url,
      'GET',
      '/v1/health/connect/backend?peer=cluster-01',
    )) as unknown[];
    expect(imported.length).toBeGreaterThan(0);
  }, 20_000);

  frontend = await runProxy({
    ...common,
    server: importer.url,
    service: 'frontend',
    listen: LOOPBACK,
    upstreams: [{ name: 'backend', peer: 'cluster-01', bind: LOOPBACK }],
    meshGatewayService: 'mesh-gateway',
    defaultIntentionAction: 'allow',
  });
  stops.push(() => frontend.stop());
}, 90_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
});

const upstream = (): Endpoint => frontend.started.upstreams[0]?.address as Endpoint;

describe('the data plane with two real meshpeer servers', () => {
  it('carries traffic from cluster-02 to the service cluster-01 exports, in remote mode', async () => {
    await eventually(
      async () => expect((await echoOnce(upstream(), 'remote')).toString()).toBe('remote'),
      15_000,
    );
  });

  it('switches to local mode when proxy-defaults says so', async () => {
    await call(importer.url, 'PUT', '/v1/config', {
      Kind: 'proxy-defaults',
      Name: 'global',
      MeshGateway: { Mode: 'local' },
    });
    await eventually(
      async () => expect((await echoOnce(upstream(), 'local')).toString()).toBe('local'),
      15_000,
    );
  });

  it('stops the traffic when the export is withdrawn', async () => {
    await call(exporter.url, 'PUT', '/v1/config', {
      Kind: 'exported-services',
      Name: 'default',
      Services: [],
    });
    await eventually(async () => expect((await echoOnce(upstream(), 'x')).length).toBe(0), 15_000);
  });
});
