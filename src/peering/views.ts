// A peering as the API shows it (Consul's shape): the stored record, the live stream status and the
// state derived from both. Secrets never leave through here.
import type { PeeringRecord, PeeringState } from './records.js';
import type { StreamStatus } from './stream-status.js';

export interface PeeringView {
  ID: string;
  Name: string;
  State: PeeringState;
  PeerID: string;
  PeerServerName: string;
  PeerServerAddresses: string[];
  PeerCAPems: string[];
  Remote: { Datacenter: string; Partition: string };
  Meta: Record<string, string>;
  CreateIndex: number;
  ModifyIndex: number;
  Role: 'acceptor' | 'dialer';
  /** Why the peering is not ACTIVE, or what is wrong although it is. */
  Reason?: string;
  StreamStatus: {
    ImportedServices: string[];
    ExportedServices: string[];
    LastHeartbeat?: string;
    LastReceive?: string;
    LastSend?: string;
    LastAck?: string;
    LastNack?: string;
    LastNackMessage?: string;
    LastError?: string;
    /** When the peer's last checkpoint matched what this side imported. */
    LastCheckpoint?: string;
    ResyncsRequested?: number;
    Warnings: string[];
  };
}

export function deriveState(
  record: PeeringRecord,
  status: StreamStatus | undefined,
  timeoutMs: number,
  now = Date.now(),
): PeeringState {
  switch (record.State) {
    case 'PENDING':
    case 'DELETING':
    case 'TERMINATED':
      return record.State;
    case 'ESTABLISHING':
      return status?.connected ? 'ACTIVE' : 'ESTABLISHING';
    case 'ACTIVE': {
      if (!status?.connected) return 'FAILING';
      const last = status.lastReceive?.getTime() ?? 0;
      return now - last > timeoutMs ? 'FAILING' : 'ACTIVE';
    }
  }
}

export function explainState(
  state: PeeringState,
  record: PeeringRecord,
  status: StreamStatus | undefined,
): string | undefined {
  switch (state) {
    case 'PENDING':
      return 'waiting for the peer to establish with the token generated here';
    case 'ESTABLISHING':
      if (record.Role === 'acceptor')
        return status?.lastError
          ? `the peer exchanged the token; waiting for its stream: ${status.lastError}`
          : 'the peer exchanged the token; waiting for it to open the stream';
      return status?.lastError ? `connecting to the peer: ${status.lastError}` : 'connecting to the peer';
    case 'FAILING':
      if (status?.lastError) return `stream down: ${status.lastError}`;
      return record.Role === 'acceptor'
        ? 'the dialing peer is not connected (waiting for it to dial in)'
        : 'not connected to the peer';
    case 'TERMINATED':
      return record.Reason ?? 'the peer deleted this peering';
    case 'DELETING':
      return 'being deleted';
    case 'ACTIVE':
      return replicationProblem(status) ?? status?.warnings[0];
  }
}

/** How long the export may wait on the peer before the peering says so. */
const SEND_BLOCKED_REPORT_MS = 5000;

/** Why replication over a connected stream is behind, or undefined when it is not known to be. */
function replicationProblem(status: StreamStatus | undefined, now = Date.now()): string | undefined {
  if (status?.trustBundleProblem) return status.trustBundleProblem;
  if (status?.outOfSyncSince)
    return `the import differed from the peer's checkpoint at ${status.outOfSyncSince.toISOString()}; a full resync was requested and is in progress`;
  const blocked = status?.sendBlockedSince?.getTime();
  if (blocked !== undefined && now - blocked > SEND_BLOCKED_REPORT_MS)
    return `the peer has taken none of our changes for ${Math.round((now - blocked) / 1000)}s (the stream is reset if this lasts)`;
  return undefined;
}

const iso = (d: Date | undefined): string | undefined => d?.toISOString();

export function toView(
  record: PeeringRecord,
  stamps: { createIndex: number; modifyIndex: number },
  status: StreamStatus | undefined,
  imported: string[],
  exported: string[],
  timeoutMs: number,
): PeeringView {
  const state = deriveState(record, status, timeoutMs);
  const reason = explainState(state, record, status);
  const s = status;
  return {
    ID: record.ID,
    Name: record.Name,
    State: state,
    PeerID: record.PeerID,
    PeerServerName: record.PeerServerName,
    PeerServerAddresses: record.PeerServerAddresses,
    PeerCAPems: record.PeerCAPems,
    Remote: record.Remote,
    Meta: record.Meta,
    CreateIndex: stamps.createIndex,
    ModifyIndex: stamps.modifyIndex,
    Role: record.Role,
    ...(reason !== undefined ? { Reason: reason } : {}),
    StreamStatus: {
      ImportedServices: imported,
      ExportedServices: exported,
      ...(s?.lastHeartbeat ? { LastHeartbeat: iso(s.lastHeartbeat) } : {}),
      ...(s?.lastReceive ? { LastReceive: iso(s.lastReceive) } : {}),
      ...(s?.lastSend ? { LastSend: iso(s.lastSend) } : {}),
      ...(s?.lastAck ? { LastAck: iso(s.lastAck) } : {}),
      ...(s?.lastNack ? { LastNack: iso(s.lastNack), LastNackMessage: s.lastNackMessage } : {}),
      ...(s?.lastError ? { LastError: s.lastError } : {}),
      ...(s?.lastCheckpointAt ? { LastCheckpoint: iso(s.lastCheckpointAt) } : {}),
      ...(s?.resyncsRequested ? { ResyncsRequested: s.resyncsRequested } : {}),
      Warnings: [...(s?.warnings ?? [])],
    },
  };
}
