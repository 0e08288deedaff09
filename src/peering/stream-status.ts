// Live facts about one peering's stream, owned by the peering's session and exposed read-only for
// status. Nothing here is stored: after a restart a stream has to prove itself again.
export interface StreamStatus {
  connected: boolean;
  connectedAt?: Date;
  lastHeartbeat?: Date;
  lastReceive?: Date;
  lastSend?: Date;
  lastAck?: Date;
  lastNack?: Date;
  lastNackMessage?: string;
  lastError?: string;
  lastErrorAt?: Date;
  /** Service names this side last sent to the peer. */
  exported: string[];
  /** Since when our export has been waiting for the peer to take messages (unset: not waiting). */
  sendBlockedSince?: Date;
  /** Since when our import differs from the peer's last checkpoint (unset: in sync or not known). */
  outOfSyncSince?: Date;
  /** When the peer's last checkpoint matched our import. */
  lastCheckpointAt?: Date;
  /** How many times this stream asked the peer for a resync. */
  resyncsRequested?: number;
  /** Why the peer's last trust bundle was refused (unset: accepted, or none received). */
  trustBundleProblem?: string;
  /** Problems the peer cannot see (e.g. exporting without a mesh gateway). */
  warnings: string[];
}

export function newStreamStatus(): StreamStatus {
  return { connected: false, exported: [], warnings: [] };
}
