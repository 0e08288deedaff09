// The CA's trust domain from a cluster ID (Consul's connect.ca_config.cluster_id): a new CA takes
// `<cluster-id>.consul`, an existing one keeps its own, and an ID that is not a UUID is refused.
// Service leaves: cached, and re-issued when the SNI names they must carry change.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { CertificateAuthority } from './authority.js';
import { certInfo } from './inspect.js';
import { trustDomainOfClusterId } from './trust-domain.js';

const ID = '11111111-2222-3333-4444-555555555555';
let store: Store;

beforeEach(() => {
  store = openStore({ backend: 'memory' });
});
afterEach(async () => {
  await store.close();
});

describe('CA cluster ID', () => {
  it('names the trust domain of a new CA, and is ignored by an existing one', async () => {
    const ca = await CertificateAuthority.open(store, 'dc1', [], { clusterId: ID });
    expect(ca.trustDomain).toBe(`${ID}.consul`);
    expect(ca.serverName).toBe(`server.dc1.peering.${ID}.consul`);
    const again = await CertificateAuthority.open(store, 'dc1', [], {
      clusterId: 'aaaaaaaa-2222-3333-4444-555555555555',
    });
    expect(again.trustDomain).toBe(`${ID}.consul`);
    expect(again.root.id).toBe(ca.root.id);
  });

  it('without one, a new CA gets a fresh <uuid>.consul', async () => {
    const ca = await CertificateAuthority.open(store, 'dc1');
    expect(ca.trustDomain).toMatch(/^[0-9a-f-]{36}\.consul$/);
    expect(ca.trustDomain).not.toBe(`${ID}.consul`);
  });

  it('must be a UUID; upper case is taken as lower case', () => {
    expect(trustDomainOfClusterId(ID.toUpperCase())).toBe(`${ID}.consul`);
    expect(() => trustDomainOfClusterId('my-cluster')).toThrow(
      'cluster ID "my-cluster" is not valid: it must be a UUID',
    );
  });
});

describe('service leaves', () => {
  it('are reused while the export set is the same, re-issued with a larger index when it changes', async () => {
    const ca = await CertificateAuthority.open(store, 'dc1');
    const td = ca.trustDomain;
    const first = await ca.leaf('web');
    expect(first.sniNames).toEqual([`web.default.dc1.internal.${td}`]);
    expect(certInfo(first.certPem).dnsNames).toEqual(first.sniNames);
    expect(await ca.leaf('web', { exportedToPeers: [] })).toBe(first);

    const exported = await ca.leaf('web', { exportedToPeers: ['p1'] });
    expect(exported.serialNumber).not.toBe(first.serialNumber);
    expect(exported.index).toBeGreaterThan(first.index);
    expect(certInfo(exported.certPem).dnsNames).toEqual([
      `web.default.dc1.internal.${td}`,
      `web.default.default.p1.external.${td}`,
    ]);
    expect(await ca.leaf('web', { exportedToPeers: ['p1'] })).toBe(exported);

    const unexported = await ca.leaf('web');
    expect(unexported.index).toBeGreaterThan(exported.index);
    expect(certInfo(unexported.certPem).dnsNames).toEqual([`web.default.dc1.internal.${td}`]);
  });

  it('are issued once for callers asking at the same time, and per service', async () => {
    const ca = await CertificateAuthority.open(store, 'dc1');
    const [a, b] = await Promise.all([ca.leaf('api'), ca.leaf('api')]);
    expect(b).toBe(a);
    const other = await ca.leaf('db');
    expect(other.spiffeId).toMatch(/\/svc\/db$/);
    expect(other.index).toBeGreaterThan(a.index);
    expect(await ca.leaf('api')).toBe(a);
  });
});
