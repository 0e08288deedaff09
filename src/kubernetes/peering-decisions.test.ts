// The peering reconcilers' decisions as tables: when an acceptor generates a new token and when a
// dialer establishes again, with the reason each gives (it ends the sentence shown in Events).
import { describe, expect, it } from 'vitest';
import { regenerationReason } from './peering-acceptor-reconciler.js';
import { establishReason } from './peering-dialer-reconciler.js';
import type { PeeringStatus } from './resources.js';
import type { Peering } from './server-client.js';

const ref = { name: 'peering-token', key: 'data', backend: 'kubernetes' };
const peering = { Name: 'cluster-02', State: 'ACTIVE' } as unknown as Peering;
const recorded = (extra: Partial<NonNullable<PeeringStatus['secret']>> = {}): PeeringStatus => ({
  latestPeeringVersion: 2,
  secret: { ...ref, resourceVersion: '100', ...extra },
});

describe('acceptor: a new token is generated when', () => {
  const cases: Array<[string, Peering | undefined, PeeringStatus, boolean, number, RegExp | undefined]> = [
    ['the peering is missing on the server', undefined, recorded(), true, 2, /did not exist on the server/],
    ['no token was recorded yet', peering, {}, true, 2, /no token had been recorded/],
    [
      'the Secret name changed',
      peering,
      recorded({ name: 'old-token' }),
      true,
      2,
      /spec.peer.secret changed \(was old-token/,
    ],
    ['the Secret key changed', peering, recorded({ key: 'other' }), true, 2, /spec.peer.secret changed/],
    ['the Secret was deleted', peering, recorded(), false, 2, /Secret peering-token was deleted/],
    ['the version annotation was raised', peering, recorded(), true, 3, /peering-version was raised to 3/],
    ['nothing changed: no new token', peering, recorded(), true, 2, undefined],
    ['a lower version annotation: no new token', peering, recorded(), true, 1, undefined],
  ];
  for (const [what, p, status, exists, version, want] of cases) {
    it(what, () => {
      const reason = regenerationReason(p, status, ref, exists, version);
      if (want === undefined) expect(reason).toBeUndefined();
      else expect(reason).toMatch(want);
    });
  }
  it('an edit of the Secret content alone generates nothing (the acceptor does not watch its resourceVersion)', () => {
    expect(regenerationReason(peering, recorded({ resourceVersion: '1' }), ref, true, 2)).toBeUndefined();
  });
});

describe('dialer: the peering is established again when', () => {
  const cases: Array<[string, Peering | undefined, PeeringStatus, string, number, RegExp | undefined]> = [
    ['the peering is missing on the server', undefined, recorded(), '100', 2, /did not exist on the server/],
    ['no token was recorded yet', peering, {}, '100', 2, /no token had been recorded/],
    [
      'the Secret reference changed',
      peering,
      recorded({ backend: 'vault' }),
      '100',
      2,
      /spec.peer.secret changed/,
    ],
    [
      'the Secret changed (new resourceVersion)',
      peering,
      recorded(),
      '101',
      2,
      /Secret peering-token changed/,
    ],
    ['the version annotation was raised', peering, recorded(), '100', 5, /raised to 5/],
    ['nothing changed: no new establishment', peering, recorded(), '100', 2, undefined],
  ];
  for (const [what, p, status, secretVersion, version, want] of cases) {
    it(what, () => {
      const reason = establishReason(p, status, ref, secretVersion, version);
      if (want === undefined) expect(reason).toBeUndefined();
      else expect(reason).toMatch(want);
    });
  }
});
