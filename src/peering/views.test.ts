// How a peering's shown state and reason follow from its stored record and live stream status, as
// case tables.
import { describe, expect, it } from 'vitest';
import type { PeeringRecord, PeeringState, StoredState } from './records.js';
import { StreamStatus } from './stream-status.js';
import { deriveState, explainState, toView } from './views.js';

const NOW = Date.parse('2026-11-30T12:00:00Z');
const TIMEOUT = 10_000;

function record(state: StoredState, role: PeeringRecord['Role'] = 'dialer', reason?: string): PeeringRecord {
  return {
    ID: 'id',
    Name: 'peer',
    Role: role,
    State: state,
    PeerID: 'peer-id',
    PeerServerName: '',
    PeerServerAddresses: [],
    PeerCAPems: [],
    Remote: { Datacenter: 'dc2', Partition: 'default' },
    Meta: {},
    StateChangedAt: new Date(NOW).toISOString(),
    ...(reason !== undefined ? { Reason: reason } : {}),
  };
}

/** Stream fixtures by name. */
const streams = {
  none: (): StreamStatus | undefined => undefined,
  fresh: (): StreamStatus => new StreamStatus(),
  connected: (): StreamStatus => {
    const s = new StreamStatus();
    s.trackConnected(new Date(NOW - 1000));
    return s;
  },
  silent: (): StreamStatus => {
    const s = new StreamStatus();
    s.trackConnected(new Date(NOW - TIMEOUT - 1));
    return s;
  },
  dropped: (): StreamStatus => {
    const s = new StreamStatus();
    s.trackConnected(new Date(NOW - 5000));
    s.trackDisconnected('connection reset');
    return s;
  },
};
type Stream = keyof typeof streams;

describe('deriveState', () => {
  const cases: Array<[StoredState, Stream, PeeringState]> = [
    ['PENDING', 'none', 'PENDING'],
    ['PENDING', 'connected', 'PENDING'],
    ['ESTABLISHING', 'none', 'ESTABLISHING'],
    ['ESTABLISHING', 'fresh', 'ESTABLISHING'],
    ['ESTABLISHING', 'connected', 'ACTIVE'],
    ['ESTABLISHING', 'dropped', 'ESTABLISHING'],
    ['ACTIVE', 'connected', 'ACTIVE'],
    ['ACTIVE', 'none', 'FAILING'],
    ['ACTIVE', 'dropped', 'FAILING'],
    ['ACTIVE', 'silent', 'FAILING'],
    ['DELETING', 'connected', 'DELETING'],
    ['TERMINATED', 'connected', 'TERMINATED'],
    ['TERMINATED', 'none', 'TERMINATED'],
  ];
  it.each(cases)('stored %s with a %s stream shows %s', (stored, stream, want) => {
    expect(deriveState(record(stored), streams[stream](), TIMEOUT, NOW)).toBe(want);
  });
});

describe('explainState', () => {
  const cases: Array<[PeeringState, PeeringRecord['Role'], Stream, RegExp | undefined]> = [
    ['PENDING', 'acceptor', 'none', /waiting for the peer to establish/],
    ['ESTABLISHING', 'acceptor', 'none', /waiting for it to open the stream$/],
    ['ESTABLISHING', 'acceptor', 'dropped', /waiting for its stream: connection reset/],
    ['ESTABLISHING', 'dialer', 'none', /^connecting to the peer$/],
    ['ESTABLISHING', 'dialer', 'dropped', /^connecting to the peer: connection reset/],
    ['FAILING', 'dialer', 'dropped', /^stream down: connection reset/],
    ['FAILING', 'acceptor', 'none', /waiting for it to dial in/],
    ['FAILING', 'dialer', 'none', /^not connected to the peer$/],
    ['DELETING', 'dialer', 'none', /being deleted/],
    ['TERMINATED', 'dialer', 'none', /the peer deleted this peering/],
    ['ACTIVE', 'dialer', 'connected', undefined],
  ];
  it.each(cases)('%s (%s, %s stream)', (state, role, stream, want) => {
    const reason = explainState(state, record('ACTIVE', role), streams[stream]());
    if (want === undefined) expect(reason).toBeUndefined();
    else expect(reason).toMatch(want);
  });

  it('a TERMINATED peering shows the reason it was stored with', () => {
    expect(
      explainState('TERMINATED', record('TERMINATED', 'dialer', 'the acceptor no longer has it'), undefined),
    ).toBe('the acceptor no longer has it');
  });

  it('an ACTIVE peering says why replication is behind, most important first', () => {
    const s = streams.connected();
    s.trackWarnings(['exporting without a mesh gateway']);
    expect(explainState('ACTIVE', record('ACTIVE'), s)).toBe('exporting without a mesh gateway');
    s.trackSendBlocked(new Date(Date.now() - 6000));
    expect(explainState('ACTIVE', record('ACTIVE'), s)).toMatch(/has taken none of our changes for \d+s/);
    s.trackOutOfSync();
    expect(explainState('ACTIVE', record('ACTIVE'), s)).toMatch(/differed from the peer's checkpoint/);
    s.trackTrustBundle('the bundle claims our own trust domain');
    expect(explainState('ACTIVE', record('ACTIVE'), s)).toBe('the bundle claims our own trust domain');
  });

  it('an export blocked for less than the reporting delay is not reported yet', () => {
    const s = streams.connected();
    s.trackSendBlocked(new Date());
    expect(explainState('ACTIVE', record('ACTIVE'), s)).toBeUndefined();
  });
});

describe('toView', () => {
  it('shows stream facts that are known and leaves out those that are not', () => {
    const s = streams.connected();
    s.trackAck(new Date(NOW));
    s.trackNack('type.meshpeer.io/ExportedService: bad', new Date(NOW));
    const view = toView(record('ACTIVE'), { createIndex: 3, modifyIndex: 7 }, s, ['web'], ['api'], TIMEOUT);
    expect(view).toMatchObject({ CreateIndex: 3, ModifyIndex: 7, Role: 'dialer', PeerID: 'peer-id' });
    expect(view.StreamStatus).toMatchObject({
      ImportedServices: ['web'],
      ExportedServices: ['api'],
      LastAck: new Date(NOW).toISOString(),
      LastNackMessage: 'type.meshpeer.io/ExportedService: bad',
      Warnings: [],
    });
    expect(view.StreamStatus).not.toHaveProperty('LastHeartbeat');
    expect(view.StreamStatus).not.toHaveProperty('LastError');
  });
});
