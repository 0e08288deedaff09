// The CA's trust domain from a cluster ID (Consul's connect.ca_config.cluster_id): a new CA takes
// `<cluster-id>.consul`, an existing one keeps its own, and an ID that is not a UUID is refused.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { CertificateAuthority } from './authority.js';
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
