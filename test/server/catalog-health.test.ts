// The catalog and health endpoints of a real `meshpeer server`, driven over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

interface HealthEntry {
  Node: { Node: string; Address: string; Datacenter: string };
  Service: { ID: string; Service: string; Kind: string; Port: number; Tags: string[]; PeerName?: string };
  Checks: Array<{ CheckID: string; Status: string; ServiceID: string }>;
}

interface CatalogServiceEntry {
  Node: string;
  Address: string;
  ServiceID: string;
  ServiceName: string;
  ServicePort: number;
  ServiceTags: string[];
  CreateIndex: number;
  ModifyIndex: number;
}

let server: ServerProcess;
let url: string;

beforeAll(async () => {
  server = await startServerProcess({ datacenter: 'dc-catalog' });
  url = server.url;
});

afterAll(async () => {
  await server.stop();
});

function register(body: unknown) {
  return api(`${url}/v1/catalog/register`, { method: 'PUT', json: body });
}

describe('catalog registration', () => {
  it('registers a node with a service and a check, and lists them in catalog and health reads', async () => {
    const r = await register({
      Node: 'web-node-1',
      Address: '10.0.0.1',
      Service: { ID: 'web-1', Service: 'web', Port: 8080, Tags: ['blue', 'v1'] },
      Check: { Name: 'web alive', Status: 'passing', ServiceID: 'web-1' },
    });
    expect(r.status).toBe(200);
    expect(r.body).toBe(true);

    const services = await api<Record<string, string[]>>(`${url}/v1/catalog/services`);
    expect(services.status).toBe(200);
    expect(services.body.web).toEqual(['blue', 'v1']);
    expect(services.index).toBeGreaterThan(0);

    const nodes = await api<Array<{ Node: string; Address: string; Datacenter: string }>>(
      `${url}/v1/catalog/nodes`,
    );
    expect(nodes.body).toContainEqual(
      expect.objectContaining({ Node: 'web-node-1', Address: '10.0.0.1', Datacenter: 'dc-catalog' }),
    );

    const svc = await api<CatalogServiceEntry[]>(`${url}/v1/catalog/service/web`);
    expect(svc.body).toHaveLength(1);
    expect(svc.body[0]).toMatchObject({
      Node: 'web-node-1',
      Address: '10.0.0.1',
      ServiceID: 'web-1',
      ServiceName: 'web',
      ServicePort: 8080,
      ServiceTags: ['blue', 'v1'],
    });
    expect(svc.body[0]!.CreateIndex).toBeGreaterThan(0);
    expect(svc.body[0]!.ModifyIndex).toBeLessThanOrEqual(svc.index);

    const health = await api<HealthEntry[]>(`${url}/v1/health/service/web`);
    expect(health.body).toHaveLength(1);
    expect(health.body[0]!.Service).toMatchObject({ ID: 'web-1', Port: 8080 });
    expect(health.body[0]!.Checks).toEqual([
      expect.objectContaining({ CheckID: 'service:web-1', Status: 'passing', ServiceID: 'web-1' }),
    ]);

    const checks = await api<Array<{ CheckID: string; Name: string }>>(`${url}/v1/health/checks/web`);
    expect(checks.body).toEqual([expect.objectContaining({ CheckID: 'service:web-1', Name: 'web alive' })]);
  });

  it('filters health reads by ?passing and ?tag, and catalog service reads by ?tag', async () => {
    await register({
      Node: 'web-node-2',
      Address: '10.0.0.2',
      Service: { ID: 'web-2', Service: 'web', Port: 8080, Tags: ['green'] },
      Check: { Name: 'web alive', Status: 'critical', ServiceID: 'web-2' },
    });
    const all = await api<HealthEntry[]>(`${url}/v1/health/service/web`);
    expect(all.body.map((h) => h.Service.ID).sort()).toEqual(['web-1', 'web-2']);

    const passing = await api<HealthEntry[]>(`${url}/v1/health/service/web?passing`);
    expect(passing.body.map((h) => h.Service.ID)).toEqual(['web-1']);
    const passingTrue = await api<HealthEntry[]>(`${url}/v1/health/service/web?passing=true`);
    expect(passingTrue.body.map((h) => h.Service.ID)).toEqual(['web-1']);

    const green = await api<HealthEntry[]>(`${url}/v1/health/service/web?tag=green`);
    expect(green.body.map((h) => h.Service.ID)).toEqual(['web-2']);
    const greenPassing = await api<HealthEntry[]>(`${url}/v1/health/service/web?tag=green&passing`);
    expect(greenPassing.body).toEqual([]);

    const blue = await api<CatalogServiceEntry[]>(`${url}/v1/catalog/service/web?tag=blue`);
    expect(blue.body.map((s) => s.ServiceID)).toEqual(['web-1']);
  });

  it('a node-level check that is failing makes every service on the node fail ?passing', async () => {
    await register({
      Node: 'db-node',
      Address: '10.0.1.1',
      Service: { ID: 'db-1', Service: 'db', Port: 5432 },
      Checks: [
        { Name: 'db alive', Status: 'passing', ServiceID: 'db-1' },
        { CheckID: 'serfHealth', Name: 'node alive', Status: 'passing' },
      ],
    });
    expect((await api<HealthEntry[]>(`${url}/v1/health/service/db?passing`)).body).toHaveLength(1);
    await register({
      Node: 'db-node',
      Address: '10.0.1.1',
      SkipNodeUpdate: true,
      Check: { CheckID: 'serfHealth', Name: 'node alive', Status: 'critical' },
    });
    const h = await api<HealthEntry[]>(`${url}/v1/health/service/db`);
    expect(h.body[0]!.Checks.map((c) => [c.CheckID, c.Status]).sort()).toEqual([
      ['serfHealth', 'critical'],
      ['service:db-1', 'passing'],
    ]);
    expect((await api<HealthEntry[]>(`${url}/v1/health/service/db?passing`)).body).toEqual([]);
  });

  it('deregisters one service, then a whole node with its services and checks', async () => {
    await register({
      Node: 'cache-node',
      Address: '10.0.2.1',
      Service: { ID: 'cache-1', Service: 'cache', Port: 6379 },
      Check: { Name: 'cache alive', Status: 'passing', ServiceID: 'cache-1' },
    });
    await register({
      Node: 'cache-node',
      Address: '10.0.2.1',
      Service: { ID: 'cache-2', Service: 'cache', Port: 6380 },
    });
    const one = await api(`${url}/v1/catalog/deregister`, {
      method: 'PUT',
      json: { Node: 'cache-node', ServiceID: 'cache-1' },
    });
    expect(one.status).toBe(200);
    const after = await api<HealthEntry[]>(`${url}/v1/health/service/cache`);
    expect(after.body.map((h) => h.Service.ID)).toEqual(['cache-2']);
    expect((await api<unknown[]>(`${url}/v1/health/checks/cache`)).body).toEqual([]);

    const node = await api(`${url}/v1/catalog/deregister`, { method: 'PUT', json: { Node: 'cache-node' } });
    expect(node.status).toBe(200);
    expect((await api<unknown[]>(`${url}/v1/health/service/cache`)).body).toEqual([]);
    const services = await api<Record<string, string[]>>(`${url}/v1/catalog/services`);
    expect(services.body.cache).toBeUndefined();
    const nodes = await api<Array<{ Node: string }>>(`${url}/v1/catalog/nodes`);
    expect(nodes.body.map((n) => n.Node)).not.toContain('cache-node');
  });

  it('answers 404 with a message when deregistering a node that does not exist', async () => {
    const r = await api(`${url}/v1/catalog/deregister`, { method: 'PUT', json: { Node: 'no-such-node' } });
    expect(r.status).toBe(404);
    expect(r.text).toContain('no-such-node');
  });

  it('registering the same thing twice does not raise the index', async () => {
    const body = {
      Node: 'idem-node',
      Address: '10.0.3.1',
      Service: { ID: 'idem-1', Service: 'idem', Port: 1 },
      Check: { Name: 'idem alive', Status: 'passing', ServiceID: 'idem-1' },
    };
    await register(body);
    const before = (await api(`${url}/v1/catalog/services`)).index;
    await register(body);
    expect((await api(`${url}/v1/catalog/services`)).index).toBe(before);
  });

  it('returns an empty result, not an error, for ?peer= naming a peer that does not exist', async () => {
    for (const path of [
      '/v1/catalog/services',
      '/v1/catalog/nodes',
      '/v1/catalog/service/web',
      '/v1/health/service/web',
      '/v1/health/connect/web',
      '/v1/health/checks/web',
    ]) {
      const r = await api(`${url}${path}?peer=unknown`);
      expect(r.status, path).toBe(200);
      expect(r.body, path).toEqual(path === '/v1/catalog/services' ? {} : []);
      expect(r.index, path).toBeGreaterThan(0);
    }
  });
});

