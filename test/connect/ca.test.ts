import { X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue, request } from '../server/support.js';
import { api, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

let server: ServerProcess;

beforeAll(async () => {
  server = await startServerProcess({ datacenter: 'ca-dc', dataDir: 'temp' });
});
afterAll(async () => {
  await server.stop();
  if (server.dataDir) rmSync(server.dataDir, { recursive: true, force: true });
});

interface Roots {
  ActiveRootID: string;
  TrustDomain: string;
  Roots: Array<{ ID: string; RootCert: string; Active: boolean }>;
}
interface Leaf {
  SerialNumber: string;
  CertPEM: string;
  PrivateKeyPEM: string;
  ServiceURI: string;
  ValidAfter: string;
  ValidBefore: string;
  ModifyIndex: number;
}

describe('the connect CA endpoints', () => {
  it('serves the active root with the cluster’s trust domain', async () => {
    const r = await api<Roots>(`${server.url}/v1/connect/ca/roots`);
    expect(r.status).toBe(200);
    expect(r.body.TrustDomain).toMatch(/^[0-9a-f-]{36}\.consul$/);
    expect(r.body.Roots).toHaveLength(1);
    expect(r.body.Roots[0]?.ID).toBe(r.body.ActiveRootID);
    expect(new X509Certificate(r.body.Roots[0]?.RootCert ?? '').ca).toBe(true);
  });

  it('issues a leaf signed by the root with the service’s SPIFFE ID', async () => {
    const roots = (await api<Roots>(`${server.url}/v1/connect/ca/roots`)).body;
    const leaf = (await api<Leaf>(`${server.url}/v1/agent/connect/ca/leaf/web`)).body;
    expect(leaf.ServiceURI).toBe(`spiffe://${roots.TrustDomain}/ns/default/dc/ca-dc/svc/web`);
    const cert = new X509Certificate(leaf.CertPEM);
    expect(cert.verify(new X509Certificate(roots.Roots[0]?.RootCert ?? '').publicKey)).toBe(true);
    expect(cert.subjectAltName).toContain(leaf.ServiceURI);
  });

  it('blocks a leaf query whose index is current until wait elapses, then returns the same leaf', async () => {
    const first = await api<Leaf>(`${server.url}/v1/agent/connect/ca/leaf/api`);
    const t0 = Date.now();
    const again = await api<Leaf>(
      `${server.url}/v1/agent/connect/ca/leaf/api?index=${first.index}&wait=300ms`,
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(again.body.SerialNumber).toBe(first.body.SerialNumber);
    expect(again.index).toBe(first.index);
  });

  it('names in the leaf the SNI names callers reach the service by, following its exports', async () => {
    const td = (await api<Roots>(`${server.url}/v1/connect/ca/roots`)).body.TrustDomain;
    const local = `billing.default.ca-dc.internal.${td}`;
    const viaP1 = `billing.default.default.p1.external.${td}`;
    const dnsNames = (pem: string) =>
      (new X509Certificate(pem).subjectAltName ?? '')
        .split(', ')
        .filter((san) => san.startsWith('DNS:'))
        .map((san) => san.slice(4));
    const blocked = async () =>
      metricValue((await request(`${server.url}/metrics`)).text, 'meshpeer_http_blocking_queries');
    const leafUrl = `${server.url}/v1/agent/connect/ca/leaf/billing`;
    const writeExports = (services: unknown[]) =>
      api(`${server.url}/v1/config`, {
        json: { Kind: 'exported-services', Name: 'default', Services: services },
      });

    const first = await api<Leaf>(leafUrl);
    expect(dnsNames(first.body.CertPEM)).toEqual([local]);

    // A query blocked on the current leaf: an unrelated config write does not answer it, the export does.
    const idle = await blocked();
    const exportedQuery = api<Leaf>(`${leafUrl}?index=${first.index}&wait=50s`);
    await eventually(async () => (await blocked()) > idle);
    const other = await api(`${server.url}/v1/config`, {
      json: { Kind: 'service-defaults', Name: 'billing', Protocol: 'tcp' },
    });
    expect(other.status).toBe(200);
    expect((await writeExports([{ Name: 'billing', Consumers: [{ Peer: 'p1' }] }])).status).toBe(200);
    const exported = await exportedQuery;
    expect(exported.body.SerialNumber).not.toBe(first.body.SerialNumber);
    expect(exported.index).toBeGreaterThan(first.index);
    expect(exported.body.ModifyIndex).toBe(exported.index);
    expect(dnsNames(exported.body.CertPEM)).toEqual([local, viaP1]);
    expect(new X509Certificate(exported.body.CertPEM).checkHost(viaP1)).toBe(viaP1);

    // Asking again without a change gives the same leaf; removing the export drops the name.
    expect((await api<Leaf>(leafUrl)).body.SerialNumber).toBe(exported.body.SerialNumber);
    const removedQuery = api<Leaf>(`${leafUrl}?index=${exported.index}&wait=50s`);
    await eventually(async () => (await blocked()) > idle);
    expect((await writeExports([{ Name: 'other', Consumers: [{ Peer: 'p1' }] }])).status).toBe(200);
    const removed = await removedQuery;
    expect(removed.index).toBeGreaterThan(exported.index);
    expect(dnsNames(removed.body.CertPEM)).toEqual([local]);
  });

  it('keeps the same root across a restart', async () => {
    const before = (await api<Roots>(`${server.url}/v1/connect/ca/roots`)).body.ActiveRootID;
    const dataDir = server.dataDir as string;
    await server.kill();
    server = await startServerProcess({ datacenter: 'ca-dc', dataDir });
    const after = (await api<Roots>(`${server.url}/v1/connect/ca/roots`)).body.ActiveRootID;
    expect(after).toBe(before);
  });
});
