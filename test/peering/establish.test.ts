// Establishing peerings between real server processes: token → establish → ACTIVE on both sides, the
// API shapes of /v1/peering/:name and /v1/peerings, the CLI workflow, one acceptor with two dialers.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../support/meshpeer-process.js';
import {
  api,
  Cluster,
  establish,
  exportServices,
  generateToken,
  health,
  importedServices,
  type Peering,
  peer,
  readPeering,
  register,
  registerGateway,
  type ServerProcess,
  waitState,
} from './helpers.js';

const run = promisify(execFile);

const cluster = new Cluster();
afterAll(() => cluster.stopAll());

function expectPeeringShape(p: Peering): void {
  for (const key of [
    'ID',
    'Name',
    'State',
    'PeerID',
    'PeerServerName',
    'PeerServerAddresses',
    'PeerCAPems',
    'Remote',
    'Meta',
    'CreateIndex',
    'ModifyIndex',
    'StreamStatus',
  ]) {
    expect(p, `field ${key}`).toHaveProperty(key);
  }
  expect(typeof p.ID).toBe('string');
  expect(p.ID).not.toBe('');
  expect(typeof p.PeerID).toBe('string');
  expect(typeof p.CreateIndex).toBe('number');
  expect(p.ModifyIndex).toBeGreaterThanOrEqual(p.CreateIndex);
  expect(Array.isArray(p.PeerServerAddresses)).toBe(true);
  expect(Array.isArray(p.PeerCAPems)).toBe(true);
  expect(p.PeerCAPems.length).toBeGreaterThan(0);
  for (const pem of p.PeerCAPems) expect(pem).toMatch(/-----BEGIN CERTIFICATE-----/);
  expect(Array.isArray(p.StreamStatus.ImportedServices)).toBe(true);
  expect(Array.isArray(p.StreamStatus.ExportedServices)).toBe(true);
  for (const key of ['LastHeartbeat', 'LastReceive', 'LastSend'] as const) {
    expect(p.StreamStatus[key], `StreamStatus.${key}`).toBeDefined();
    expect(Number.isNaN(Date.parse(p.StreamStatus[key] ?? ''))).toBe(false);
  }
  expect(JSON.stringify(p)).not.toMatch(/Secret/i);
}

