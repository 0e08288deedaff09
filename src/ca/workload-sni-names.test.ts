import { describe, expect, it } from 'vitest';
import { sniNameProblem, workloadSniNames } from './workload-sni-names.js';

const TD = 'abc.consul';

describe('workloadSniNames', () => {
  it('is the local name alone for a service exported to no peer', () => {
    expect(workloadSniNames({ service: 'web', datacenter: 'dc1', trustDomain: TD })).toEqual([
      'web.default.dc1.internal.abc.consul',
    ]);
  });

  it('adds one peered name per peer, sorted, lowercase, without repeats', () => {
    expect(
      workloadSniNames({
        service: 'Backend',
        datacenter: 'dc1',
        trustDomain: 'ABC.consul',
        exportedToPeers: ['p2', 'p1', 'p2'],
      }),
    ).toEqual([
      'backend.default.dc1.internal.abc.consul',
      'backend.default.default.p1.external.abc.consul',
      'backend.default.default.p2.external.abc.consul',
    ]);
  });

  it('skips a peer whose name cannot be a DNS label', () => {
    expect(
      workloadSniNames({
        service: 'web',
        datacenter: 'dc1',
        trustDomain: TD,
        exportedToPeers: ['a.b', 'ok'],
      }),
    ).toEqual(['web.default.dc1.internal.abc.consul', 'web.default.default.ok.external.abc.consul']);
  });

  it('gives no names for a service whose name cannot be a DNS label', () => {
    expect(
      workloadSniNames({ service: 'web.v2', datacenter: 'dc1', trustDomain: TD, exportedToPeers: ['p1'] }),
    ).toEqual([]);
  });
});

describe('sniNameProblem', () => {
  const owner = { service: 'web', datacenter: 'dc1', trustDomain: TD };

  it('accepts the service’s own local and peered names', () => {
    expect(sniNameProblem('web.default.dc1.internal.abc.consul', owner)).toBeUndefined();
    expect(sniNameProblem('web.default.default.p9.external.abc.consul', owner)).toBeUndefined();
  });

  it('refuses names of another service, namespace, datacenter or trust domain, and non-SNI names', () => {
    for (const name of [
      'api.default.dc1.internal.abc.consul',
      'web.team.dc1.internal.abc.consul',
      'web.default.dc2.internal.abc.consul',
      'web.default.default.p1.external.other.consul',
      'server.dc1.peering.abc.consul',
      'localhost',
    ]) {
      expect(sniNameProblem(name, owner), name).toMatch(/not a service SNI name|names another service/);
    }
  });
});
