// What the store keeps about peerings: one record per peering (by local name), the acceptor's secrets
// (by local peering ID), and each peer's trust bundle; and how to read them. Only state-machine.ts
// writes them.
import type { ReadView } from '../store/store.js';

export const PEERINGS = 'peerings';
export const PEERING_SECRETS = 'peering/secrets';
export const TRUST_BUNDLES = 'peering/trust-bundles';
/**
 * When each peering's stream last connected or disconnected. Views never read it (live status is the
 * source); writing it makes those transitions wake blocking reads of /v1/peering(s).
 */
export const STREAM_EVENTS = 'peering/stream-events';
/**
 * Written only when several servers share the store: the leader's last snapshot of each peering's stream
 * status, which the other servers show (they own no stream).
 */
export const STREAM_SNAPSHOTS = 'peering/stream-snapshots';
/**
 * Dialer: establishments in flight whose exchange goes through this cluster's own mesh gateways; the
 * gateway must know where a peer's servers are before the peering's record exists.
 */
export const PENDING_DIALS = 'peering/pending-dials';
export const PEERING_TABLES = [
  PEERINGS,
  PEERING_SECRETS,
  TRUST_BUNDLES,
  STREAM_EVENTS,
  STREAM_SNAPSHOTS,
  PENDING_DIALS,
] as const;

export interface PendingDial {
  PeerName: string;
  /** The token's ServerName (`server.<dc>.peering.<trust-domain>`): what the gateway routes by. */
  PeerServerName: string;
  /** The token's addresses of the peer's servers (or of its gateways). */
  Addresses: string[];
  Since: string;
}

export interface StreamEvent {
  Connected: boolean;
  At: string;
}

/** The stored part of a peering's state; ACTIVE vs FAILING is derived from the live stream. */
export type StoredState = 'PENDING' | 'ESTABLISHING' | 'ACTIVE' | 'DELETING' | 'TERMINATED';
export type PeeringState = StoredState | 'FAILING';

export interface PeeringRecord {
  ID: string;
  Name: string;
  /** acceptor: generated the token and serves the stream; dialer: established with a token. */
  Role: 'acceptor' | 'dialer';
  State: StoredState;
  /** The peering's ID on the other side (the token's PeerID, for a dialer). */
  PeerID: string;
  PeerServerName: string;
  PeerServerAddresses: string[];
  PeerCAPems: string[];
  Remote: { Datacenter: string; Partition: string };
  Meta: Record<string, string>;
  /**
   * Dialer only: the token named ManualServerAddresses (the operator's externally reachable addresses);
   * the addresses the acceptor replicates are then not added, they are probably unreachable from here.
   */
  ManualServerAddresses?: boolean;
  /** Dialer only: the stream secret it opens streams with. */
  StreamSecret?: string;
  /** When the state last changed (ISO), for status and `peering read`. */
  StateChangedAt: string;
  /** Why the peering is in its state, when it is not healthy. */
  Reason?: string;
}

export interface PeeringSecrets {
  PeeringID: string;
  /** The unused establishment secret, if one was generated and not exchanged yet. */
  Establishment?: { Secret: string; ExpiresAt: string };
  /** Establishment secrets already exchanged, to say "already used" rather than "unknown". */
  UsedEstablishment: string[];
  /** Secrets replaced by a newer token, to say "replaced" rather than "unknown". */
  ReplacedEstablishment: string[];
  Stream?: string;
}

export interface StoredTrustBundle {
  PeerName: string;
  TrustDomain: string;
  RootPEMs: string[];
}

export const peeringKey = (name: string): string => encodeURIComponent(name);

export function recordByName(view: Pick<ReadView, 'get'>, name: string): PeeringRecord | undefined {
  return view.get<PeeringRecord>(PEERINGS, peeringKey(name))?.value;
}

export function recordById(view: Pick<ReadView, 'list'>, id: string): PeeringRecord | undefined {
  return view.list<PeeringRecord>(PEERINGS).find((e) => e.value.ID === id)?.value;
}

export function secretsOf(view: Pick<ReadView, 'get'>, peeringId: string): PeeringSecrets | undefined {
  return view.get<PeeringSecrets>(PEERING_SECRETS, peeringId)?.value;
}

/** Names of the peerings that still connect this cluster to a peer (all but TERMINATED ones). */
export function peerNamesInUse(view: Pick<ReadView, 'list'>): string[] {
  return view
    .list<PeeringRecord>(PEERINGS)
    .filter((e) => e.value.State !== 'TERMINATED')
    .map((e) => e.value.Name);
}
