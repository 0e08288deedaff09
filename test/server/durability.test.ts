// State survives restarts: a graceful one, and kill -9 in the middle of a burst of writes, after which
// every acknowledged write is there, every acknowledged delete stays deleted, and nothing is half
// written. Also: SIGTERM with blocking queries open exits 0 within a few seconds.
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, describe, expect, it } from 'vitest';
import { api, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';
import { metricValue, request } from './support.js';

const dirs: string[] = [];
const servers: ServerProcess[] = [];

function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'meshpeer-durability-'));
  dirs.push(d);
  return d;
}

async function start(dir: string): Promise<ServerProcess> {
  const s = await startServerProcess({ datacenter: 'dc-durable', dataDir: dir });
  servers.push(s);
  return s;
}

afterAll(async () => {
  for (const s of servers) await s.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface HealthEntry {
  Service: { ID: string; Port: number; Meta: Record<string, string> };
  Checks: Array<{ CheckID: string; Status: string; ServiceID: string }>;
}

/** What the burst got acknowledged (a 200 received), and the highest index any read returned. */
interface Acked {
  registered: Map<string, number>;
  deregistered: Set<string>;
  /** Deregistrations sent, acknowledged or not (one cut off by the kill may or may not have landed). */
  deregisterSent: Set<string>;
  resolvers: Map<string, string>;
  maxIndexSeen: number;
}

/**
 * Writes from `workers` concurrent clients until `stop` is set or a connection fails: registrations
 * (service + check in one request), config entries, deregistrations of earlier acknowledged services,
 * and reads. Each client has its own connection so the kill interrupts requests in flight.
 */
async function burst(url: string, round: number, acked: Acked, stop: { now: boolean }, workers = 24) {
  let next = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: workers });
  const worker = async (): Promise<void> => {
    while (!stop.now) {
      const i = next++;
      const id = `r${round}-s${i}`;
      try {
        if (i % 10 === 9) {
          const victim = [...acked.registered.keys()].find((k) => !acked.deregisterSent.has(k));
          if (victim === undefined) continue;
          acked.deregisterSent.add(victim);
          const node = `burst-node-${Number(victim.split('-s')[1]) % 20}`;
          const r = await request(`${url}/v1/catalog/deregister`, {
            method: 'PUT',
            agent,
            body: JSON.stringify({ Node: node, ServiceID: victim }),
          });
          if (r.status === 200) acked.deregistered.add(victim);
        } else if (i % 5 === 0) {
          const name = `resolver-${round}-${i}`;
          const timeout = `${i + 1}s`;
          const r = await request(`${url}/v1/config`, {
            method: 'PUT',
            agent,
            body: JSON.stringify({ Kind: 'service-resolver', Name: name, ConnectTimeout: timeout }),
          });
          if (r.status === 200) acked.resolvers.set(name, timeout);
        } else if (i % 7 === 0) {
          const r = await request(`${url}/v1/catalog/services`, { agent });
          if (r.status === 200) acked.maxIndexSeen = Math.max(acked.maxIndexSeen, r.index);
        } else {
          const r = await request(`${url}/v1/catalog/register`, {
            method: 'PUT',
            agent,
            body: JSON.stringify({
              Node: `burst-node-${i % 20}`,
              Address: `10.1.0.${i % 20}`,
              Service: { ID: id, Service: 'burst', Port: 1000 + (i % 5000), Meta: { i: String(i) } },
              Check: { Name: 'alive', Status: 'passing', ServiceID: id },
            }),
          });
          if (r.status === 200) acked.registered.set(id, 1000 + (i % 5000));
        }
      } catch {
        return; // the server is gone
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  agent.destroy();
}

async function verify(url: string, acked: Acked): Promise<void> {
  const health = await api<HealthEntry[]>(`${url}/v1/health/service/burst`);
  expect(health.status).toBe(200);
  const present = new Map(health.body.map((h) => [h.Service.ID, h]));

  const missing = [...acked.registered.keys()].filter(
    (id) => !acked.deregisterSent.has(id) && !present.has(id),
  );
  expect(missing, 'acknowledged registrations lost').toEqual([]);
  for (const [id, port] of acked.registered) {
    if (!acked.deregisterSent.has(id)) expect(present.get(id)!.Service.Port, id).toBe(port);
  }
  const resurrected = [...acked.deregistered].filter((id) => present.has(id));
  expect(resurrected, 'acknowledged deregistrations undone').toEqual([]);

  // Atomicity: every instance present, acknowledged or not, came with its check.
  const halfWritten = health.body.filter(
    (h) => !h.Checks.some((c) => c.CheckID === `service:${h.Service.ID}` && c.Status === 'passing'),
  );
  expect(
    halfWritten.map((h) => h.Service.ID),
    'instances without their check',
  ).toEqual([]);
  const checks = await api<Array<{ ServiceID: string }>>(`${url}/v1/health/checks/burst`);
  expect(checks.body.filter((c) => !present.has(c.ServiceID))).toEqual([]);

  const resolvers = await api<Array<{ Name: string; ConnectTimeout: string }>>(
    `${url}/v1/config/service-resolver`,
  );
  const stored = new Map(resolvers.body.map((e) => [e.Name, e.ConnectTimeout]));
  for (const [name, timeout] of acked.resolvers) expect(stored.get(name), name).toBe(timeout);

  const services = await api(`${url}/v1/catalog/services`);
  expect(services.index).toBeGreaterThanOrEqual(acked.maxIndexSeen);
}

describe('durability', () => {
  it('keeps state across a graceful restart, with the same indexes', async () => {
    const dir = dataDir();
    const s1 = await start(dir);
    await api(`${s1.url}/v1/catalog/register`, {
      method: 'PUT',
      json: { Node: 'n1', Address: '10.0.0.1', Service: { ID: 'web-1', Service: 'web', Port: 80 } },
    });
    await api(`${s1.url}/v1/config`, {
      method: 'PUT',
      json: { Kind: 'mesh', Name: 'mesh', Peering: { PeerThroughMeshGateways: true } },
    });
    const before = await api<unknown[]>(`${s1.url}/v1/catalog/service/web`);
    const mesh = await api(`${s1.url}/v1/config/mesh/mesh`);
    await s1.stop();
    expect(s1.child.exitCode).toBe(0);

    const s2 = await start(dir);
    const after = await api<unknown[]>(`${s2.url}/v1/catalog/service/web`);
    expect(after.body).toEqual(before.body);
    expect(after.index).toBe(before.index);
    expect((await api(`${s2.url}/v1/config/mesh/mesh`)).body).toEqual(mesh.body);
    // New writes continue from the stored index.
    await api(`${s2.url}/v1/catalog/register`, {
      method: 'PUT',
      json: { Node: 'n2', Address: '10.0.0.2', Service: { Service: 'web', Port: 81 } },
    });
    expect((await api(`${s2.url}/v1/catalog/service/web`)).index).toBeGreaterThan(before.index);
    await s2.stop();
  });

  it('keeps every acknowledged write after kill -9 in the middle of a burst, twice over', async () => {
    const dir = dataDir();
    const acked: Acked = {
      registered: new Map(),
      deregistered: new Set(),
      deregisterSent: new Set(),
      resolvers: new Map(),
      maxIndexSeen: 0,
    };
    for (let round = 1; round <= 2; round++) {
      const s = await start(dir);
      if (round > 1) await verify(s.url, acked);
      const stop = { now: false };
      const running = burst(s.url, round, acked, stop);
      const target = acked.registered.size + 300;
      await eventually(async () => acked.registered.size >= target, 20_000, 5);
      // Kill while requests are in flight: the workers are still sending.
      await s.kill();
      expect(s.child.signalCode).toBe('SIGKILL');
      stop.now = true;
      await running;

      const restarted = await start(dir);
      await verify(restarted.url, acked);
      // The restarted server takes writes, above every index seen before the kill.
      await api(`${restarted.url}/v1/catalog/register`, {
        method: 'PUT',
        json: {
          Node: 'after',
          Address: '10.0.0.9',
          Service: { ID: `after-${round}`, Service: 'after', Port: 1 },
        },
      });
      expect((await api(`${restarted.url}/v1/catalog/services`)).index).toBeGreaterThan(acked.maxIndexSeen);
      await restarted.stop();
      expect(restarted.child.exitCode).toBe(0);
    }
    expect(acked.registered.size).toBeGreaterThanOrEqual(600);
    expect(acked.deregistered.size).toBeGreaterThan(0);
    expect(acked.resolvers.size).toBeGreaterThan(0);
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM with blocking queries open exits 0 within a few seconds', async () => {
    const s = await start(dataDir());
    const first = await api(`${s.url}/v1/health/service/web`);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 100 });
    const open = Array.from({ length: 50 }, (_, i) =>
      request(
        `${s.url}/v1/${i % 2 ? 'health/service/web' : 'catalog/services'}?index=${first.index}&wait=5m`,
        { agent },
      ).then(
        (r) => r.status,
        () => 'closed',
      ),
    );
    await eventually(async () => {
      const m = await request(`${s.url}/metrics`);
      return metricValue(m.text, 'meshpeer_http_blocking_queries') >= 50;
    });
    const t0 = performance.now();
    await s.stop();
    const took = performance.now() - t0;
    expect(s.child.exitCode).toBe(0);
    expect(took).toBeLessThan(5000);
    // Every client got an answer or a closed connection: none is left hanging.
    const outcomes = await Promise.all(open);
    expect(outcomes).toHaveLength(50);
    agent.destroy();
  });
});
