import { describe, expect, it } from 'vitest';
import { isMeshpeerError } from '../shared/errors.js';
import { parseConfigEntryOfKind } from './registry.js';
import { resolverPeers, type ServiceResolverEntry } from './service-resolver.js';

function parse(input: Record<string, unknown>): ServiceResolverEntry {
  return parseConfigEntryOfKind('service-resolver', { Kind: 'service-resolver', Name: 'web', ...input });
}

function errorOf(input: Record<string, unknown>): string {
  try {
    parse(input);
  } catch (err) {
    if (isMeshpeerError(err) && err.kind === 'invalid') return err.message;
    throw err;
  }
  throw new Error('expected the entry to be rejected');
}

const subsets = {
  v1: { Filter: 'Service.Meta.version == v1' },
  v2: { Filter: 'Service.Meta.version == v2', OnlyPassing: true },
};

describe('service-resolver', () => {
  it('accepts subsets, failover to peers, and timeouts, keeping them as written', () => {
    const input = {
      DefaultSubset: 'v1',
      Subsets: subsets,
      Failover: {
        '*': {
          Targets: [{ Peer: 'cluster-02' }, { Service: 'web', Peer: 'cluster-03', Namespace: 'default' }],
        },
        v2: { Service: 'web-backup', Datacenters: ['dc2'] },
      },
      ConnectTimeout: '15s',
      RequestTimeout: '1m30s',
    };
    expect(parse(input)).toEqual({ Kind: 'service-resolver', Name: 'web', ...input });
  });

  it('accepts a redirect to a peer', () => {
    const entry = parse({ Redirect: { Service: 'web', Peer: 'cluster-01' } });
    expect(entry.Redirect).toEqual({ Service: 'web', Peer: 'cluster-01' });
    expect(resolverPeers(entry)).toEqual(['cluster-01']);
  });

  it('rejects a redirect with both Peer and Datacenter', () => {
    expect(errorOf({ Redirect: { Service: 'web', Peer: 'cluster-01', Datacenter: 'dc2' } })).toBe(
      'invalid service-resolver config entry: Redirect.Peer: cannot be set together with Datacenter: ' +
        'a peer is already a whole other cluster',
    );
  });

  it('rejects a redirect with Peer and Partition, or SamenessGroup and Datacenter', () => {
    expect(errorOf({ Redirect: { Peer: 'cluster-01', Partition: 'p' } })).toContain(
      'Redirect.Peer: cannot be set together with Partition',
    );
    expect(errorOf({ Redirect: { SamenessGroup: 'g', Datacenter: 'dc2' } })).toContain(
      'Redirect.SamenessGroup: cannot be set together with Datacenter',
    );
  });

  it('rejects an empty redirect, a subset without a service, and a redirect to itself', () => {
    expect(errorOf({ Redirect: {} })).toContain(
      'Redirect: is empty: set at least Service, Peer or Datacenter',
    );
    expect(errorOf({ Redirect: { ServiceSubset: 'v1' } })).toContain(
      'Redirect.ServiceSubset: requires Service to be set',
    );
    expect(errorOf({ Redirect: { Service: 'web' } })).toContain('Redirect: redirects the service to itself');
  });

  it('rejects a redirect combined with subsets or failover', () => {
    const error = errorOf({
      Redirect: { Service: 'api' },
      Subsets: subsets,
      DefaultSubset: 'v1',
      Failover: { '*': { Datacenters: ['dc2'] } },
    });
    expect(error).toContain('Subsets: cannot be set together with Redirect');
    expect(error).toContain('DefaultSubset: cannot be set together with Redirect');
    expect(error).toContain('Failover: cannot be set together with Redirect');
  });

  it('requires DefaultSubset and failover keys to name subsets', () => {
    expect(errorOf({ DefaultSubset: 'v3', Subsets: subsets })).toContain(
      'DefaultSubset: "v3" is not one of the Subsets',
    );
    expect(errorOf({ Subsets: subsets, Failover: { v3: { Datacenters: ['dc2'] } } })).toContain(
      'Failover.v3: "v3" is not one of the Subsets; use "*" for every subset',
    );
  });

  it('rejects invalid subset names', () => {
    expect(errorOf({ Subsets: { V_1: {} } })).toContain('Subsets.V_1: "V_1" is not a valid subset name');
  });

  it('checks failover entries and targets', () => {
    expect(errorOf({ Failover: { '*': {} } })).toContain('Failover["*"]: is empty: set Targets');
    expect(errorOf({ Failover: { '*': { Service: 'a', Targets: [{ Peer: 'cluster-02' }] } } })).toContain(
      'Failover["*"].Targets: cannot be combined with Service: put those in the targets instead',
    );
    expect(
      errorOf({ Failover: { '*': { Targets: [{ Peer: 'cluster-02', Datacenter: 'dc2' }] } } }),
    ).toContain('Failover["*"].Targets[0].Peer: cannot be set together with Datacenter');
    expect(errorOf({ Failover: { '*': { Targets: [{}] } } })).toContain('Failover["*"].Targets[0]: is empty');
    expect(errorOf({ Failover: { '*': { Targets: [{ Peer: 'Cluster-02' }] } } })).toContain(
      'Failover["*"].Targets[0].Peer: "Cluster-02" is not a valid peer name',
    );
    expect(errorOf({ Failover: { '*': { Datacenters: [''] } } })).toContain(
      'Failover["*"].Datacenters[0]: must not be empty',
    );
  });

  it('checks timeouts are non-negative Go durations', () => {
    expect(errorOf({ ConnectTimeout: '5' })).toContain(
      'ConnectTimeout: invalid duration "5": use a number with a unit, like "5s", "250ms" or "1m30s"',
    );
    expect(errorOf({ RequestTimeout: '-1s' })).toContain('RequestTimeout: must not be negative (got "-1s")');
    expect(errorOf({ ConnectTimeout: 5 })).toContain('ConnectTimeout: expected a string, got number 5');
  });

  it('rejects "*" as the resolver name', () => {
    expect(errorOf({ Name: '*' })).toContain('Name: must name one service; "*" is not allowed here');
  });

  it('accepts and checks load balancer settings', () => {
    const lb = {
      Policy: 'ring_hash',
      RingHashConfig: { MinimumRingSize: 1024, MaximumRingSize: 8192 },
      HashPolicies: [
        { Field: 'cookie', FieldValue: 'session', CookieConfig: { TTL: '10m', Path: '/' } },
        { SourceIP: true },
      ],
    };
    // CookieConfig.TTL is stored as Consul serves it: integer nanoseconds (given as a string or as them).
    const stored = {
      ...lb,
      HashPolicies: [
        { ...lb.HashPolicies[0], CookieConfig: { TTL: 600_000_000_000, Path: '/' } },
        lb.HashPolicies[1],
      ],
    };
    expect(parse({ LoadBalancer: lb }).LoadBalancer).toEqual(stored);
    expect(parse({ LoadBalancer: stored }).LoadBalancer).toEqual(stored);
    expect(errorOf({ LoadBalancer: { Policy: 'random', RingHashConfig: {} } })).toContain(
      'LoadBalancer.RingHashConfig: requires Policy "ring_hash"',
    );
    expect(errorOf({ LoadBalancer: { Policy: 'random', HashPolicies: [{ SourceIP: true }] } })).toContain(
      'LoadBalancer.HashPolicies: requires Policy "ring_hash" or "maglev"',
    );
    expect(errorOf({ LoadBalancer: { Policy: 'maglev', HashPolicies: [{ Field: 'header' }] } })).toContain(
      'LoadBalancer.HashPolicies[0].FieldValue: is required when Field is "header"',
    );
    expect(errorOf({ LoadBalancer: { Policy: 'round-robin' } })).toContain(
      'LoadBalancer.Policy: must be one of',
    );
  });

  it('lists every peer it may send traffic to', () => {
    const entry = parse({
      Failover: {
        '*': { Targets: [{ Peer: 'cluster-02' }, { Peer: 'cluster-03' }, { Peer: 'cluster-02' }] },
      },
    });
    expect(resolverPeers(entry)).toEqual(['cluster-02', 'cluster-03']);
  });

  it('rejects unknown fields, naming them', () => {
    expect(errorOf({ Failover: { '*': { Targets: [{ PeerName: 'cluster-02' }] } } })).toContain(
      'invalid service-resolver config entry: Failover["*"].Targets[0].PeerName: unknown field',
    );
    expect(errorOf({ Timeout: '5s' })).toBe('invalid service-resolver config entry: Timeout: unknown field');
  });
});
