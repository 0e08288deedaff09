// Consul behaviours that HashiCorp's consul/api suite (test/consul-api-suite) found missing, each checked
// here directly against a real `meshpeer server`: the server's own node, zero values meaning defaults,
// the selection parameters (?filter, ?node-meta, repeated ?tag), ?dc, the agent's views and sidecars.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

let server: ServerProcess;
let url: string;
const NODE = 'node-dc-compat';

beforeAll(async () => {
  server = await startServerProcess({
    datacenter: 'dc-compat',
    extraArgs: ['--node-meta', 'rack:r1', '--node-id', '11111111-2222-3333-4444-555555555555'],
  });
  url = server.url;
});

afterAll(async () => {
  await server.stop();
});

const put = (path: string, json?: unknown) => api(`${url}${path}`, { method: 'PUT', json });
const get = <T>(path: string) => api<T>(`${url}${path}`);

describe("the server's own node", () => {
  it('is registered with its ID, meta, a passing serfHealth check and the consul service', async () => {
    const nodes =
      await get<Array<{ Node: string; ID: string; Meta: Record<string, string> }>>('/v1/catalog/nodes');
    const own = nodes.body.find((n) => n.Node === NODE);
    expect(own?.ID).toBe('11111111-2222-3333-4444-555555555555');
    expect(own?.Meta).toMatchObject({ rack: 'r1', 'consul-network-segment': '' });
    expect(own?.Meta['consul-version']).toMatch(/^\d+\.\d+\.\d+$/);
    const checks = await get<Array<{ CheckID: string; Status: string; ServiceName: string }>>(
      `/v1/health/node/${NODE}`,
    );
    expect(checks.body.find((c) => c.CheckID === 'serfHealth')).toMatchObject({
      Status: 'passing',
      ServiceName: '',
    });
    expect((await get<Record<string, string[]>>('/v1/catalog/services')).body).toHaveProperty('consul');
    // ... but they are the server's, not the agent's own services and checks.
    expect((await get<Record<string, unknown>>('/v1/agent/services')).body).not.toHaveProperty('consul');
    expect((await get<Record<string, unknown>>('/v1/agent/checks')).body).not.toHaveProperty('serfHealth');
  });

  it('answers /v1/status/peers, /v1/catalog/datacenters, and No path to datacenter for another ?dc', async () => {
    expect((await get<string[]>('/v1/status/peers')).body).toHaveLength(1);
    expect((await get<string[]>('/v1/catalog/datacenters')).body).toEqual(['dc-compat']);
    const other = await get('/v1/catalog/nodes?dc=elsewhere');
    expect(other.status).toBe(400);
    expect(other.text).toContain('No path to datacenter');
    expect((await get('/v1/catalog/nodes?dc=dc-compat')).status).toBe(200);
  });
});

describe('catalog writes decode as Consul does', () => {
  it('stores zero Weights as the default, and needs Address only without SkipNodeUpdate', async () => {
    const r = await put('/v1/catalog/register', {
      Node: 'w1',
      Address: '10.1.0.1',
      Service: { ID: 'w', Service: 'weighted', Weights: { Passing: 0, Warning: 0 }, Tags: null, Meta: null },
    });
    expect(r.status).toBe(200);
    const svc = await get<Array<{ ServiceWeights: unknown }>>('/v1/catalog/service/weighted');
    expect(svc.body[0]?.ServiceWeights).toEqual({ Passing: 1, Warning: 1 });
    expect(
      (await put('/v1/catalog/register', { Node: 'w1', SkipNodeUpdate: true, Check: { Name: 'c' } })).status,
    ).toBe(200);
    const noAddress = await put('/v1/catalog/register', { Node: 'w2' });
    expect(noAddress.status).toBe(400);
    expect(noAddress.text).toContain('Address');
  });

  it('removes the node when ServiceID and CheckID are empty strings (as Consul clients send them)', async () => {
    await put('/v1/catalog/register', { Node: 'gone', Address: '10.1.0.9' });
    expect((await put('/v1/catalog/deregister', { Node: 'gone', ServiceID: '', CheckID: '' })).status).toBe(
      200,
    );
    expect((await get('/v1/catalog/node/gone')).body).toBeNull();
  });
});

