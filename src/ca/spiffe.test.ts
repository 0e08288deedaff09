import { describe, expect, it } from 'vitest';
import { parseServiceSpiffeId, parseSpiffeId, serverSpiffeId, serviceSpiffeId } from './spiffe.js';
import { newTrustDomain, peeringServerName } from './trust-domain.js';

const td = '11111111-2222-3333-4444-555555555555.consul';

describe('SPIFFE IDs', () => {
  it('builds Consul-shaped service IDs and parses them back', () => {
    const id = serviceSpiffeId({ trustDomain: td, datacenter: 'dc1', service: 'web' });
    expect(id).toBe(`spiffe://${td}/ns/default/dc/dc1/svc/web`);
    expect(parseSpiffeId(id)).toEqual({
      kind: 'service',
      trustDomain: td,
      partition: 'default',
      namespace: 'default',
      datacenter: 'dc1',
      service: 'web',
    });
  });

  it('carries a non-default partition and namespace', () => {
    const id = serviceSpiffeId({
      trustDomain: td,
      datacenter: 'dc2',
      service: 'api',
      namespace: 'ns1',
      partition: 'p1',
    });
    expect(id).toBe(`spiffe://${td}/ap/p1/ns/ns1/dc/dc2/svc/api`);
    expect(parseServiceSpiffeId(id)).toEqual({
      trustDomain: td,
      partition: 'p1',
      namespace: 'ns1',
      datacenter: 'dc2',
      service: 'api',
    });
  });

  it('builds and parses server IDs', () => {
    const id = serverSpiffeId({ trustDomain: td, datacenter: 'dc1' });
    expect(id).toBe(`spiffe://${td}/agent/server/dc/dc1`);
    expect(parseSpiffeId(id)).toEqual({ kind: 'server', trustDomain: td, datacenter: 'dc1' });
    expect(() => parseServiceSpiffeId(id)).toThrow(/server identity/);
  });

  it.each([
    ['https://x.consul/ns/default/dc/dc1/svc/web', /must start with spiffe:\/\//],
    [`spiffe://${td}/ns/default/dc/dc1/svc/web?x=1`, /query/],
    [`spiffe://${td}/ns/default/dc/dc1/svc/`, /path segment/],
    [`spiffe://${td}/ns/default/dc/dc1/svc/../admin`, /path segment/],
    [`spiffe://${td}/ns/default/dc/dc1`, /neither a service/],
    ['spiffe://UPPER.consul/ns/default/dc/dc1/svc/web', /trust domain/],
  ])('refuses %s with a clear invalid error', (uri, message) => {
    expect(() => parseSpiffeId(uri)).toThrow(message);
    try {
      parseSpiffeId(uri);
    } catch (err) {
      expect(err).toMatchObject({ kind: 'invalid' });
    }
  });

  it('refuses names that cannot be SPIFFE path segments', () => {
    expect(() => serviceSpiffeId({ trustDomain: td, datacenter: 'dc1', service: 'a/b' })).toThrow(
      /service "a\/b"/,
    );
    expect(() => serviceSpiffeId({ trustDomain: td, datacenter: 'dc 1', service: 'web' })).toThrow(
      /datacenter/,
    );
  });

  it('makes <uuid>.consul trust domains and peering server names', () => {
    const fresh = newTrustDomain();
    expect(fresh).toMatch(/^[0-9a-f-]{36}\.consul$/);
    expect(fresh).not.toBe(newTrustDomain());
    expect(peeringServerName('dc1', td)).toBe(`server.dc1.peering.${td}`);
  });
});
