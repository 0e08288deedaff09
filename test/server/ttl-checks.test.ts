// TTL checks against a real server process: a check registered through the agent API turns critical
// ("TTL expired") once its TTL passes without an update, wakes a blocking health query when it does,
// stays passing while updated, and is armed again after a restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { api, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

const servers: ServerProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function start(dataDir?: string): Promise<ServerProcess> {
  const s = await startServerProcess({ datacenter: 'dc-ttl', ...(dataDir ? { dataDir } : {}) });
  servers.push(s);
  return s;
}

interface Check {
  CheckID: string;
  Status: string;
  Output: string;
  Type: string;
}

async function register(s: ServerProcess, name: string, ttl: string): Promise<void> {
  const r = await api(`${s.url}/v1/agent/service/register`, {
    json: { Name: name, Port: 8080, Check: { CheckID: `${name}:alive`, Name: 'alive', TTL: ttl } },
  });
  expect(r.status).toBe(200);
}

async function pass(s: ServerProcess, name: string): Promise<void> {
  const r = await api(`${s.url}/v1/agent/check/pass/${name}:alive`, { method: 'PUT' });
  expect(r.status).toBe(200);
}

async function check(s: ServerProcess, name: string): Promise<Check | undefined> {
  const r = await api<Check[]>(`${s.url}/v1/health/checks/${name}`);
  return r.body.find((c) => c.CheckID === `${name}:alive`);
}

describe('TTL checks (server process)', () => {
  it('turn critical after their TTL without an update, waking a blocking health query', async () => {
    const s = await start();
    await register(s, 'expiring', '1s');
    expect((await check(s, 'expiring'))?.Status).toBe('critical');
    await pass(s, 'expiring');
    const passing = await api<unknown[]>(`${s.url}/v1/health/service/expiring?passing`);
    expect(passing.body).toHaveLength(1);
    // Blocks until the expiry writes (or its wait ends, which the assertions below would catch).
    const blocked = await api<unknown[]>(
      `${s.url}/v1/health/service/expiring?passing&index=${passing.index}&wait=30s`,
    );
    expect(blocked.index).toBeGreaterThan(passing.index);
    expect(blocked.body).toEqual([]);
    const c = await check(s, 'expiring');
    expect(c?.Status).toBe('critical');
    expect(c?.Output).toBe('TTL expired');
    expect(c?.Type).toBe('ttl');
  });

  it('stay passing while updated within their TTL', async () => {
    const s = servers[0] ?? (await start());
    await register(s, 'kept', '2s');
    // Updated every 300 ms across three TTLs: never seen critical.
    const until = Date.now() + 6_000;
    while (Date.now() < until) {
      await pass(s, 'kept');
      expect((await check(s, 'kept'))?.Status).toBe('passing');
      await new Promise((r) => setTimeout(r, 300));
    }
    // And then left alone, it expires.
    await eventually(async () => (await check(s, 'kept'))?.Status === 'critical', 15_000);
  });

  it('are armed again after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshpeer-ttl-'));
    dirs.push(dir);
    const s = await start(dir);
    await register(s, 'durable', '2s');
    await pass(s, 'durable');
    await s.stop();
    // Passing when the server stopped: only a re-armed TTL turns it critical.
    const again = await start(dir);
    await eventually(async () => (await check(again, 'durable'))?.Output === 'TTL expired', 15_000);
    expect((await check(again, 'durable'))?.Status).toBe('critical');
  });
});
