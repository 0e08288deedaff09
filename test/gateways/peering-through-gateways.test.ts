import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/shared/testing/free-port.js';
import { api, CLI, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

// Issue 5: with Mesh.Peering.PeerThroughMeshGateways the peering stream rides the mesh gateways. Real
// servers and real `meshpeer gateway` processes; the proof that the stream needs the gateway is that
// the acceptor's server comes back on a gRPC port the dialer was never told, and the peering recovers.

const FAST = [
  '--peering-heartbeat-interval',
  '200ms',
  '--peering-heartbeat-timeout',
  '1500ms',
  '--peering-redial-max',
  '500ms',
];
const children = new Set<ChildProcess>();
const servers = new Set<ServerProcess>();
const dirs: string[] = [];

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const s of servers) await s.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function startGateway(
  server: ServerProcess,
  datacenter: string,
  port: number,
  serverGrpc: string,
): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'gateway',
      '--server',
      server.url,
      '--listen',
      `127.0.0.1:${port}`,
      '--register',
      '--datacenter',
      datacenter,
      '--server-grpc',
      serverGrpc,
      '--drain-seconds',
      '0',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MESHPEER_LOG_LEVEL: 'warn' } },
  );
  children.add(child);
  await eventually(async () => {
    const gws = await api<Array<{ Service: { Kind: string; Port: number } }>>(
      `${server.url}/v1/health/service/mesh-gateway`,
    );
    return gws.body.some((g) => g.Service.Port === port);
  }, 15_000);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  children.delete(child);
}

/** A passing backend on the acceptor, exported to cluster-02. */
async function exportBackend(acceptor: ServerProcess): Promise<void> {
  await api(`${acceptor.url}/v1/agent/service/register`, {
    json: { Name: 'backend', Port: 9090, Check: { Name: 'up', Status: 'passing' } },
  });
  await api(`${acceptor.url}/v1/config`, {
    json: {
      Kind: 'exported-services',
      Name: 'default',
      Services: [{ Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] }],
    },
  });
}

interface Peering {
  State: string;
  PeerServerAddresses: string[];
  StreamStatus: { ImportedServices: string[] };
}