describe('two servers peer', () => {
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    [a, b] = await Promise.all([cluster.start('cluster-01'), cluster.start('cluster-02')]);
  });

  it('token → establish makes both sides ACTIVE with Consul-shaped reads', async () => {
    const token = await generateToken(a, 'cluster-02', { Meta: { env: 'test' } });
    const pending = await readPeering(a, 'cluster-02');
    expect(pending?.State).toBe('PENDING');

    const decoded = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as Record<string, unknown>;
    for (const key of ['CA', 'ServerAddresses', 'ServerName', 'PeerID', 'EstablishmentSecret', 'Remote']) {
      expect(decoded, `token field ${key}`).toHaveProperty(key);
    }
    expect(decoded.ServerAddresses).toEqual([a.grpcAddress]);
    expect(decoded.PeerID).toBe(pending?.ID);

    const r = await establish(b, 'cluster-01', token);
    expect(r.status, r.text).toBe(200);

    const dialerSide = await waitState(b, 'cluster-01', 'ACTIVE');
    const acceptorSide = await waitState(a, 'cluster-02', 'ACTIVE');
    // Heartbeats flow both ways.
    const withHeartbeats = async (s: ServerProcess, name: string) => {
      for (let i = 0; i < 100; i++) {
        const p = await readPeering(s, name);
        if (p?.StreamStatus.LastHeartbeat) return p;
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error(`no heartbeat on ${name}`);
    };
    const d = await withHeartbeats(b, 'cluster-01');
    const acc = await withHeartbeats(a, 'cluster-02');
    expectPeeringShape(d);
    expectPeeringShape(acc);

    expect(dialerSide.Name).toBe('cluster-01');
    expect(d.PeerID).toBe(acc.ID);
    // The dialer tells the acceptor its own ID for the peering when it opens the stream.
    expect(acc.PeerID).toBe(d.ID);
    expect(d.PeerServerAddresses).toContain(a.grpcAddress);
    expect(d.PeerServerName).not.toBe('');
    expect(d.Remote.Datacenter).toBe('cluster-01');
    expect(acc.Remote.Datacenter).toBe('cluster-02');
    expect(acc.Meta).toEqual({ env: 'test' });
    expect(acceptorSide.Name).toBe('cluster-02');
    // Each side holds the other's CA roots.
    const rootsA = await api<{ Roots: Array<{ RootCert: string }> }>(`${a.url}/v1/connect/ca/roots`);
    const rootsB = await api<{ Roots: Array<{ RootCert: string }> }>(`${b.url}/v1/connect/ca/roots`);
    if (rootsA.status === 200 && rootsB.status === 200) {
      const norm = (s: string) => s.trim();
      expect(d.PeerCAPems.map(norm)).toEqual(
        expect.arrayContaining([norm(rootsA.body.Roots[0]?.RootCert ?? '')]),
      );
      expect(acc.PeerCAPems.map(norm)).toEqual(
        expect.arrayContaining([norm(rootsB.body.Roots[0]?.RootCert ?? '')]),
      );
    }

    const listA = await api<Peering[]>(`${a.url}/v1/peerings`);
    expect(listA.status).toBe(200);
    expect(listA.index).toBeGreaterThan(0);
    expect(listA.body.map((p) => p.Name)).toEqual(['cluster-02']);
    expectPeeringShape(listA.body[0] as Peering);
    const listB = await api<Peering[]>(`${b.url}/v1/peerings`);
    expect(listB.body.map((p) => p.Name)).toEqual(['cluster-01']);
    expect(listB.body[0]?.State).toBe('ACTIVE');

    const missing = await api(`${a.url}/v1/peering/nope`);
    expect(missing.status).toBe(404);
  });

  it('replicates an export after establishment, with the counts in StreamStatus', async () => {
    await registerGateway(a);
    await register(a, { node: 'n1', service: 'backend', id: 'backend-1' });
    await exportServices(a, { backend: ['cluster-02'] });
    const imported = await waitUntil(async () => {
      const h = await health(b, 'backend', 'cluster-01');
      return h.body.length === 1 ? h.body : undefined;
    });
    expect(imported[0]?.Service.PeerName).toBe('cluster-01');
    expect(await importedServices(b, 'cluster-01')).toEqual(['backend']);
    const d = await waitUntil(async () => {
      const p = await readPeering(b, 'cluster-01');
      return p?.StreamStatus.ImportedServices.includes('backend') ? p : undefined;
    });
    expect(d.StreamStatus.ImportedServices).toEqual(['backend']);
    const acc = await readPeering(a, 'cluster-02');
    expect(acc?.StreamStatus.ExportedServices).toEqual(['backend']);
  });
});

