// Blocking queries (?index=N&wait=D) on every read: they return as soon as the index passes N, or when
// D elapses; idle ones cost no CPU; a client that goes away frees its waiter.
import { setMaxListeners } from 'node:events';
import * as http from 'node:http';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';
import { cpuTimeMs, metricValue, request, sleep } from './support.js';

let server: ServerProcess;
let url: string;

const CATALOG_READS = [
  '/v1/catalog/services',
  '/v1/catalog/nodes',
  '/v1/catalog/service/web',
  '/v1/health/service/web',
  '/v1/health/connect/web',
  '/v1/health/checks/web',
];
const CONFIG_READS = ['/v1/config/service-resolver', '/v1/config/service-resolver/web'];

beforeAll(async () => {
  server = await startServerProcess({ datacenter: 'dc-blocking' });
  url = server.url;
  await api(`${url}/v1/catalog/register`, {
    method: 'PUT',
    json: { Node: 'n1', Address: '10.0.0.1', Service: { ID: 'web-1', Service: 'web', Port: 80 } },
  });
  await api(`${url}/v1/config`, {
    method: 'PUT',
    json: { Kind: 'service-resolver', Name: 'web', ConnectTimeout: '1s' },
  });
});

afterAll(async () => {
  await server.stop();
});

async function blockingQueries(): Promise<number> {
  const m = await request(`${url}/metrics`);
  return metricValue(m.text, 'meshpeer_http_blocking_queries');
}

/** Starts a blocking read and records when it returned. */
function watch(path: string, index: number, wait = '30s') {
  const sep = path.includes('?') ? '&' : '?';
  const started = performance.now();
  const state: { returnedAfterMs?: number } = {};
  const done = api(`${url}${path}${sep}index=${index}&wait=${wait}`).then((r) => {
    state.returnedAfterMs = performance.now() - started;
    return r;
  });
  return { done, state };
}

