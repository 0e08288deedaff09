// Replication over an ACTIVE peering: exports appear in the importer under ?peer=, narrowing or removing
// them removes the import, deregistration and health changes propagate, and blocking queries on the
// importer wake promptly on a change.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  Cluster,
  converge,
  deregister,
  exportServices,
  type HealthEntry,
  health,
  importedServices,
  instanceSet,
  peer,
  readPeering,
  register,
  registerGateway,
  type ServerProcess,
} from './helpers.js';

const cluster = new Cluster();
afterAll(() => cluster.stopAll());

describe('export and un-export', () => {
  let exporter: ServerProcess;
  let importer: ServerProcess;
  // The exporter calls the importer "importer"; the importer calls the exporter "exporter".
  const EXPORTER = 'exporter';
  const IMPORTER = 'importer';

  beforeAll(async () => {
    [exporter, importer] = await Promise.all([cluster.start('exporter-dc'), cluster.start('importer-dc')]);
    await peer(exporter, importer, EXPORTER, IMPORTER);
    await registerGateway(exporter, 8443);
    await register(exporter, { node: 'node-a', service: 'web', id: 'web-1', port: 9001 });
    await register(exporter, { node: 'node-b', service: 'web', id: 'web-2', port: 9002 });
    await register(exporter, { node: 'node-a', service: 'api', id: 'api-1', port: 9100 });
    await register(exporter, { node: 'node-a', service: 'private', id: 'private-1' });
  });

  it('an exported-services entry makes the import appear under ?peer= with PeerName set', async () => {
    // Nothing is exported yet.
    expect(await importedServices(importer, EXPORTER)).toEqual([]);
    await exportServices(exporter, { web: [IMPORTER], api: [IMPORTER] });
    await converge(() => importedServices(importer, EXPORTER), ['api', 'web']);
    await converge(
      () => instanceSet(importer, 'web', EXPORTER),
      ['node-a/web-1:passing', 'node-b/web-2:passing'],
    );

    const { body } = await health(importer, 'web', EXPORTER);
    for (const h of body) {
      expect(h.Node.PeerName).toBe(EXPORTER);
      expect(h.Service.PeerName).toBe(EXPORTER);
      for (const c of h.Checks) expect(c.PeerName).toBe(EXPORTER);
      // Instances point at the exporter's mesh gateway, with the SNI that routes to the service.
      expect(h.Service.Address).toBe('127.0.0.1');
      expect(h.Service.Port).toBe(8443);
      expect(Object.values(h.Service.Meta).join(' ')).toMatch(/^web\.default\.default\.importer\.external\./);
    }

    const connect = await api<HealthEntry[]>(`${importer.url}/v1/health/connect/web?peer=${EXPORTER}`);
    expect(connect.status).toBe(200);
    expect(connect.body.map((h) => h.Service.ID).sort()).toEqual(['web-1', 'web-2']);
    for (const h of connect.body) {
      expect(h.Service.PeerName).toBe(EXPORTER);
      expect(h.Node.PeerName).toBe(EXPORTER);
    }

    const catalogService = await api<Array<{ ServiceID: string; PeerName?: string }>>(
      `${importer.url}/v1/catalog/service/web?peer=${EXPORTER}`,
    );
    expect(catalogService.body.map((s) => [s.ServiceID, s.PeerName]).sort()).toEqual([
      ['web-1', EXPORTER],
      ['web-2', EXPORTER],
    ]);

    // Imports never leak into the local catalog, and a service that is not exported is not imported.
    expect((await health(importer, 'web', '')).body).toEqual([]);
    expect(await instanceSet(importer, 'private', EXPORTER)).toEqual([]);
    const local = await api<Record<string, string[]>>(`${importer.url}/v1/catalog/services`);
    expect(Object.keys(local.body)).not.toContain('web');

    const p = await readPeering(importer, EXPORTER);
    expect(p?.StreamStatus.ImportedServices.sort()).toEqual(['api', 'web']);
    const e = await readPeering(exporter, IMPORTER);
    expect(e?.StreamStatus.ExportedServices.sort()).toEqual(['api', 'web']);
  });

  it('a health change propagates and ?passing filters it; recovery propagates back', async () => {
    await register(exporter, { node: 'node-b', service: 'web', id: 'web-2', port: 9002, status: 'critical' });
    await converge(
      () => instanceSet(importer, 'web', EXPORTER),
      ['node-a/web-1:passing', 'node-b/web-2:critical'],
    );
    const passing = await health(importer, 'web', EXPORTER, '&passing');
    expect(passing.body.map((h) => h.Service.ID)).toEqual(['web-1']);

    await register(exporter, { node: 'node-b', service: 'web', id: 'web-2', port: 9002, status: 'passing' });
    await converge(async () => (await health(importer, 'web', EXPORTER, '&passing')).body.length, 2);
  });

  it("the importer's blocking query returns promptly on a change", async () => {
    const first = await health(importer, 'web', EXPORTER);
    expect(first.index).toBeGreaterThan(0);
    const started = Date.now();
    const blocked = api<HealthEntry[]>(
      `${importer.url}/v1/health/service/web?peer=${EXPORTER}&index=${first.index}&wait=30s`,
    );
    // The query must not return before there is a change.
    const early = await Promise.race([blocked.then(() => 'returned'), sleepValue(300, 'waiting')]);
    expect(early).toBe('waiting');
    const changedAt = Date.now();
    await register(exporter, { node: 'node-c', service: 'web', id: 'web-3', port: 9003 });
    const res = await blocked;
    const latency = Date.now() - changedAt;
    expect(res.status).toBe(200);
    expect(res.index).toBeGreaterThan(first.index);
    expect(res.body.map((h) => h.Service.ID).sort()).toEqual(['web-1', 'web-2', 'web-3']);
    expect(latency, `blocking query returned ${latency} ms after the change`).toBeLessThan(2000);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a change elsewhere on the exporter does not wake the import needlessly', async () => {
    const before = await health(importer, 'web', EXPORTER);
    // A local registration on the exporter that is not exported changes nothing the importer holds.
    await register(exporter, { node: 'node-a', service: 'private', id: 'private-2' });
    const res = await api(
      `${importer.url}/v1/health/service/web?peer=${EXPORTER}&index=${before.index}&wait=1s`,
    );
    expect(res.index).toBe(before.index);
  });

  it('deregistering an instance removes it from the import', async () => {
    await deregister(exporter, 'node-c', 'web-3');
    await converge(
      () => instanceSet(importer, 'web', EXPORTER),
      ['node-a/web-1:passing', 'node-b/web-2:passing'],
    );
    // The imported node without services is gone too.
    const nodes = await api<Array<{ Node: string }>>(`${importer.url}/v1/catalog/nodes?peer=${EXPORTER}`);
    expect(nodes.body.map((n) => n.Node).sort()).toEqual(['node-a', 'node-b']);
  });

  it('narrowing Consumers removes the import; widening brings it back', async () => {
    await exportServices(exporter, { web: [IMPORTER], api: ['someone-else'] });
    await converge(() => importedServices(importer, EXPORTER), ['web']);
    expect((await health(importer, 'api', EXPORTER)).body).toEqual([]);
    const p = await readPeering(exporter, IMPORTER);
    expect(p?.StreamStatus.ExportedServices).toEqual(['web']);

    await exportServices(exporter, { web: [IMPORTER], api: [IMPORTER] });
    await converge(() => importedServices(importer, EXPORTER), ['api', 'web']);
  });

  it('deleting the exported-services entry removes every import', async () => {
    const r = await api(`${exporter.url}/v1/config/exported-services/default`, { method: 'DELETE' });
    expect(r.status).toBe(200);
    await converge(() => importedServices(importer, EXPORTER), []);
    const nodes = await api<unknown[]>(`${importer.url}/v1/catalog/nodes?peer=${EXPORTER}`);
    expect(nodes.body).toEqual([]);
  });

  it('a wildcard export covers every service but not gateways; deregistering the last instance drops it', async () => {
    const r = await api(`${exporter.url}/v1/config`, {
      method: 'PUT',
      json: {
        Kind: 'exported-services',
        Name: 'default',
        Services: [{ Name: '*', Consumers: [{ Peer: IMPORTER }] }],
      },
    });
    expect(r.status, r.text).toBe(200);
    await converge(() => importedServices(importer, EXPORTER), ['api', 'private', 'web']);
    await deregister(exporter, 'node-a', 'api-1');
    await converge(() => importedServices(importer, EXPORTER), ['private', 'web']);
  });
});