describe('the peering stream through mesh gateways', () => {
  it('puts the gateway in the token, stays ACTIVE through it, and survives the server moving to a port only the gateway knows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshpeer-ptmg-'));
    dirs.push(dir);
    const grpcPort1 = await freePort();
    let acceptor = await startServerProcess({
      datacenter: 'cluster-01',
      dataDir: dir,
      grpcAddr: `127.0.0.1:${grpcPort1}`,
      extraArgs: FAST,
    });
    servers.add(acceptor);
    const dialer = await startServerProcess({ datacenter: 'cluster-02', extraArgs: FAST });
    servers.add(dialer);

    const gwPort = await freePort();
    let gateway = await startGateway(acceptor, 'cluster-01', gwPort, `127.0.0.1:${grpcPort1}`);
    await api(`${acceptor.url}/v1/config`, {
      json: { Kind: 'mesh', Name: 'mesh', Peering: { PeerThroughMeshGateways: true } },
    });

    await exportBackend(acceptor);
    const token = await api<{ PeeringToken: string }>(`${acceptor.url}/v1/peering/token`, {
      method: 'POST',
      json: { PeerName: 'cluster-02' },
    });
    const decoded = JSON.parse(Buffer.from(token.body.PeeringToken, 'base64').toString()) as {
      ServerAddresses: string[];
    };
    expect(decoded.ServerAddresses).toEqual([`127.0.0.1:${gwPort}`]);

    const est = await api(`${dialer.url}/v1/peering/establish`, {
      method: 'POST',
      json: { PeerName: 'cluster-01', PeeringToken: token.body.PeeringToken },
    });
    expect(est.status, est.text).toBe(200);
    const active = await eventually(async () => {
      const p = await api<Peering>(`${dialer.url}/v1/peering/cluster-01`);
      return p.body.State === 'ACTIVE' && p.body.StreamStatus.ImportedServices.includes('backend')
        ? p.body
        : false;
    }, 15_000);
    // The dialer only ever learns the gateway's address, never the server's gRPC port.
    expect(active.PeerServerAddresses).toEqual([`127.0.0.1:${gwPort}`]);

    // The acceptor comes back on another gRPC port; only the gateway is told.
    await acceptor.stop();
    servers.delete(acceptor);
    await stopChild(gateway);
    await eventually(
      async () => (await api<Peering>(`${dialer.url}/v1/peering/cluster-01`)).body.State === 'FAILING',
      15_000,
    );
    const grpcPort2 = await freePort();
    acceptor = await startServerProcess({
      datacenter: 'cluster-01',
      dataDir: dir,
      grpcAddr: `127.0.0.1:${grpcPort2}`,
      extraArgs: FAST,
    });
    servers.add(acceptor);
    gateway = await startGateway(acceptor, 'cluster-01', gwPort, `127.0.0.1:${grpcPort2}`);
    const back = await eventually(async () => {
      const p = await api<Peering>(`${dialer.url}/v1/peering/cluster-01`);
      return p.body.State === 'ACTIVE' ? p.body : false;
    }, 20_000);
    expect(back.PeerServerAddresses).toEqual([`127.0.0.1:${gwPort}`]);
    expect(back.PeerServerAddresses).not.toContain(`127.0.0.1:${grpcPort2}`);
    await stopChild(gateway);
  });

  it("dials out through the dialing cluster's own gateway (egress-restricted clusters), and needs it", async () => {
    const acceptor = await startServerProcess({ datacenter: 'cluster-01', extraArgs: FAST });
    servers.add(acceptor);
    const dialer = await startServerProcess({ datacenter: 'cluster-02', extraArgs: FAST });
    servers.add(dialer);
    await api(`${dialer.url}/v1/config`, {
      json: { Kind: 'mesh', Name: 'mesh', Peering: { PeerThroughMeshGateways: true } },
    });
    await exportBackend(acceptor);
    const token = async (): Promise<string> =>
      (
        await api<{ PeeringToken: string }>(`${acceptor.url}/v1/peering/token`, {
          method: 'POST',
          json: { PeerName: 'cluster-02' },
        })
      ).body.PeeringToken;

    // Without a gateway of its own, the dialing cluster says what is missing and records nothing.
    const refused = await api(`${dialer.url}/v1/peering/establish`, {
      method: 'POST',
      json: { PeerName: 'cluster-01', PeeringToken: await token() },
    });
    expect(refused.status).toBe(400);
    expect(refused.text).toMatch(/own mesh gateways, but none is registered/);
    expect((await api(`${dialer.url}/v1/peering/cluster-01`)).status).toBe(404);

    const gwPort = await freePort();
    let gateway = await startGateway(dialer, 'cluster-02', gwPort, dialer.grpcAddress);
    const est = await api(`${dialer.url}/v1/peering/establish`, {
      method: 'POST',
      json: { PeerName: 'cluster-01', PeeringToken: await token() },
    });
    expect(est.status, est.text).toBe(200);
    await eventually(async () => {
      const p = await api<Peering>(`${dialer.url}/v1/peering/cluster-01`);
      return p.body.State === 'ACTIVE' && p.body.StreamStatus.ImportedServices.includes('backend');
    }, 15_000);
    // The gateway learnt where cluster-01's servers are from the peering, not from a pending dial.
    const targets = await api<Array<{ PeerName: string; Addresses: string[] }>>(
      `${dialer.url}/v1/internal/meshpeer/peer-servers`,
    );
    expect(targets.body.map((t) => t.PeerName)).toEqual(['cluster-01']);

    // The stream needs that gateway: without it the peering fails, with it back it recovers.
    await stopChild(gateway);
    await eventually(
      async () => (await api<Peering>(`${dialer.url}/v1/peering/cluster-01`)).body.State === 'FAILING',
      15_000,
    );
    gateway = await startGateway(dialer, 'cluster-02', gwPort, dialer.grpcAddress);
    await eventually(
      async () => (await api<Peering>(`${dialer.url}/v1/peering/cluster-01`)).body.State === 'ACTIVE',
      20_000,
    );
    await stopChild(gateway);
  });

  it('refuses to generate a token through gateways when none is registered, saying what to do', async () => {
    const server = await startServerProcess({ datacenter: 'lonely', extraArgs: FAST });
    servers.add(server);
    await api(`${server.url}/v1/config`, {
      json: { Kind: 'mesh', Name: 'mesh', Peering: { PeerThroughMeshGateways: true } },
    });
    const r = await api(`${server.url}/v1/peering/token`, { method: 'POST', json: { PeerName: 'x' } });
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/no mesh gateway is registered/);
    expect(r.text).toMatch(/meshpeer gateway --register/);
  });
});