describe('agent service registration', () => {
  it('registers a service with a TTL check on the server node, which starts critical and passes on update', async () => {
    const r = await api(`${url}/v1/agent/service/register`, {
      method: 'PUT',
      json: { Name: 'api', ID: 'api-1', Port: 9000, Tags: ['blue'], Check: { TTL: '10s' } },
    });
    expect(r.status).toBe(200);
    const h = await api<HealthEntry[]>(`${url}/v1/health/service/api`);
    expect(h.body).toHaveLength(1);
    expect(h.body[0]!.Node.Node).toBe('node-dc-catalog');
    // The server's own node carries its passing serfHealth node check, as a Consul server's does.
    expect(h.body[0]!.Checks.map((c) => [c.CheckID, c.Status])).toEqual([
      ['serfHealth', 'passing'],
      ['service:api-1', 'critical'],
    ]);
    expect((await api<HealthEntry[]>(`${url}/v1/health/service/api?passing`)).body).toEqual([]);

    expect((await api(`${url}/v1/agent/check/pass/service:api-1`, { method: 'PUT' })).status).toBe(200);
    expect((await api<HealthEntry[]>(`${url}/v1/health/service/api?passing`)).body).toHaveLength(1);
  });

  it('registers a connect-proxy that /v1/health/connect returns for the service it fronts', async () => {
    const r = await api(`${url}/v1/agent/service/register`, {
      method: 'PUT',
      json: {
        Name: 'api-sidecar-proxy',
        ID: 'api-1-sidecar',
        Kind: 'connect-proxy',
        Port: 21000,
        Proxy: { DestinationServiceName: 'api', DestinationServiceID: 'api-1' },
      },
    });
    expect(r.status).toBe(200);
    const c = await api<HealthEntry[]>(`${url}/v1/health/connect/api`);
    expect(c.status).toBe(200);
    expect(c.body.map((h) => [h.Service.ID, h.Service.Kind, h.Service.Port])).toEqual([
      ['api-1-sidecar', 'connect-proxy', 21000],
    ]);
    expect((await api<HealthEntry[]>(`${url}/v1/health/connect/web`)).body).toEqual([]);
  });

  it('registers a mesh gateway as a service of kind mesh-gateway', async () => {
    await api(`${url}/v1/agent/service/register`, {
      method: 'PUT',
      json: { Name: 'mesh-gateway', Kind: 'mesh-gateway', Port: 8443 },
    });
    const h = await api<HealthEntry[]>(`${url}/v1/health/service/mesh-gateway`);
    expect(h.body.map((e) => [e.Service.ID, e.Service.Kind])).toEqual([['mesh-gateway', 'mesh-gateway']]);
  });

  it('deregisters an agent service with its checks and its proxy entry, and 404s an unknown ID', async () => {
    const d = await api(`${url}/v1/agent/service/deregister/api-1-sidecar`, { method: 'PUT' });
    expect(d.status).toBe(200);
    expect((await api<unknown[]>(`${url}/v1/health/connect/api`)).body).toEqual([]);
    await api(`${url}/v1/agent/service/deregister/api-1`, { method: 'PUT' });
    expect((await api<unknown[]>(`${url}/v1/health/service/api`)).body).toEqual([]);
    expect((await api<unknown[]>(`${url}/v1/health/checks/api`)).body).toEqual([]);

    const missing = await api(`${url}/v1/agent/service/deregister/api-1`, { method: 'PUT' });
    expect(missing.status).toBe(404);
    expect(missing.text).toContain('api-1');
  });
});

describe('X-Consul-Index', () => {
  it('is on every read, at least 1, and rises with each write that changes the catalog', async () => {
    const reads = [
      '/v1/catalog/services',
      '/v1/catalog/nodes',
      '/v1/catalog/service/web',
      '/v1/health/service/web',
      '/v1/health/connect/web',
      '/v1/health/checks/web',
      '/v1/config/mesh',
      '/v1/config/service-resolver',
    ];
    const before = new Map<string, number>();
    for (const path of reads) {
      const r = await api(`${url}${path}`);
      expect(r.status, path).toBe(200);
      expect(r.headers.get('x-consul-index'), path).toMatch(/^[1-9]\d*$/);
      before.set(path, r.index);
    }
    await register({ Node: 'index-node', Address: '10.0.9.1', Service: { Service: 'web', Port: 1 } });
    for (const path of reads.filter((p) => !p.startsWith('/v1/config'))) {
      expect((await api(`${url}${path}`)).index, path).toBeGreaterThan(before.get(path)!);
    }
  });
});
