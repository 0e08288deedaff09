import { X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

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

  it('keeps the same root across a restart', async () => {
    const before = (await api<Roots>(`${server.url}/v1/connect/ca/roots`)).body.ActiveRootID;
    const dataDir = server.dataDir as string;
    await server.kill();
    server = await startServerProcess({ datacenter: 'ca-dc', dataDir });
    const after = (await api<Roots>(`${server.url}/v1/connect/ca/roots`)).body.ActiveRootID;
    expect(after).toBe(before);
  });
});
