import { describe, expect, it } from 'vitest';
import { notLeaderDetails, parseNotLeader } from './leader-redirect.js';

describe('not-the-leader refusals', () => {
  it('round-trips the leader address, IPv4, IPv6 and names', () => {
    for (const a of ['127.0.0.1:8503', '[::1]:8503', 'server-1.meshpeer.svc:8503']) {
      expect(parseNotLeader(notLeaderDetails(a))).toBe(a);
    }
  });
  it('says when no leader is known', () => {
    expect(parseNotLeader(notLeaderDetails(undefined))).toBe('');
  });
  it('finds the refusal inside details gRPC decorated', () => {
    expect(parseNotLeader(`9 FAILED_PRECONDITION: ${notLeaderDetails('10.0.0.7:8503')}`)).toBe(
      '10.0.0.7:8503',
    );
  });
  it('ignores other errors and garbage addresses', () => {
    expect(parseNotLeader('9 FAILED_PRECONDITION: secret used')).toBeUndefined();
    expect(parseNotLeader(notLeaderDetails('not an address'))).toBe('');
  });
});
