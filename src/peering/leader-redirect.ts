// How a server that is not its cluster's leader turns a peering stream away, and how the dialer reads the
// answer: gRPC FAILED_PRECONDITION whose details name the leader's address (when one is known), so the
// dialer dials the leader next instead of backing off. Only the leader owns peering streams.

const PREFIX = 'this server is not the leader of its cluster';
const LEADER_AT = '; dial the leader at ';
const NO_LEADER = '; no leader is elected yet, retry shortly';

/** The details of the refusal, given the leader's gRPC address (undefined: no leader known). */
export function notLeaderDetails(leaderAddress: string | undefined): string {
  return PREFIX + (leaderAddress === undefined ? NO_LEADER : LEADER_AT + leaderAddress);
}

/**
 * Reads a refusal: undefined when the details are not a not-the-leader refusal; otherwise the leader's
 * address, or '' when the refusing server knew of no leader.
 */
export function parseNotLeader(details: string): string | undefined {
  const at = details.indexOf(PREFIX);
  if (at < 0) return undefined;
  const rest = details.slice(at + PREFIX.length);
  if (!rest.startsWith(LEADER_AT)) return '';
  const address = rest.slice(LEADER_AT.length).trim().split(/\s/)[0] ?? '';
  return /^[\w.[\]:-]+:\d+$/.test(address) ? address : '';
}
