// A client we did not write — the `consul` npm package (v2) — against a real `meshpeer server`:
// agent and catalog registration, catalog and health reads, check updates, and blocking queries both
// as one call with `index` and through the client's own watch loop.
import Consul from 'consul';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

interface HealthEntry {
  Node: { Node: string };
  Service: { ID: string; Service: string; Port: number; Tags: string[] };
  Checks: Array<{ CheckID: string; Status: string }>;
}

interface CatalogEntry {
  Node: string;
  ServiceID: string;
  ServiceName: string;
  ServicePort: number;
  ServiceTags: string[];
}

let server: ServerProcess;
let consul: Consul;

beforeAll(async () => {
  server = await startServerProcess({ datacenter: 'dc-client' });
  const [host, port] = server.httpAddress.split(':');
  consul = new Consul({ host: host!, port: Number(port) });
});

afterAll(async () => {
  consul.destroy();
  await server.stop();
});

describe('the consul npm client against meshpeer', () => {
  it('registers an agent service with a TTL check and reads it from catalog and health', async () => {
    await consul.agent.service.register({
      name: 'billing',
      id: 'billing-1',
      port: 7000,
      tags: ['v1'],
      meta: { team: 'payments' },
      check: { ttl: '30s', status: 'passing' },
    });

    const services = (await consul.catalog.service.list()) as Record<string, string[]>;
    expect(services.billing).toEqual(['v1']);

    const nodes = (await consul.catalog.service.nodes('billing')) as CatalogEntry[];
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatchObject({
      Node: 'node-dc-client',
      ServiceID: 'billing-1',
      ServiceName: 'billing',
      ServicePort: 7000,
      ServiceTags: ['v1'],
    });

    const health = (await consul.health.service({ service: 'billing', passing: true })) as HealthEntry[];
    expect(health.map((h) => h.Service.ID)).toEqual(['billing-1']);
    // The server's own node carries its passing serfHealth node check, as a Consul server's does.
    expect(health[0]!.Checks.map((c) => [c.CheckID, c.Status])).toEqual([
      ['serfHealth', 'passing'],
      ['service:billing-1', 'passing'],
    ]);

    const checks = (await consul.health.checks('billing')) as Array<{ CheckID: string }>;
    expect(checks.map((c) => c.CheckID)).toEqual(['service:billing-1']);
  });

  it('fails and passes a TTL check through the agent check endpoints', async () => {
    await consul.agent.check.fail({ id: 'service:billing-1', note: 'down for maintenance' });
    expect((await consul.health.service({ service: 'billing', passing: true })) as unknown[]).toEqual([]);
    await consul.agent.check.pass('service:billing-1');
    expect((await consul.health.service({ service: 'billing', passing: true })) as unknown[]).toHaveLength(1);
  });

  it('registers and deregisters through the catalog endpoints', async () => {
    await consul.catalog.register({
      node: 'ext-node',
      address: '10.9.0.1',
      service: { id: 'ledger-1', service: 'ledger', port: 7100, tags: ['blue'] },
    });
    const nodes = (await consul.catalog.service.nodes({ service: 'ledger', tag: 'blue' })) as CatalogEntry[];
    expect(nodes.map((n) => [n.Node, n.ServiceID])).toEqual([['ext-node', 'ledger-1']]);
    const catalogNodes = (await consul.catalog.node.list()) as Array<{ Node: string }>;
    expect(catalogNodes.map((n) => n.Node)).toContain('ext-node');

    await consul.catalog.deregister({ node: 'ext-node', serviceid: 'ledger-1' });
    expect((await consul.catalog.service.nodes('ledger')) as unknown[]).toEqual([]);
  });

  it('a blocking health query made with the client returns when a registration raises the index', async () => {
    const { index } = await api(`${server.url}/v1/health/service/billing`);
    let settled = false;
    const blocking = (
      consul.health.service({ service: 'billing', index: String(index), wait: '20s' }) as Promise<
        HealthEntry[]
      >
    ).then((r) => {
      settled = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false);
    const t0 = Date.now();
    await consul.agent.service.register({ name: 'billing', id: 'billing-2', port: 7001 });
    const result = await blocking;
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(result.map((h) => h.Service.ID).sort()).toEqual(['billing-1', 'billing-2']);
  });

  it("the client's watch sees each change, driven by X-Consul-Index", async () => {
    const seen: string[][] = [];
    const errors: unknown[] = [];
    const watch = consul.watch({
      method: consul.health.service,
      options: { service: 'billing', wait: '10s' },
    });
    watch.on('change', (data: HealthEntry[]) => seen.push(data.map((h) => h.Service.ID).sort()));
    watch.on('error', (err: unknown) => errors.push(err));
    try {
      await eventually(async () => seen.length >= 1);
      expect(seen[0]).toEqual(['billing-1', 'billing-2']);
      await consul.agent.service.deregister('billing-2');
      await eventually(async () => seen.length >= 2);
      expect(seen[1]).toEqual(['billing-1']);
      await consul.agent.service.register({ name: 'billing', id: 'billing-3', port: 7002 });
      await eventually(async () => seen.length >= 3);
      expect(seen[2]).toEqual(['billing-1', 'billing-3']);
      expect(errors).toEqual([]);
    } finally {
      watch.end();
    }
  });

  it('surfaces a meshpeer validation error as a client error with the message', async () => {
    await expect(
      consul.agent.service.register({ name: 'bad', port: 'eighty' as unknown as number }),
    ).rejects.toThrow(/Port/);
  });
});
