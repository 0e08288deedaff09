// Prometheus metrics on /metrics and /v1/agent/metrics: request counts and latencies, the store
// index and blocking queries in flight are there, and move.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';
import { metricValue, request } from './support.js';

let server: ServerProcess;
let url: string;

beforeAll(async () => {
  server = await startServerProcess({ datacenter: 'dc-metrics' });
  url = server.url;
});

afterAll(async () => {
  await server.stop();
});

async function scrape(path = '/metrics'): Promise<string> {
  const r = await request(`${url}${path}`);
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toContain('text/plain');
  return r.text;
}

const ROUTE = { route: '/v1/catalog/services' };

describe('metrics', () => {
  it('serves the same families on /metrics and /v1/agent/metrics', async () => {
    await api(`${url}/v1/catalog/services`);
    for (const path of ['/metrics', '/v1/agent/metrics', '/v1/agent/metrics?format=prometheus']) {
      const text = await scrape(path);
      for (const family of [
        'meshpeer_http_requests_total',
        'meshpeer_http_request_duration_seconds',
        'meshpeer_store_index',
        'meshpeer_http_blocking_queries',
      ]) {
        expect(text, `${path} ${family}`).toContain(`# TYPE ${family} `);
      }
      // Process metrics too (CPU, memory), under the meshpeer_process_ prefix.
      expect(text).toMatch(/^# TYPE meshpeer_process_\w*cpu_seconds_total counter$/m);
      expect(text).toMatch(/^# TYPE meshpeer_process_\w*resident_memory_bytes gauge$/m);
    }
  });

  it('counts requests by route and status code, and observes their latency', async () => {
    const before = await scrape();
    const count0 = metricValue(before, 'meshpeer_http_requests_total', { ...ROUTE, code: '200' }) || 0;
    const hist0 = metricValue(before, 'meshpeer_http_request_duration_seconds_count', ROUTE) || 0;
    const bad0 = metricValue(before, 'meshpeer_http_requests_total', { ...ROUTE, code: '400' }) || 0;
    for (let i = 0; i < 5; i++) await api(`${url}/v1/catalog/services`);
    await api(`${url}/v1/catalog/services?index=nope`);
    const after = await scrape();
    expect(metricValue(after, 'meshpeer_http_requests_total', { ...ROUTE, code: '200' })).toBe(count0 + 5);
    expect(metricValue(after, 'meshpeer_http_requests_total', { ...ROUTE, code: '400' })).toBe(bad0 + 1);
    expect(metricValue(after, 'meshpeer_http_request_duration_seconds_count', ROUTE)).toBe(hist0 + 6);
    expect(metricValue(after, 'meshpeer_http_request_duration_seconds_sum', ROUTE)).toBeGreaterThan(0);
  });

  it('the store index gauge follows writes', async () => {
    const i0 = metricValue(await scrape(), 'meshpeer_store_index');
    await api(`${url}/v1/catalog/register`, {
      method: 'PUT',
      json: { Node: 'm1', Address: '10.0.0.1', Service: { Service: 'web', Port: 80 } },
    });
    const i1 = metricValue(await scrape(), 'meshpeer_store_index');
    expect(i1).toBeGreaterThan(i0);
    const served = await api(`${url}/v1/catalog/services`);
    expect(i1).toBeGreaterThanOrEqual(served.index);
  });

  it('the blocking queries gauge counts the queries waiting right now', async () => {
    const first = await api(`${url}/v1/health/service/web`);
    const waiting = Array.from({ length: 3 }, () =>
      api(`${url}/v1/health/service/web?index=${first.index}&wait=30s`),
    );
    await eventually(async () => metricValue(await scrape(), 'meshpeer_http_blocking_queries') === 3);
    await api(`${url}/v1/catalog/register`, {
      method: 'PUT',
      json: { Node: 'm2', Address: '10.0.0.2', Service: { Service: 'web', Port: 80 } },
    });
    await Promise.all(waiting);
    await eventually(async () => metricValue(await scrape(), 'meshpeer_http_blocking_queries') === 0);
  });
});
