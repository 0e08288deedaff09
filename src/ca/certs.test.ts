import { createPrivateKey, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { certInfo, spiffeIdOf } from './inspect.js';
import { issueLeaf, issueServerCert, renewAt } from './leaf.js';
import { createRootCa, type RootCa } from './root.js';
import { parseSpiffeId } from './spiffe.js';
import { parseTrustBundle, verifyChain } from './trust-bundle.js';
import { newTrustDomain } from './trust-domain.js';

let rootA: RootCa;
let rootB: RootCa;

beforeAll(async () => {
  rootA = await createRootCa({ clusterName: 'cluster-01', trustDomain: newTrustDomain() });
  rootB = await createRootCa({ clusterName: 'cluster-02', trustDomain: newTrustDomain() });
});

describe('root CA', () => {
  it('is a self-signed P-256 CA naming its trust domain', () => {
    const cert = new X509Certificate(rootA.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const info = certInfo(rootA.certPem);
    expect(info.isCa).toBe(true);
    expect(info.uris).toEqual([`spiffe://${rootA.trustDomain}`]);
    expect(cert.checkPrivateKey(createPrivateKey(rootA.keyPem))).toBe(true);
  });

  it('has a stable fingerprint id and a ten-year default lifetime', () => {
    const cert = new X509Certificate(rootA.certPem);
    expect(rootA.id).toBe(cert.fingerprint256.toLowerCase());
    const years = (Date.parse(rootA.notAfter) - Date.parse(rootA.notBefore)) / (365 * 86_400_000);
    expect(years).toBeGreaterThan(9.9);
  });

  it('refuses a bad trust domain or lifetime', async () => {
    await expect(createRootCa({ clusterName: 'c', trustDomain: 'Not A Domain' })).rejects.toMatchObject({
      kind: 'invalid',
    });
    await expect(createRootCa({ clusterName: 'c', trustDomain: 'x.consul', ttlDays: 0 })).rejects.toThrow(
      /ttlDays/,
    );
  });
});

describe('leaf certificates', () => {
  it('carry the SPIFFE ID as their only URI SAN, which round-trips', async () => {
    const leaf = await issueLeaf(rootA, { service: 'web', datacenter: 'dc1', dnsNames: ['web.local'] });
    expect(spiffeIdOf(leaf.certPem)).toBe(leaf.spiffeId);
    expect(parseSpiffeId(leaf.spiffeId)).toMatchObject({
      kind: 'service',
      trustDomain: rootA.trustDomain,
      service: 'web',
      datacenter: 'dc1',
      namespace: 'default',
    });
    const info = certInfo(leaf.certPem);
    expect(info.isCa).toBe(false);
    expect(info.dnsNames).toEqual([`web.default.dc1.internal.${rootA.trustDomain}`, 'web.local']);
    expect(info.serialNumber).toBe(leaf.serialNumber);
    expect(info.notAfter).toBe(leaf.validBefore);
    expect(leaf.rootId).toBe(rootA.id);
    const cert = new X509Certificate(leaf.certPem);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(cert.checkPrivateKey(createPrivateKey(leaf.keyPem))).toBe(true);
  });

  it('carry exactly the SNI names callers reach the service by, as DNS SANs', async () => {
    const td = rootA.trustDomain;
    const local = await issueLeaf(rootA, { service: 'web', datacenter: 'dc1' });
    expect(certInfo(local.certPem).dnsNames).toEqual([`web.default.dc1.internal.${td}`]);
    const exported = await issueLeaf(rootA, {
      service: 'web',
      datacenter: 'dc1',
      sniNames: [`web.default.default.p2.external.${td}`, `WEB.default.default.p1.external.${td}`],
    });
    expect(certInfo(exported.certPem).dnsNames).toEqual([
      `web.default.dc1.internal.${td}`,
      `web.default.default.p1.external.${td}`,
      `web.default.default.p2.external.${td}`,
    ]);
    expect(new X509Certificate(exported.certPem).checkHost(`web.default.default.p1.external.${td}`)).toBe(
      `web.default.default.p1.external.${td}`,
    );
    const dotted = await issueLeaf(rootA, { service: 'web.v2', datacenter: 'dc1' });
    expect(certInfo(dotted.certPem).dnsNames).toEqual([]);
  });

  it('refuse SNI names that are not the service’s own in the root’s trust domain', async () => {
    for (const name of [
      `api.default.dc1.internal.${rootA.trustDomain}`,
      `web.default.default.p1.external.${rootB.trustDomain}`,
      `web.default.dc2.internal.${rootA.trustDomain}`,
      'web.local',
    ]) {
      await expect(
        issueLeaf(rootA, { service: 'web', datacenter: 'dc1', sniNames: [name] }),
        name,
      ).rejects.toMatchObject({ kind: 'invalid' });
    }
    await expect(
      issueLeaf(rootA, { service: 'web.v2', datacenter: 'dc1', sniNames: ['x.default.dc1.internal.t'] }),
    ).rejects.toThrow(/not one DNS label/);
  });

  it('verifies against the root that issued it and not against another', async () => {
    const leaf = await issueLeaf(rootA, { service: 'web', datacenter: 'dc1' });
    expect(verifyChain(leaf.certPem, [rootA.certPem])).toBe(leaf.spiffeId);
    expect(verifyChain(leaf.certPem, [rootB.certPem, rootA.certPem])).toBe(leaf.spiffeId);
    expect(() => verifyChain(leaf.certPem, [rootB.certPem])).toThrow(/not signed by any trusted root/);
    expect(() => verifyChain(leaf.certPem, [])).toThrow(
      expect.objectContaining({ kind: 'permission-denied' }),
    );
  });

  it('refuses a certificate with the same names as a trusted root but another key', async () => {
    const impostor = await createRootCa({ clusterName: 'cluster-01', trustDomain: rootA.trustDomain });
    const leaf = await issueLeaf(impostor, { service: 'web', datacenter: 'dc1' });
    expect(() => verifyChain(leaf.certPem, [rootA.certPem])).toThrow(/not signed by any trusted root/);
  });

  it('refuses an expired certificate and one not yet valid', async () => {
    const issuedAt = new Date(Date.now() - 3 * 3_600_000);
    const leaf = await issueLeaf(rootA, { service: 'web', datacenter: 'dc1', ttlHours: 1, now: issuedAt });
    expect(() => verifyChain(leaf.certPem, [rootA.certPem])).toThrow(/expired at/);
    const fresh = await issueLeaf(rootA, { service: 'web', datacenter: 'dc1' });
    const past = new Date(Date.now() - 3_600_000);
    expect(() => verifyChain(fresh.certPem, [rootA.certPem], past)).toThrow(/not valid before/);
  });

  it('refuses to use a CA certificate as a workload identity', () => {
    expect(() => verifyChain(rootA.certPem, [rootA.certPem])).toThrow(/CA certificate/);
  });

  it('never outlives its root', async () => {
    const shortRoot = await createRootCa({ clusterName: 'c', trustDomain: newTrustDomain(), ttlDays: 1 });
    const leaf = await issueLeaf(shortRoot, { service: 'web', datacenter: 'dc1', ttlHours: 72 });
    expect(leaf.validBefore).toBe(shortRoot.notAfter);
  });

  it('rejects bad options with invalid errors', async () => {
    await expect(issueLeaf(rootA, { service: 'web', datacenter: 'dc1', ttlHours: -1 })).rejects.toThrow(
      /ttlHours/,
    );
    await expect(issueLeaf(rootA, { service: 'web', datacenter: 'dc1', ipAddresses: ['x'] })).rejects.toThrow(
      /not an IP/,
    );
    await expect(issueLeaf(rootA, { service: 'we b', datacenter: 'dc1' })).rejects.toMatchObject({
      kind: 'invalid',
    });
  });

  it('refuses a root record whose key does not match its certificate', async () => {
    const broken: RootCa = { ...rootA, id: 'broken', keyPem: rootB.keyPem };
    await expect(issueLeaf(broken, { service: 'web', datacenter: 'dc1' })).rejects.toThrow(/does not match/);
  });

  it('signs with a root key stored in SEC1 form, as Consul stores it', async () => {
    const sec1 = createPrivateKey(rootA.keyPem).export({ type: 'sec1', format: 'pem' }).toString();
    expect(sec1).toContain('BEGIN EC PRIVATE KEY');
    const leaf = await issueLeaf({ ...rootA, keyPem: sec1 }, { service: 'web', datacenter: 'dc1' });
    expect(verifyChain(leaf.certPem, [rootA.certPem])).toBe(leaf.spiffeId);
  });

  it('renews between 50 % and 60 % of the lifetime', async () => {
    const leaf = await issueLeaf(rootA, { service: 'web', datacenter: 'dc1', ttlHours: 10 });
    const start = Date.parse(leaf.validAfter);
    const life = Date.parse(leaf.validBefore) - start;
    expect(renewAt(leaf, () => 0).getTime()).toBe(start + life * 0.5);
    expect(renewAt(leaf, () => 0.999).getTime()).toBeLessThan(start + life * 0.6);
    const sampled = renewAt(leaf).getTime();
    expect(sampled).toBeGreaterThanOrEqual(start + life * 0.5);
    expect(sampled).toBeLessThan(start + life * 0.6);
  });
});

describe('server certificate', () => {
  it('names the peering server name, loopback, and the server SPIFFE ID', async () => {
    const cert = await issueServerCert(rootA, { datacenter: 'dc1', dnsNames: ['consul.example'] });
    const info = certInfo(cert.certPem);
    expect(info.dnsNames).toEqual([`server.dc1.peering.${rootA.trustDomain}`, 'localhost', 'consul.example']);
    expect(info.ipAddresses).toEqual(['127.0.0.1', '::1']);
    expect(cert.spiffeId).toBe(`spiffe://${rootA.trustDomain}/agent/server/dc/dc1`);
    const x = new X509Certificate(cert.certPem);
    expect(x.checkHost(`server.dc1.peering.${rootA.trustDomain}`)).toBeDefined();
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(verifyChain(cert.certPem, [rootA.certPem])).toBe(cert.spiffeId);
  });
});

describe('trust bundles', () => {
  it('accepts a well-formed bundle and names the bad field otherwise', () => {
    const bundle = { peerName: 'cluster-02', trustDomain: rootB.trustDomain, rootPems: [rootB.certPem] };
    expect(parseTrustBundle(bundle)).toEqual(bundle);
    expect(() => parseTrustBundle({ ...bundle, rootPems: [] })).toThrow(/rootPems/);
    expect(() => parseTrustBundle({ ...bundle, trustDomain: 'Bad Domain' })).toThrow(/trustDomain/);
    expect(() => parseTrustBundle({ ...bundle, peerName: '' })).toThrow(/peerName/);
  });

  it('refuses a leaf where a root is expected', async () => {
    const leaf = await issueLeaf(rootA, { service: 'web', datacenter: 'dc1' });
    const bundle = { peerName: 'p', trustDomain: rootA.trustDomain, rootPems: [leaf.certPem] };
    expect(() => parseTrustBundle(bundle)).toThrow(/rootPems\[0\]: must be a PEM CA certificate/);
  });
});
