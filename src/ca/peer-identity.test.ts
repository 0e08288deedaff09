import { describe, expect, it } from 'vitest';
import { ownerOfTrustDomain } from './peer-identity.js';
import type { TrustBundle } from './trust-bundle.js';

const OURS = 'ours.consul';
const bundle = (peerName: string, trustDomain: string): TrustBundle => ({
  peerName,
  trustDomain,
  rootPems: [`ROOT OF ${peerName}`],
});
const bundles = [bundle('cluster-02', 'two.consul'), bundle('cluster-03', 'three.consul')];

describe('ownerOfTrustDomain', () => {
  it('names the one peer whose bundle carries the trust domain', () => {
    expect(ownerOfTrustDomain('two.consul', OURS, bundles)).toEqual({ kind: 'peer', bundle: bundles[0] });
    expect(ownerOfTrustDomain('three.consul', OURS, bundles)).toEqual({ kind: 'peer', bundle: bundles[1] });
  });

  it('keeps our own trust domain local, even when a peer bundle claims it', () => {
    expect(ownerOfTrustDomain(OURS, OURS, bundles)).toEqual({ kind: 'local' });
    expect(ownerOfTrustDomain(OURS, OURS, [...bundles, bundle('evil', OURS)])).toEqual({ kind: 'local' });
  });

  it('knows no owner for a trust domain no peer carries', () => {
    expect(ownerOfTrustDomain('four.consul', OURS, bundles)).toEqual({ kind: 'unknown' });
    expect(ownerOfTrustDomain('two.consul', OURS, [])).toEqual({ kind: 'unknown' });
  });

  it('refuses to choose between two peers that claim the same trust domain', () => {
    const claimed = [...bundles, bundle('cluster-04', 'two.consul')];
    expect(ownerOfTrustDomain('two.consul', OURS, claimed)).toEqual({
      kind: 'ambiguous',
      peers: ['cluster-02', 'cluster-04'],
    });
  });

  it('treats the same peer listed twice (e.g. from two reads) as one owner', () => {
    const twice = [bundles[0] as TrustBundle, { ...(bundles[0] as TrustBundle), rootPems: ['NEWER'] }];
    expect(ownerOfTrustDomain('two.consul', OURS, twice)).toMatchObject({ kind: 'peer' });
  });
});