describe('selection parameters', () => {
  beforeAll(async () => {
    for (const [node, os, tags] of [
      ['s1', 'linux', ['a', 'b']],
      ['s2', 'linux', ['a']],
      ['s3', 'windows', ['a', 'b']],
    ] as const) {
      await put('/v1/catalog/register', {
        Node: node,
        Address: '10.2.0.1',
        NodeMeta: { os },
        Service: { ID: 'sel', Service: 'sel', Tags: tags, Port: 80 },
      });
    }
  });

  it('?tag= repeated needs every tag; ?node-meta= every pair', async () => {
    const nodes = async (q: string) =>
      (await get<Array<{ Node: string }>>(`/v1/catalog/service/sel?${q}`)).body.map((s) => s.Node).sort();
    expect(await nodes('tag=a&tag=b')).toEqual(['s1', 's3']);
    expect(await nodes('node-meta=os:linux')).toEqual(['s1', 's2']);
    expect(await nodes('node-meta=os:linux&tag=b')).toEqual(['s1']);
    const health = await get<unknown[]>('/v1/health/service/sel?tag=a&tag=b&node-meta=os:windows');
    expect(health.body).toHaveLength(1);
  });

  it('?filter= selects with an expression and answers 400 pointing at the bad column', async () => {
    const r = await get<Array<{ Node: string }>>(
      `/v1/catalog/service/sel?filter=${encodeURIComponent('NodeMeta.os == linux and b in ServiceTags')}`,
    );
    expect(r.body.map((s) => s.Node)).toEqual(['s1']);
    const nodes = await get<Array<{ Node: string }>>(
      `/v1/catalog/nodes?filter=${encodeURIComponent('Meta.os == windows')}`,
    );
    expect(nodes.body.map((n) => n.Node)).toEqual(['s3']);
    const bad = await get(`/v1/catalog/nodes?filter=${encodeURIComponent('Meta.os = windows')}`);
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('column 9');
  });
});

describe("the agent's services and checks", () => {
  it('registers a sidecar for Connect.SidecarService and removes it with its service', async () => {
    expect(
      (await put('/v1/agent/service/register', { Name: 'web', Port: 8080, Connect: { SidecarService: {} } }))
        .status,
    ).toBe(200);
    const services =
      await get<Record<string, { Kind?: string; Port: number; Proxy?: Record<string, unknown> }>>(
        '/v1/agent/services',
      );
    expect(services.body['web-sidecar-proxy']).toMatchObject({
      Kind: 'connect-proxy',
      Proxy: { DestinationServiceName: 'web', DestinationServiceID: 'web', LocalServicePort: 8080 },
    });
    expect(services.body['web-sidecar-proxy']!.Port).toBeGreaterThanOrEqual(21000);
    expect((await put('/v1/agent/service/deregister/web')).status).toBe(200);
    expect((await get<Record<string, unknown>>('/v1/agent/services')).body).not.toHaveProperty(
      'web-sidecar-proxy',
    );
  });

  it('registers TTL checks, reports aggregated health with 200/503, and deregisters checks', async () => {
    await put('/v1/agent/service/register', { Name: 'api', ID: 'api-1', Port: 9000 });
    expect(
      (await put('/v1/agent/check/register', { Name: 'ttl', ServiceID: 'api-1', TTL: '15s' })).status,
    ).toBe(200);
    const critical = await get<{ AggregatedStatus: string }>('/v1/agent/health/service/id/api-1');
    expect([critical.status, critical.body.AggregatedStatus]).toEqual([503, 'critical']);
    await put('/v1/agent/check/pass/ttl');
    expect((await get('/v1/agent/health/service/id/api-1')).status).toBe(200);
    expect((await get('/v1/agent/health/service/name/api')).status).toBe(200);
    expect((await get('/v1/agent/health/service/id/missing')).status).toBe(404);
    expect((await put('/v1/agent/check/deregister/ttl')).status).toBe(200);
    expect((await get<Record<string, unknown>>('/v1/agent/checks')).body).not.toHaveProperty('ttl');
    const bad = await put('/v1/agent/check/register', {
      Name: 'x',
      TTL: '15s',
      DeregisterCriticalServiceAfter: 'nope',
    });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('invalid duration');
  });
});

describe('config entries', () => {
  it('defaults an intention source Type "" to consul, and stores service-defaults', async () => {
    const w = await put('/v1/config', {
      Kind: 'service-intentions',
      Name: 'db',
      Sources: [{ Name: 'web', Action: 'allow', Type: '' }],
    });
    expect(w.status).toBe(200);
    const read = await get<{ Sources: Array<{ Type: string }> }>('/v1/config/service-intentions/db');
    expect(read.body.Sources[0]?.Type).toBe('consul');
    expect((await put('/v1/config', { Kind: 'service-defaults', Name: 'db', Protocol: 'HTTP' })).status).toBe(
      200,
    );
    const sd = await get<{ Protocol: string }>('/v1/config/service-defaults/db');
    expect(sd.body.Protocol).toBe('http');
  });
});
