// The acceptor's authentication decisions as case tables: which token secret may be exchanged, and
// which stream may open, for each stored record and secrets.
import { describe, expect, it } from 'vitest';
import { establishmentRefusal, type RefusalKind, sameSecret, streamRefusal } from './auth.js';
import type { PeeringRecord, PeeringSecrets, StoredState } from './records.js';

const NOW = Date.parse('2026-11-30T12:00:00Z');

function record(state: StoredState = 'PENDING', role: PeeringRecord['Role'] = 'acceptor'): PeeringRecord {
  return {
    ID: 'peering-1',
    Name: 'cluster-02',
    Role: role,
    State: state,
    PeerID: '',
    PeerServerName: '',
    PeerServerAddresses: [],
    PeerCAPems: [],
    Remote: { Datacenter: '', Partition: 'default' },
    Meta: {},
    StateChangedAt: new Date(NOW).toISOString(),
  };
}

function secrets(over: Partial<PeeringSecrets> = {}): PeeringSecrets {
  return {
    PeeringID: 'peering-1',
    Establishment: { Secret: 'current', ExpiresAt: new Date(NOW + 60_000).toISOString() },
    UsedEstablishment: ['used'],
    ReplacedEstablishment: ['replaced'],
    Stream: 'stream-secret',
    ...over,
  };
}

describe('establishmentRefusal', () => {
  const cases: Array<
    [string, PeeringRecord | undefined, PeeringSecrets | undefined, string, RefusalKind | undefined]
  > = [
    ['the current secret of a pending acceptor', record(), secrets(), 'current', undefined],
    [
      'the current secret of an active acceptor (a new token)',
      record('ACTIVE'),
      secrets(),
      'current',
      undefined,
    ],
    ['no record', undefined, secrets(), 'current', 'unknown-peering'],
    ['no secrets', record(), undefined, 'current', 'unknown-peering'],
    ['a dialer record of that ID', record('ACTIVE', 'dialer'), secrets(), 'current', 'unknown-peering'],
    ['a secret already exchanged', record(), secrets(), 'used', 'secret-used'],
    ['a secret a newer token replaced', record(), secrets(), 'replaced', 'secret-replaced'],
    ['a secret that matches nothing', record(), secrets(), 'forged', 'secret-mismatch'],
    [
      'any secret once the current one was used',
      record(),
      secrets({ Establishment: undefined }),
      'current',
      'secret-mismatch',
    ],
    [
      'an expired secret',
      record(),
      secrets({ Establishment: { Secret: 'current', ExpiresAt: new Date(NOW - 1).toISOString() } }),
      'current',
      'secret-expired',
    ],
  ];
  it.each(cases)('%s', (_name, rec, sec, secret, want) => {
    expect(establishmentRefusal(rec, sec, 'peering-1', secret, NOW)?.kind).toBe(want);
  });

  it('a used secret is called used even when it would also be expired', () => {
    const expired = secrets({
      Establishment: { Secret: 'used', ExpiresAt: new Date(NOW - 1).toISOString() },
    });
    expect(establishmentRefusal(record(), expired, 'peering-1', 'used', NOW)?.kind).toBe('secret-used');
  });

  it('every refusal tells the dialer what to do next', () => {
    for (const [, rec, sec, secret, want] of cases) {
      if (want === undefined) continue;
      const message = establishmentRefusal(rec, sec, 'peering-1', secret, NOW)?.message ?? '';
      expect(message).toMatch(/generate|deleted|newest|another cluster/);
    }
  });
});

describe('streamRefusal', () => {
  const cases: Array<
    [string, PeeringRecord | undefined, PeeringSecrets | undefined, string, RefusalKind | undefined]
  > = [
    [
      'the stream secret of an establishing acceptor',
      record('ESTABLISHING'),
      secrets(),
      'stream-secret',
      undefined,
    ],
    ['the stream secret of an active acceptor', record('ACTIVE'), secrets(), 'stream-secret', undefined],
    ['no record', undefined, secrets(), 'stream-secret', 'unknown-peering'],
    ['a dialer record', record('ACTIVE', 'dialer'), secrets(), 'stream-secret', 'unknown-peering'],
    ['a peering being deleted', record('DELETING'), secrets(), 'stream-secret', 'unknown-peering'],
    ['a terminated peering', record('TERMINATED'), secrets(), 'stream-secret', 'unknown-peering'],
    ['a wrong stream secret', record('ACTIVE'), secrets(), 'other', 'stream-secret-mismatch'],
    ['before any exchange', record('PENDING'), secrets({ Stream: undefined }), '', 'stream-secret-mismatch'],
  ];
  it.each(cases)('%s', (_name, rec, sec, secret, want) => {
    expect(streamRefusal(rec, sec, 'peering-1', secret)?.kind).toBe(want);
  });
});

describe('sameSecret', () => {
  it.each([
    ['abc', 'abc', true],
    ['abc', 'abd', false],
    ['abc', 'abcd', false],
    ['', '', true],
  ])('%j vs %j: %s', (a, b, want) => {
    expect(sameSecret(a, b)).toBe(want);
  });
});
