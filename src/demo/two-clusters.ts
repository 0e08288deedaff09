// The embedded default: two meshpeer clusters on loopback, peered, with `backend` in cluster-01
// exported to cluster-02. Used by `meshpeer demo`; everything it does goes through the public HTTP API,
// as a user would.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningServer, startServer } from '../server/server.js';

export interface DemoCluster {
  name: string;
  server: RunningServer;
  url: string;
  dataDir: string;
}

export interface Demo {
  clusters: [DemoCluster, DemoCluster];
  /** The `backend` application (plain HTTP on loopback) registered in cluster-01. */
  backendApp: { host: string; port: number };
  stop(): Promise<void>;
}

export interface DemoOptions {
  logLevel: string;
  say: (line: string) => void;
}

export async function startDemo(opts: DemoOptions): Promise<Demo> {
  const started: DemoCluster[] = [];
  let app: Server | undefined;
  const stop = async (): Promise<void> => {
    if (app) await new Promise((r) => app?.close(r));
    for (const c of started.reverse()) {
      await c.server.stop();
      rmSync(c.dataDir, { recursive: true, force: true });
    }
  };
  try {
    for (const name of ['cluster-01', 'cluster-02']) {
      const dataDir = mkdtempSync(join(tmpdir(), `meshpeer-demo-${name}-`));
      const server = await startServer({
        httpAddr: '127.0.0.1:0',
        grpcAddr: '127.0.0.1:0',
        dataDir,
        datacenter: name,
        nodeName: `${name}-server`,
        logLevel: opts.logLevel,
        peering: { heartbeatMs: 2_000, timeoutMs: 10_000, redialMaxMs: 2_000 },
      });
      started.push({ name, server, url: `http://${server.httpAddress}`, dataDir });
      opts.say(
        `started ${name}: HTTP http://${server.httpAddress}, gRPC ${server.grpcAddress}, data ${dataDir}`,
      );
    }
    const [c1, c2] = started as [DemoCluster, DemoCluster];

    app = createServer((req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(`hello from backend in cluster-01 (you asked for ${req.url})\n`);
    });
    await new Promise<void>((r) => app?.listen(0, '127.0.0.1', r));
    const backendApp = { host: '127.0.0.1', port: (app.address() as AddressInfo).port };
    await call(c1.url, 'PUT', '/v1/agent/service/register', {
      Name: 'backend',
      ID: 'backend-1',
      Port: backendApp.port,
      Address: backendApp.host,
      Tags: ['v1'],
      Check: { Name: 'backend alive', Status: 'passing' },
    });
    opts.say(
      `cluster-01: started the backend app and registered it (backend-1, ${backendApp.host}:${backendApp.port})`,
    );
    await call(c1.url, 'PUT', '/v1/config', {
      Kind: 'exported-services',
      Name: 'default',
      Services: [{ Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] }],
    });
    opts.say('cluster-01: exported backend to peer cluster-02 (exported-services/default)');

    const { PeeringToken } = (await call(c1.url, 'POST', '/v1/peering/token', {
      PeerName: 'cluster-02',
    })) as {
      PeeringToken: string;
    };
    opts.say(`cluster-01: generated a peering token for cluster-02 (${PeeringToken.length} characters)`);
    const t0 = Date.now();
    await call(c2.url, 'POST', '/v1/peering/establish', { PeerName: 'cluster-01', PeeringToken });
    opts.say('cluster-02: established the peering cluster-01 with the token');
    await waitFor(async () => {
      const p = (await call(c2.url, 'GET', '/v1/peering/cluster-01')) as { State: string };
      return p.State === 'ACTIVE';
    }, 15_000);
    opts.say(`peering ACTIVE after ${Date.now() - t0} ms`);
    return { clusters: [c1, c2], backendApp, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export async function call(base: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${base}${path}`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} failed (${res.status}): ${text}`);
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms`);
}