// The exporter recomputes only the services a change touched; these are the changes that reach a
// service indirectly (its node, a node-level check, the gateway its instances point at).
describe('incremental export follows indirect changes', () => {
  let exporter: ServerProcess;
  let importer: ServerProcess;

  beforeAll(async () => {
    [exporter, importer] = await Promise.all([cluster.start('inc-exporter'), cluster.start('inc-importer')]);
    await peer(exporter, importer, 'exporter', 'importer');
    await registerGateway(exporter, 8443);
    await register(exporter, { node: 'n1', service: 'alpha', id: 'alpha-1' });
    await register(exporter, { node: 'n1', service: 'beta', id: 'beta-1' });
    await register(exporter, { node: 'n2', service: 'alpha', id: 'alpha-2' });
    await exportServices(exporter, { alpha: ['importer'], beta: ['importer'], gamma: ['importer'] });
    await converge(() => importedServices(importer, 'exporter'), ['alpha', 'beta']);
  });

  const ports = async (service: string) => [
    ...new Set((await health(importer, service, 'exporter')).body.map((h) => h.Service.Port)),
  ];

  it('a gateway that moves re-points every exported instance', async () => {
    expect(await ports('alpha')).toEqual([8443]);
    await registerGateway(exporter, 9443);
    await converge(() => ports('alpha'), [9443]);
    await converge(() => ports('beta'), [9443]);
  });

  it('a node-level check applies to every service on the node', async () => {
    const r = await api(`${exporter.url}/v1/catalog/register`, {
      method: 'PUT',
      json: {
        Node: 'n1',
        Address: '10.0.0.1',
        Check: { CheckID: 'node-health', Name: 'node', Status: 'critical' },
      },
    });
    expect(r.status, r.text).toBe(200);
    const passing = async (service: string) =>
      (await health(importer, service, 'exporter', '&passing')).body.map((h) => h.Service.ID).sort();
    await converge(() => passing('alpha'), ['alpha-2']);
    await converge(() => passing('beta'), []);
    // Deregistering just that check clears it everywhere.
    const d = await api(`${exporter.url}/v1/catalog/deregister`, {
      method: 'PUT',
      json: { Node: 'n1', CheckID: 'node-health' },
    });
    expect(d.status, d.text).toBe(200);
    await converge(() => passing('alpha'), ['alpha-1', 'alpha-2']);
    await converge(() => passing('beta'), ['beta-1']);
  });

  it('a node address change reaches its services', async () => {
    const nodeAddress = async () =>
      (await health(importer, 'beta', 'exporter')).body.map((h) => h.Node.Address);
    await register(exporter, { node: 'n1', service: 'beta', id: 'beta-1', address: '10.0.0.1' });
    await converge(nodeAddress, ['10.0.0.1']);
    const r = await api(`${exporter.url}/v1/catalog/register`, {
      method: 'PUT',
      json: { Node: 'n1', Address: '10.0.0.99' },
    });
    expect(r.status, r.text).toBe(200);
    await converge(nodeAddress, ['10.0.0.99']);
  });

  it('a service instance renamed under the same ID moves between imports; a named export appears when registered', async () => {
    await register(exporter, { node: 'n2', service: 'gamma', id: 'alpha-2' });
    await converge(() => instanceSet(importer, 'alpha', 'exporter'), ['n1/alpha-1:passing']);
    await converge(() => instanceSet(importer, 'gamma', 'exporter'), ['n2/alpha-2:passing']);
    await converge(() => importedServices(importer, 'exporter'), ['alpha', 'beta', 'gamma']);
  });

  it('an agent TTL check update propagates', async () => {
    const r = await api(`${exporter.url}/v1/agent/service/register`, {
      method: 'PUT',
      json: { Name: 'beta', ID: 'beta-agent', Port: 7001, Check: { CheckID: 'beta-ttl', TTL: '30s' } },
    });
    expect(r.status, r.text).toBe(200);
    const status = async () =>
      (await health(importer, 'beta', 'exporter')).body
        .filter((h) => h.Service.ID === 'beta-agent')
        .flatMap((h) => h.Checks.filter((c) => c.CheckID === 'beta-ttl').map((c) => c.Status));
    await converge(status, ['critical']);
    const pass = await api(`${exporter.url}/v1/agent/check/pass/beta-ttl`, { method: 'PUT' });
    expect(pass.status, pass.text).toBe(200);
    await converge(status, ['passing']);
  });
});

function sleepValue<T>(ms: number, value: T): Promise<T> {
  return new Promise((r) => setTimeout(() => r(value), ms));
}
