import { describe, expect, it } from 'vitest';
import type { VerifiedIdentity } from '../../ca/index.js';
import { type ServiceIntentionsEntry, serviceIntentionsSchema } from '../../config-entries/index.js';
import { authorize } from './intentions.js';

function caller(service: string, peerName?: string, namespace = 'default'): VerifiedIdentity {
  const trustDomain = peerName ? 'peer.consul' : 'ours.consul';
  return {
    spiffeId: `spiffe://${trustDomain}/ns/${namespace}/dc/dc1/svc/${service}`,
    identity: { kind: 'service', trustDomain, partition: 'default', namespace, datacenter: 'dc1', service },
    ...(peerName ? { peerName } : {}),
  };
}

function entry(name: string, sources: unknown[]): ServiceIntentionsEntry {
  return serviceIntentionsSchema.parse({ Kind: 'service-intentions', Name: name, Sources: sources });
}

describe('authorize', () => {
  it('applies the default when no intention matches', () => {
    expect(authorize(caller('web'), 'api', [], 'allow').action).toBe('allow');
    expect(authorize(caller('web'), 'api', [], 'deny').action).toBe('deny');
  });

  it('matches a peer source only for a caller from that peer', () => {
    const entries = [entry('api', [{ Name: 'web', Peer: 'cluster-02', Action: 'allow' }])];
    expect(authorize(caller('web', 'cluster-02'), 'api', entries, 'deny').action).toBe('allow');
    expect(authorize(caller('web', 'cluster-03'), 'api', entries, 'deny').action).toBe('deny');
    expect(authorize(caller('web'), 'api', entries, 'deny').action).toBe('deny');
  });

  it('matches a local source only for a local caller', () => {
    const entries = [entry('api', [{ Name: 'web', Action: 'deny' }])];
    expect(authorize(caller('web'), 'api', entries, 'allow').action).toBe('deny');
    expect(authorize(caller('web', 'cluster-02'), 'api', entries, 'allow').action).toBe('allow');
  });

  it('lets the most precise intention win, across the service entry and the wildcard entry', () => {
    const entries = [
      entry('*', [{ Name: 'web', Peer: 'cluster-02', Action: 'deny' }]),
      entry('api', [{ Name: '*', Peer: 'cluster-02', Action: 'allow' }]),
    ];
    // Destination exact (api) outranks destination wildcard, whatever the source.
    expect(authorize(caller('web', 'cluster-02'), 'api', entries, 'deny').action).toBe('allow');
    const narrower = [...entries, entry('api', [{ Name: 'web', Peer: 'cluster-02', Action: 'deny' }])];
    expect(authorize(caller('web', 'cluster-02'), 'api', narrower, 'allow')).toMatchObject({
      action: 'deny',
    });
  });

  it('ignores entries for other destinations', () => {
    const entries = [entry('billing', [{ Name: 'web', Action: 'deny' }])];
    expect(authorize(caller('web'), 'api', entries, 'allow').action).toBe('allow');
  });

  it('denies on L7 permissions, which a TCP proxy cannot judge', () => {
    const entries = [
      entry('api', [{ Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }]),
    ];
    expect(authorize(caller('web'), 'api', entries, 'allow')).toMatchObject({
      action: 'deny',
      reason: expect.stringMatching(/L7/),
    });
  });

  it('matches namespaces exactly unless the source says "*"', () => {
    const exact = [entry('api', [{ Name: 'web', Namespace: 'team', Action: 'deny' }])];
    expect(authorize(caller('web'), 'api', exact, 'allow').action).toBe('allow');
    expect(authorize(caller('web', undefined, 'team'), 'api', exact, 'allow').action).toBe('deny');
  });
});
