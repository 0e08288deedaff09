// For the tests of `meshpeer proxy --engine <engine>` as processes (from dist/): two real servers peered
// (dc1 exports backend to cluster-02), echo apps, the engine's sidecars for backend (registered, draining
// for 30 s), web (a local upstream of backend) and frontend (in dc2, a peered upstream of backend), and a
// mesh gateway per server; plus the server API call, the connect-proxy check, the drain's refusal check
// and a one-shot `meshpeer proxy` run for the command's refusals.
import { execFile } from 'node:child_process';
import { expect } from 'vitest';
import { type EchoServer, startEchoServer } from '../../src/dataplane/testing/traffic.js';
import {
  type DataplaneProcess,
  freePort,
  logRecords,
  startDataplaneProcess,
} from '../security/dataplane-processes.js';
import { api, CLI, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';
import { tlsAttempt } from './helpers.js';

export type Stop = () => Promise<unknown>;

export interface SidecarTopology {
  c1: ServerProcess;
  c2: ServerProcess;
  /** The echo apps behind backend, web and frontend. */
  apps: Record<'backend' | 'web' | 'frontend', EchoServer>;
  /** backend's sidecar: registered as its connect-proxy, with a 30 s drain. */
  backendProc: DataplaneProcess;
  /** Where web's sidecar listens for its local upstream of backend. */
  webPort: number;
  /** Where frontend's sidecar (dc2) listens for its peered upstream of backend. */
  frontendPort: number;
}

/** Calls the server API at `url`, expecting 200; the body. */
export async function call(url: string, method: string, path: string, json?: unknown): Promise<unknown> {
  const res = await api(`${url}${path}`, { method, ...(json === undefined ? {} : { json }) });
  expect(res.status, `${method} ${path}: ${res.text}`).toBe(200);
  return res.body;
}

/**
 * Starts the topology with `engine`'s sidecars; `gatewayArgs[i]` goes before the arguments of the gateway
 * of server i. Each stop is pushed onto `stops` as soon as its process runs (stop them in reverse).
 */
export async function startSidecarTopology(
  engine: string,
  stops: Stop[],
  gatewayArgs: [string[], string[]] = [[], []],
): Promise<SidecarTopology> {
  const started = <T extends { stop(): Promise<unknown> }>(p: T): T => {
    stops.push(() => p.stop());
    return p;
  };
  const proxy = (server: ServerProcess, args: string[]) =>
    startDataplaneProcess('proxy', ['--engine', engine, '--server', server.url, ...args]).then(started);

  const [c1, c2] = (await Promise.all(
    ['dc1', 'dc2'].map((datacenter) => startServerProcess({ datacenter }).then(started)),
  )) as [ServerProcess, ServerProcess];
  const apps = {} as SidecarTopology['apps'];
  for (const name of ['backend', 'web', 'frontend'] as const) {
    const app = await startEchoServer();
    stops.push(() => app.close());
    apps[name] = app;
  }
  await call(c1.url, 'PUT', '/v1/agent/service/register', {
    Name: 'backend',
    Address: '127.0.0.1',
    Port: apps.backend.address.port,
  });
  await call(c1.url, 'PUT', '/v1/config', {
    Kind: 'exported-services',
    Name: 'default',
    Services: [{ Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] }],
  });
  const { PeeringToken } = (await call(c1.url, 'POST', '/v1/peering/token', {
    PeerName: 'cluster-02',
  })) as { PeeringToken: string };
  await call(c2.url, 'POST', '/v1/peering/establish', { PeerName: 'cluster-01', PeeringToken });

  const webPort = await freePort();
  const frontendPort = await freePort();
  const [backendProc] = await Promise.all([
    proxy(c1, [
      '--service',
      'backend',
      '--listen',
      '127.0.0.1:0',
      '--app-port',
      String(apps.backend.address.port),
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
      String(apps.web.address.port),
      '--upstream',
      `backend:${webPort}`,
    ]),
    proxy(c2, [
      '--service',
      'frontend',
      '--listen',
      '127.0.0.1:0',
      '--app-port',
      String(apps.frontend.address.port),
      '--upstream',
      `backend:peer=cluster-01:${frontendPort}`,
    ]),
    ...[c1, c2].map((server, i) =>
      startDataplaneProcess('gateway', [
        ...gatewayArgs[i],
        '--server',
        server.url,
        '--listen',
        '127.0.0.1:0',
        '--register',
      ]).then(started),
    ),
  ]);
  return { c1, c2, apps, backendProc, webPort, frontendPort };
}

/** The connect-proxies `server` lists for `service`: [Kind, DestinationServiceName, Port] each. */
export async function connectProxiesOf(
  server: ServerProcess,
  service: string,
): Promise<[string, string, number][]> {
  const proxies = (await call(server.url, 'GET', `/v1/health/connect/${service}`)) as {
    Service: { Kind: string; Port: number; Proxy: { DestinationServiceName: string } };
  }[];
  return proxies.map((p) => [p.Service.Kind, p.Service.Proxy.DestinationServiceName, p.Service.Port]);
}

/** Whether a new connection to `proc`'s listener is refused outright (nothing comes back, ECONNREFUSED). */
export async function refusesNewConnections(proc: DataplaneProcess): Promise<boolean> {
  const attempt = await tlsAttempt(proc.address, {
    servername: 'backend',
    ca: [],
    payload: 'new',
  });
  return attempt.data === '' && /ECONNREFUSED/.test(attempt.error ?? '');
}

/** Runs `meshpeer proxy <args>` to its end, with `env` over this process's environment. */
export function runProxyCommand(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ failed: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'proxy', ...args],
      { env: { ...process.env, ...env } },
      (err, stdout, stderr) => resolve({ failed: err !== null, stdout, stderr }),
    );
  });
}

/** Writes `destination`'s service-intentions on `server`: `source` is denied. */
export async function denyIntention(
  server: ServerProcess,
  source: string,
  destination: string,
): Promise<void> {
  await call(server.url, 'PUT', '/v1/config', {
    Kind: 'service-intentions',
    Name: destination,
    Sources: [{ Name: source, Action: 'deny' }],
  });
}

/** Resolves with `proc`'s exit code once it exits. */
export function exitCodeOf(proc: DataplaneProcess): Promise<number | null> {
  return new Promise((resolve) => proc.child.once('exit', (code) => resolve(code)));
}

/**
 * Sends `proc` (a sidecar on `engine` carrying `live`) SIGTERM and checks the drain: it says so, `live`
 * keeps flowing, the engine closes its listener (new connections are refused) and `live` still flows.
 * Resolves with the promise of its exit code (in an object: a promise returned bare would be waited for).
 */
export async function startDrain(
  proc: DataplaneProcess,
  engine: 'haproxy' | 'nginx',
  live: { say(text: string): Promise<string> },
): Promise<{ exited: Promise<number | null> }> {
  const exited = exitCodeOf(proc);
  proc.child.kill('SIGTERM');
  const draining = new RegExp(`^sidecar \\(${engine}\\) draining$`);
  await eventually(async () => logRecords(proc, draining).length === 1, 10_000);
  expect(await live.say('during the drain')).toBe('during the drain');
  // The engine closes its listener once the signal reaches it: from then on, nothing connects.
  await eventually(() => refusesNewConnections(proc), 10_000);
  expect(await live.say('still draining')).toBe('still draining');
  return { exited };
}