describe('blocking queries', () => {
  it('a blocking query returns as soon as a registration raises the index, on every catalog and health read', async () => {
    const opened = await Promise.all(
      CATALOG_READS.map(async (path) => {
        const first = await api(`${url}${path}`);
        expect(first.index, path).toBeGreaterThan(0);
        return { path, index: first.index, w: watch(path, first.index) };
      }),
    );
    await eventually(async () => (await blockingQueries()) >= CATALOG_READS.length);
    await sleep(200);
    for (const o of opened) expect(o.w.state.returnedAfterMs, o.path).toBeUndefined();

    const t0 = performance.now();
    const reg = await api(`${url}/v1/catalog/register`, {
      method: 'PUT',
      json: { Node: 'n2', Address: '10.0.0.2', Service: { ID: 'web-2', Service: 'web', Port: 80 } },
    });
    expect(reg.status).toBe(200);
    for (const o of opened) {
      const r = await o.w.done;
      expect(r.status, o.path).toBe(200);
      expect(r.index, o.path).toBeGreaterThan(o.index);
      expect(r.headers.get('content-type'), o.path).toContain('application/json');
    }
    // "As soon as": well under the 30 s wait, measured from the write.
    expect(performance.now() - t0).toBeLessThan(2000);
    const health = (await opened.find((o) => o.path === '/v1/health/service/web')!.w.done).body as unknown[];
    expect(health).toHaveLength(2);
  });

  it('config entry reads block until a config entry write, and a catalog write does not wake them', async () => {
    const opened = await Promise.all(
      CONFIG_READS.map(async (path) => {
        const first = await api(`${url}${path}`);
        return { path, index: first.index, w: watch(path, first.index) };
      }),
    );
    await eventually(async () => (await blockingQueries()) >= CONFIG_READS.length);
    await api(`${url}/v1/catalog/register`, {
      method: 'PUT',
      json: { Node: 'n3', Address: '10.0.0.3', Service: { Service: 'other', Port: 80 } },
    });
    await sleep(300);
    for (const o of opened) expect(o.w.state.returnedAfterMs, o.path).toBeUndefined();

    await api(`${url}/v1/config`, {
      method: 'PUT',
      json: { Kind: 'service-resolver', Name: 'web', ConnectTimeout: '2s' },
    });
    for (const o of opened) {
      const r = await o.w.done;
      expect(r.status, o.path).toBe(200);
      expect(r.index, o.path).toBeGreaterThan(o.index);
    }
    const entry = (await opened[1]!.w.done).body as { ConnectTimeout: string };
    expect(entry.ConnectTimeout).toBe('2s');
  });

  it('watchers woken by one write each get the answer to their own question', async () => {
    const first = await api(`${url}/v1/health/service/web`);
    const questions = [
      '/v1/health/service/web',
      '/v1/health/service/web?passing',
      '/v1/health/service/web?tag=canary',
    ];
    const opened = questions.flatMap((path) =>
      Array.from({ length: 20 }, () => ({ path, w: watch(path, first.index) })),
    );
    await eventually(async () => (await blockingQueries()) >= opened.length);
    await api(`${url}/v1/catalog/register`, {
      method: 'PUT',
      json: {
        Node: 'n4',
        Address: '10.0.0.4',
        Service: { ID: 'web-canary', Service: 'web', Port: 80, Tags: ['canary'] },
        Check: { Name: 'alive', Status: 'critical', ServiceID: 'web-canary' },
      },
    });
    const expected = new Map<string, string[]>();
    for (const path of questions) {
      const now = await api<Array<{ Service: { ID: string } }>>(`${url}${path}`);
      expected.set(path, now.body.map((h) => h.Service.ID).sort());
    }
    expect(expected.get('/v1/health/service/web?tag=canary')).toEqual(['web-canary']);
    expect(expected.get('/v1/health/service/web?passing')).not.toContain('web-canary');
    for (const o of opened) {
      const r = await o.w.done;
      const ids = (r.body as Array<{ Service: { ID: string } }>).map((h) => h.Service.ID).sort();
      expect(ids, o.path).toEqual(expected.get(o.path));
    }
  });

  it('a blocking read of a missing config entry wakes on a config write and answers 404 in plain text', async () => {
    const first = await api(`${url}/v1/config/service-resolver/absent`);
    expect(first.status).toBe(404);
    const w = watch('/v1/config/service-resolver/absent', first.index);
    await eventually(async () => (await blockingQueries()) >= 1);
    await api(`${url}/v1/config`, {
      method: 'PUT',
      json: { Kind: 'service-resolver', Name: 'present', ConnectTimeout: '1s' },
    });
    const r = await w.done;
    expect(r.status).toBe(404);
    expect(r.index).toBeGreaterThan(first.index);
    expect(r.headers.get('content-type')).toContain('text/plain');
    expect(r.text).toBe('Config entry not found for "service-resolver" / "absent"');
  });

  it('returns the unchanged index when the wait elapses without a change', async () => {
    const first = await api(`${url}/v1/health/service/web`);
    const w = watch('/v1/health/service/web', first.index, '400ms');
    const r = await w.done;
    expect(r.status).toBe(200);
    expect(r.index).toBe(first.index);
    expect(w.state.returnedAfterMs).toBeGreaterThanOrEqual(380);
    // The wait plus at most 1/16 jitter, and some scheduling slack.
    expect(w.state.returnedAfterMs).toBeLessThan(2000);
  });

  it('returns at once when the index has already passed, or is 0, or is absent', async () => {
    const first = await api(`${url}/v1/catalog/services`);
    for (const q of [`?index=${first.index - 1}&wait=30s`, '?index=0&wait=30s', '?wait=30s']) {
      const t0 = performance.now();
      const r = await api(`${url}/v1/catalog/services${q}`);
      expect(r.status, q).toBe(200);
      expect(r.index, q).toBe(first.index);
      expect(performance.now() - t0, q).toBeLessThan(1000);
    }
  });

  it('accepts Consul wait forms (seconds, ms, m) and refuses a wait that is not a duration', async () => {
    const first = await api(`${url}/v1/catalog/nodes`);
    for (const wait of ['1ms', '0s', '100ms']) {
      const r = await api(`${url}/v1/catalog/nodes?index=${first.index}&wait=${wait}`);
      expect(r.status, wait).toBe(200);
    }
    const bad = await api(`${url}/v1/catalog/nodes?index=${first.index}&wait=forever`);
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('wait');
  });

  it('a thousand idle blocking queries cost no CPU, and clients that go away free their waiters', async () => {
    const first = await api(`${url}/v1/health/service/web`);
    const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
    const abort = new AbortController();
    setMaxListeners(2000, abort.signal);
    const pending = Array.from({ length: 1000 }, () =>
      request(`${url}/v1/health/service/web?index=${first.index}&wait=120s`, {
        agent,
        signal: abort.signal,
      }).catch(() => undefined),
    );
    try {
      await eventually(async () => (await blockingQueries()) >= 1000, 20_000, 100);
      await sleep(500); // let connection set-up settle
      const cpu0 = cpuTimeMs(server.pid);
      const t0 = performance.now();
      await sleep(3000);
      const cpuMs = cpuTimeMs(server.pid) - cpu0;
      const share = cpuMs / (performance.now() - t0);
      // Idle waiters are timers and sockets; the bound is generous (5% of one core) for a noisy host.
      expect(share).toBeLessThan(0.05);
    } finally {
      abort.abort();
      await Promise.all(pending);
      agent.destroy();
    }
    await eventually(async () => (await blockingQueries()) === 0, 10_000, 100);
  });
});
