// A registered gateway's health follows its process: `meshpeer gateway --register --health-ttl 2s`
// keeps its TTL check passing while it runs; killed with SIGKILL (no deregistration), its instance turns
// critical once the TTL passes and leaves ?passing and the addresses peers are given; started again,
// it passes again.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/shared/testing/free-port.js';
import { api, CLI, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

const children = new Set<ChildProcess>();
let server: ServerProcess | undefined;

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await server?.stop();
});

interface GatewayHealth {
  Service: { ID: string; Port: number };
  Checks: Array<{ CheckID: string; Name: string; Status: string; Output: string; Type: string }>;
}

function startGateway(s: ServerProcess, port: number): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'gateway',
      '--server',
      s.url,
      '--listen',
      `127.0.0.1:${port}`,
      '--register',
      '--service-id',
      'gw-ttl',
      '--health-ttl',
      '2s',
      '--drain-seconds',
      '0',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MESHPEER_LOG_LEVEL: 'warn' } },
  );
  children.add(child);
  return child;
}

const gateways = async (s: ServerProcess, query = ''): Promise<GatewayHealth[]> =>
  (await api<GatewayHealth[]>(`${s.url}/v1/health/service/mesh-gateway${query}`)).body;

const aliveCheck = (g: GatewayHealth | undefined) => g?.Checks.find((c) => c.CheckID === 'gw-ttl:alive');

/** The addresses a peering token tells peers to dial when peering goes through the gateways. */
async function tokenAddresses(s: ServerProcess): Promise<string[]> {
  const r = await api<{ PeeringToken: string }>(`${s.url}/v1/peering/token`, {
    method: 'POST',
    json: { PeerName: `probe-${Date.now()}` },
  });
  expect(r.status).toBe(200);
  const token = JSON.parse(Buffer.from(r.body.PeeringToken, 'base64').toString('utf8')) as {
    ServerAddresses: string[];
  };
  return token.ServerAddresses;
}

describe('gateway --register --health-ttl', () => {
  it('is passing while it runs, critical once killed, passing again when restarted', async () => {
    server = await startServerProcess({ datacenter: 'dc-gw-ttl' });
    const s = server;
    // Peering through the gateways: tokens name the passing gateways (src/peering/exporter.ts).
    const mesh = await api(`${s.url}/v1/config`, {
      json: { Kind: 'mesh', Name: 'mesh', Peering: { PeerThroughMeshGateways: true } },
    });
    expect(mesh.status).toBe(200);
    const port = await freePort();
    const first = startGateway(s, port);
    const passing = await eventually(async () => {
      const [g] = await gateways(s, '?passing');
      return aliveCheck(g)?.Status === 'passing' ? g : undefined;
    }, 15_000);
    expect(passing.Service.ID).toBe('gw-ttl');
    expect(aliveCheck(passing)).toMatchObject({ Name: 'meshpeer process alive', Type: 'ttl' });
    expect(await tokenAddresses(s)).toEqual([`127.0.0.1:${port}`]);

    const exited = new Promise((r) => first.once('exit', r));
    first.kill('SIGKILL');
    await exited;
    children.delete(first);
    // Still registered (nothing deregistered it), but critical once its TTL passes.
    const dead = await eventually(async () => {
      const [g] = await gateways(s);
      return aliveCheck(g)?.Status === 'critical' ? g : undefined;
    }, 15_000);
    expect(aliveCheck(dead)?.Output).toBe('TTL expired');
    expect(await gateways(s, '?passing')).toEqual([]);
    // No passing gateway: a token through the gateways cannot be made.
    const refused = await api(`${s.url}/v1/peering/token`, {
      method: 'POST',
      json: { PeerName: 'probe-none' },
    });
    expect(refused.status).not.toBe(200);
    expect(refused.text).toMatch(/no mesh gateway is registered/);

    const second = startGateway(s, port);
    await eventually(async () => {
      const [g] = await gateways(s, '?passing');
      return aliveCheck(g)?.Status === 'passing';
    }, 15_000);
    expect(await tokenAddresses(s)).toEqual([`127.0.0.1:${port}`]);
    const stopped = new Promise((r) => second.once('exit', r));
    second.kill('SIGTERM');
    await stopped;
    children.delete(second);
    // A clean stop deregisters the gateway and its check.
    expect(await gateways(s)).toEqual([]);
  });

  it('refuses a --health-ttl that is not a duration of at least 1s, before starting anything', async () => {
    for (const [value, message] of [
      ['30', /expected a duration with a unit/],
      ['500ms', /must be at least 1s/],
    ] as const) {
      const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = execFile(
          process.execPath,
          [CLI, 'gateway', '--register', '--health-ttl', value],
          (err, _o, e) => resolve({ code: err ? (child.exitCode ?? 1) : 0, stderr: e }),
        );
      });
      expect(code).toBe(2);
      expect(stderr).toMatch(message);
    }
  });
});