describe('CLI', () => {
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    [a, b] = await Promise.all([cluster.start('cli-01'), cluster.start('cli-02')]);
  });

  const cli = async (server: ServerProcess, ...args: string[]) => {
    try {
      const r = await run(process.execPath, [CLI, 'peering', ...args], {
        env: { ...process.env, MESHPEER_HTTP_ADDR: server.httpAddress },
        timeout: 20_000,
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };

  it('generate-token, establish, list, read and delete', async () => {
    const gen = await cli(a, 'generate-token', '--name', 'cli-02');
    expect(gen.code, gen.stderr).toBe(0);
    const token = gen.stdout.trim();
    expect(token).toMatch(/^[A-Za-z0-9+/]+=*$/);

    const est = await cli(b, 'establish', '--name', 'cli-01', '--peering-token', token);
    expect(est.code, est.stderr).toBe(0);
    expect(est.stdout).toMatch(/established/i);

    await waitState(b, 'cli-01', 'ACTIVE');
    await waitState(a, 'cli-02', 'ACTIVE');

    const list = await cli(b, 'list');
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/cli-01\s+ACTIVE/);

    const listJson = await cli(a, 'list', '--json');
    expect(listJson.code).toBe(0);
    const parsed = JSON.parse(listJson.stdout) as Peering[];
    expect(parsed.map((p) => [p.Name, p.State])).toEqual([['cli-02', 'ACTIVE']]);

    const read = await cli(b, 'read', '--name', 'cli-01');
    expect(read.code, read.stderr).toBe(0);
    expect(read.stdout).toMatch(/Name:\s+cli-01/);
    expect(read.stdout).toMatch(/State:\s+ACTIVE/);
    expect(read.stdout).toContain(a.grpcAddress);

    const readMissing = await cli(b, 'read', '--name', 'nope');
    expect(readMissing.code).not.toBe(0);
    expect(readMissing.stderr).toMatch(/nope/);

    // A bad token through the CLI: non-zero exit and the server's reason.
    const bad = await cli(b, 'establish', '--name', 'x-01', '--peering-token', 'not base64!!');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/base64/);

    const del = await cli(b, 'delete', '--name', 'cli-01');
    expect(del.code, del.stderr).toBe(0);
    await waitUntil(async () => ((await readPeering(b, 'cli-01')) === undefined ? true : undefined));
    const acc = await waitState(a, 'cli-02', 'TERMINATED');
    const readTerminated = await cli(a, 'read', '--name', 'cli-02');
    expect(readTerminated.stdout).toMatch(/State:\s+TERMINATED/);
    expect(acc.Name).toBe('cli-02');
  });
});

describe('one acceptor, two dialers', () => {
  it('peers with both under two names and exports to each separately', async () => {
    const [acc, d1, d2] = await Promise.all([
      cluster.start('hub'),
      cluster.start('spoke-1'),
      cluster.start('spoke-2'),
    ]);
    await Promise.all([peer(acc, d1, 'hub', 'spoke-1'), peer(acc, d2, 'hub', 'spoke-2')]);
    const list = await api<Peering[]>(`${acc.url}/v1/peerings`);
    expect(list.body.map((p) => [p.Name, p.State]).sort()).toEqual([
      ['spoke-1', 'ACTIVE'],
      ['spoke-2', 'ACTIVE'],
    ]);
    const [p1, p2] = [
      list.body.find((p) => p.Name === 'spoke-1'),
      list.body.find((p) => p.Name === 'spoke-2'),
    ];
    expect(p1?.ID).not.toBe(p2?.ID);
    expect(p1?.Remote.Datacenter).toBe('spoke-1');
    expect(p2?.Remote.Datacenter).toBe('spoke-2');

    await registerGateway(acc);
    await register(acc, { node: 'n1', service: 'only-one', id: 'only-one-1' });
    await register(acc, { node: 'n1', service: 'both', id: 'both-1' });
    await exportServices(acc, { 'only-one': ['spoke-1'], both: ['spoke-1', 'spoke-2'] });

    await waitUntil(async () =>
      JSON.stringify(await importedServices(d1, 'hub')) === '["both","only-one"]' ? true : undefined,
    );
    await waitUntil(async () =>
      JSON.stringify(await importedServices(d2, 'hub')) === '["both"]' ? true : undefined,
    );
    // spoke-2 never sees only-one.
    expect((await health(d2, 'only-one', 'hub')).body).toEqual([]);

    // And each dialer can export back to the hub (both directions replicate).
    await registerGateway(d2);
    await register(d2, { node: 'm1', service: 'reverse', id: 'reverse-1' });
    await exportServices(d2, { reverse: ['hub'] });
    await waitUntil(async () =>
      JSON.stringify(await importedServices(acc, 'spoke-2')) === '["reverse"]' ? true : undefined,
    );
    expect(await importedServices(acc, 'spoke-1')).toEqual([]);
  });
});

async function waitUntil<T>(fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms${lastErr ? `: ${String(lastErr)}` : ''}`);
}
