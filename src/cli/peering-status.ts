// Explains, from a peering's own fields, why it is not healthy: the `Why:` line of `meshpeer peering read`.
// Pure functions of (peering, now) so the wording can be tested without a server.
import type { Peering } from './http-client.js';
import { describeTime, formatAge, parseTimestamp } from './output.js';

/** Heartbeats flow every 15 s; this many seconds of silence on an ACTIVE stream is worth pointing out. */
const SILENCE_WORTH_REPORTING_MS = 60_000;

/** Error fields a server may add to StreamStatus (Consul's internal names); shown when present. */
const STREAM_ERROR_FIELDS: readonly (readonly [string, string])[] = [
  ['LastNackMessage', 'the peer rejected the last update'],
  ['LastSendErrorMessage', 'sending to the peer failed'],
  ['LastRecvErrorMessage', 'receiving from the peer failed'],
  ['LastError', 'the stream reported an error'],
];

export function explainPeering(peering: Peering, now: Date): string | undefined {
  const status = peering.StreamStatus;
  const addresses = peering.PeerServerAddresses?.length ? peering.PeerServerAddresses.join(', ') : undefined;
  switch (peering.State) {
    case 'PENDING':
      return (
        'waiting for the dialer to establish with the token: run `meshpeer peering establish --name <name> ' +
        '--peering-token <token>` in the other cluster'
      );
    case 'ESTABLISHING':
      return status?.LastReceive && parseTimestamp(status.LastReceive)
        ? `the stream to the peer is being (re)established; last received ${describeTime(status.LastReceive, now)}`
        : `connecting to the peer's servers${addresses ? ` (${addresses})` : ''}; nothing received yet`;
    case 'FAILING':
      return explainFailing(peering, now, addresses);
    case 'DELETING':
      return 'being deleted: the peer is being told, and imported services and trust bundles are being removed';
    case 'TERMINATED':
      return (
        `the peer deleted this peering; delete it here too (meshpeer peering delete --name ${peering.Name}) ` +
        'and peer again with a new token'
      );
    case 'ACTIVE':
      return streamProblem(peering, now);
    default:
      return peering.State ? undefined : 'the server reported no state for this peering';
  }
}

function explainFailing(peering: Peering, now: Date, addresses: string | undefined): string {
  const status = peering.StreamStatus;
  const problem = streamError(peering);
  const suffix = problem ? `; ${problem}` : '';
  if (parseTimestamp(status?.LastHeartbeat)) {
    return `no heartbeat from the peer since ${describeTime(status?.LastHeartbeat, now)}${suffix}`;
  }
  if (parseTimestamp(status?.LastReceive)) {
    return `nothing received from the peer since ${describeTime(status?.LastReceive, now)}${suffix}`;
  }
  const reach = addresses ? `; check that ${addresses} can be reached from this cluster` : '';
  return `no heartbeat has ever been received from the peer${reach}${suffix}`;
}

function streamProblem(peering: Peering, now: Date): string | undefined {
  const error = streamError(peering);
  if (error) return error;
  const status = peering.StreamStatus;
  const last = parseTimestamp(status?.LastReceive) ?? parseTimestamp(status?.LastHeartbeat);
  if (last && now.getTime() - last.getTime() > SILENCE_WORTH_REPORTING_MS) {
    return (
      `nothing received from the peer for ${formatAge(now.getTime() - last.getTime()).replace(/ ago$/, '')} ` +
      '(heartbeats are expected every 15s): the stream may be down'
    );
  }
  return undefined;
}

function streamError(peering: Peering): string | undefined {
  const status: Record<string, unknown> = peering.StreamStatus ?? {};
  for (const [key, meaning] of STREAM_ERROR_FIELDS) {
    const value = status[key];
    if (typeof value === 'string' && value.trim() !== '') return `${meaning}: ${value.trim()}`;
  }
  return undefined;
}
