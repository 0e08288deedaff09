// The peering state machine: the only code that writes peering records, the acceptor's secrets, trust
// bundles and stream events. Every change is a named function over a write transaction, so what can
// happen to a peering is the list of exports below. See docs/architecture.md for the diagram.
//
// Stored states and the transitions between them (FAILING is never stored: it is an ACTIVE peering
// whose stream is down, derived in views.ts):
//
//   acceptor: issueEstablishment → PENDING ─exchangeEstablishment→ ESTABLISHING ─markActive→ ACTIVE
//   dialer:   recordEstablished  → ESTABLISHING ─markActive→ ACTIVE
//             (through the local mesh gateways, notePendingDial comes first and recordEstablished or
//             clearPendingDial ends it)
//   any state ─markDeleting→ DELETING ─removePeering→ (gone)
//   PENDING, ESTABLISHING, ACTIVE, TERMINATED ─markTerminated→ TERMINATED (the peer deleted it)
//   TERMINATED is left by deleting, or by a new token / establishment under the same name (new record).
import { randomUUID } from 'node:crypto';
import type { Catalog } from '../catalog/catalog.js';
import { conflict, invalid } from '../shared/errors.js';
import type { WriteTxn } from '../store/store.js';
import { establishmentRefusal, type Refusal } from './auth.js';
import {
  PEERING_SECRETS,
  PEERINGS,
  PENDING_DIALS,
  type PeeringRecord,
  type PeeringSecrets,
  type PendingDial,
  peeringKey,
  recordById,
  recordByName,
  STREAM_EVENTS,
  STREAM_SNAPSHOTS,
  type StoredState,
  type StoredTrustBundle,
  type StreamEvent,
  secretsOf,
  TRUST_BUNDLES,
} from './records.js';
import type { StreamSnapshot } from './stream-status.js';

/** The states each stored state may move to. A transition not listed here is not made. */
export const LEGAL_TRANSITIONS: Readonly<Record<StoredState, readonly StoredState[]>> = {
  PENDING: ['ESTABLISHING', 'ACTIVE', 'DELETING', 'TERMINATED'],
  ESTABLISHING: ['ACTIVE', 'DELETING', 'TERMINATED'],
  ACTIVE: ['DELETING', 'TERMINATED'],
  // Terminated again: a later reason replaces the first.
  TERMINATED: ['TERMINATED', 'DELETING'],
  // Deleting again: a restart resumes a deletion that was interrupted.
  DELETING: ['DELETING'],
};

export const canTransition = (from: StoredState, to: StoredState): boolean =>
  LEGAL_TRANSITIONS[from].includes(to);

/** Secrets kept to say "already used" or "replaced" instead of "unknown": the last few are enough. */
const REMEMBERED_SECRETS = 20;

/** What removes a peer's imported services from the catalog (the catalog owns that table). */
export type ImportedRemover = Pick<Catalog, 'removeImported'>;

/** A refused establishment exchange; thrown inside the transaction so nothing of it is written. */
export class EstablishmentRefused extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.message);
  }
}

// ---- transitions ----

/**
 * Moves the peering `name` to `to` if the table above allows it from its current state; returns whether
 * it did. `reason` replaces the stored reason when given.
 */
export function transition(tx: WriteTxn, name: string, to: StoredState, reason?: string): boolean {
  const current = recordByName(tx, name);
  if (current === undefined || !canTransition(current.State, to)) return false;
  tx.put<PeeringRecord>(PEERINGS, peeringKey(name), {
    ...current,
    State: to,
    StateChangedAt: new Date().toISOString(),
    ...(reason !== undefined ? { Reason: reason } : {}),
  });
  return true;
}

/** The stream connected: an establishing peering becomes ACTIVE (an ACTIVE one stays as it is). */
export const markActive = (tx: WriteTxn, name: string): boolean => transition(tx, name, 'ACTIVE');

/** Deletion started: the record stays until the peer was told and the imported data is gone. */
export const markDeleting = (tx: WriteTxn, name: string): boolean => transition(tx, name, 'DELETING');

/**
 * The peer deleted the peering: the record stays, as TERMINATED with the reason, so the operator sees
 * what happened; what the peer gave us (imported services, its trust bundle) goes. A peering being
 * deleted here is left to finish.
 */
export function markTerminated(
  tx: WriteTxn,
  name: string,
  reason: string,
  catalog: ImportedRemover,
): boolean {
  if (!transition(tx, name, 'TERMINATED', reason)) return false;
  catalog.removeImported(tx, name);
  tx.delete(TRUST_BUNDLES, peeringKey(name));
  return true;
}

/** Removes the peering and everything kept for it: record, secrets, trust bundle, imports. */
export function removePeering(tx: WriteTxn, record: PeeringRecord, catalog: ImportedRemover): void {
  tx.delete(PEERINGS, peeringKey(record.Name));
  tx.delete(PEERING_SECRETS, record.ID);
  tx.delete(TRUST_BUNDLES, peeringKey(record.Name));
  tx.delete(STREAM_EVENTS, peeringKey(record.Name));
  tx.delete(STREAM_SNAPSHOTS, peeringKey(record.Name));
  catalog.removeImported(tx, record.Name);
}

// ---- establishment ----

export interface TokenIssue {
  name: string;
  meta: Record<string, string> | undefined;
  secret: string;
  expiresAt: string;
}

/**
 * The acceptor generated a token: its peering is PENDING (a new record, replacing a TERMINATED one) or
 * keeps its state if it already exists, and the token's establishment secret becomes the only valid
 * one; the secret it replaces is remembered as replaced.
 */
export function issueEstablishment(tx: WriteTxn, req: TokenIssue, catalog: ImportedRemover): PeeringRecord {
  const existing = recordByName(tx, req.name);
  if (existing?.Role === 'dialer' && existing.State !== 'TERMINATED') {
    throw invalid(
      `PeerName: a peering named ${JSON.stringify(req.name)} was established from this cluster with a token ` +
        'from the peer; delete it first or choose another name',
    );
  }
  if (existing?.State === 'DELETING')
    throw conflict(`peering ${JSON.stringify(req.name)} is being deleted; retry in a moment`);
  let record: PeeringRecord;
  if (existing !== undefined && existing.Role === 'acceptor' && existing.State !== 'TERMINATED') {
    record = { ...existing, Meta: req.meta ?? existing.Meta };
  } else {
    if (existing !== undefined) removePeering(tx, existing, catalog);
    record = newRecord(req.name, 'acceptor', 'PENDING', req.meta ?? {});
  }
  tx.put(PEERINGS, peeringKey(record.Name), record);
  const secrets = secretsOf(tx, record.ID) ?? {
    PeeringID: record.ID,
    UsedEstablishment: [],
    ReplacedEstablishment: [],
  };
  const replaced = secrets.Establishment
    ? [...secrets.ReplacedEstablishment, secrets.Establishment.Secret].slice(-REMEMBERED_SECRETS)
    : secrets.ReplacedEstablishment;
  tx.put<PeeringSecrets>(PEERING_SECRETS, record.ID, {
    ...secrets,
    Establishment: { Secret: req.secret, ExpiresAt: req.expiresAt },
    ReplacedEstablishment: replaced,
  });
  return record;
}

export interface SecretExchange {
  /** The acceptor's peering ID, from the token. */
  peerId: string;
  establishmentSecret: string;
  /** The stream secret issued in exchange. */
  streamSecret: string;
  /** Who the dialer is: its peering ID and datacenter ('' when it did not say). */
  dialerPeeringId: string;
  remoteDatacenter: string;
}

/**
 * The dialer traded a valid establishment secret (see auth.ts) for a stream secret: the secret is used
 * up, the stream secret replaces any earlier one, and the peering is ESTABLISHING until the stream opens.
 * Who the dialer is comes with the secret that authenticates it, and only from here; a different dialer
 * (the token used elsewhere) brings its own trust domain, so the old bundle is forgotten. Throws
 * EstablishmentRefused. Returns the peering's name.
 */
export function exchangeEstablishment(tx: WriteTxn, req: SecretExchange, now = Date.now()): string {
  const secrets = secretsOf(tx, req.peerId);
  const record = recordById(tx, req.peerId);
  const refusal = establishmentRefusal(record, secrets, req.peerId, req.establishmentSecret, now);
  if (refusal !== undefined || record === undefined || secrets === undefined)
    throw new EstablishmentRefused(
      refusal ?? { kind: 'unknown-peering', message: `no peering with ID ${req.peerId} here` },
    );
  tx.put<PeeringSecrets>(PEERING_SECRETS, req.peerId, {
    ...secrets,
    Establishment: undefined,
    UsedEstablishment: [...secrets.UsedEstablishment, req.establishmentSecret].slice(-REMEMBERED_SECRETS),
    Stream: req.streamSecret,
  });
  if (req.dialerPeeringId !== '' && req.dialerPeeringId !== record.PeerID)
    tx.delete(TRUST_BUNDLES, peeringKey(record.Name));
  tx.put<PeeringRecord>(PEERINGS, peeringKey(record.Name), {
    ...record,
    PeerID: req.dialerPeeringId || record.PeerID,
    Remote: { ...record.Remote, Datacenter: req.remoteDatacenter || record.Remote.Datacenter },
  });
  if (record.State === 'PENDING') transition(tx, record.Name, 'ESTABLISHING');
  return record.Name;
}

export interface DialerEstablished {
  name: string;
  meta: Record<string, string> | undefined;
  /** Our ID for the peering, already sent to the acceptor in the exchange. */
  id: string;
  peerId: string;
  peerServerName: string;
  peerServerAddresses: string[];
  peerCAPems: string[];
  remote: PeeringRecord['Remote'];
  manualServerAddresses: boolean;
  streamSecret: string;
}

/**
 * The dialer exchanged a token: its peering is ESTABLISHING with what it needs to open streams. A
 * record for the same name from another token (another acceptor peering) is removed with its imports.
 */
export function recordEstablished(tx: WriteTxn, req: DialerEstablished, catalog: ImportedRemover): void {
  const current = recordByName(tx, req.name);
  if (current !== undefined && current.PeerID !== req.peerId) removePeering(tx, current, catalog);
  const record: PeeringRecord = {
    ...newRecord(req.name, 'dialer', 'ESTABLISHING', req.meta ?? {}),
    ID: req.id,
    PeerID: req.peerId,
    PeerServerName: req.peerServerName,
    PeerServerAddresses: req.peerServerAddresses,
    PeerCAPems: req.peerCAPems,
    Remote: req.remote,
    ...(req.manualServerAddresses ? { ManualServerAddresses: true } : {}),
    StreamSecret: req.streamSecret,
  };
  tx.put(PEERINGS, peeringKey(record.Name), record);
  tx.delete(PENDING_DIALS, peeringKey(req.name));
}

/** Dialer: an exchange is about to go through the local mesh gateways, which must route it to `dial`. */
export function notePendingDial(tx: WriteTxn, dial: PendingDial): void {
  tx.put(PENDING_DIALS, peeringKey(dial.PeerName), dial);
}

/** Dialer: the exchange through the gateways failed; the gateways may forget where it went. */
export function clearPendingDial(tx: WriteTxn, name: string): void {
  tx.delete(PENDING_DIALS, peeringKey(name));
}

// ---- what the stream brings ----

/**
 * The acceptor told a dialer more addresses to reach it at: they are added to the ones it knows. A
 * token with manual addresses names what the acceptor's operator said is reachable from here: kept to.
 */
export function mergeServerAddresses(tx: WriteTxn, name: string, addresses: string[]): void {
  const record = recordByName(tx, name);
  if (record === undefined || record.Role !== 'dialer' || record.ManualServerAddresses) return;
  const merged = [...new Set([...record.PeerServerAddresses, ...addresses])];
  if (merged.length !== record.PeerServerAddresses.length)
    tx.put<PeeringRecord>(PEERINGS, peeringKey(name), { ...record, PeerServerAddresses: merged });
}

/** Keeps the peer's trust bundle (already checked by trust-bundle-check.ts); unchanged ones are not rewritten. */
export function storeTrustBundle(tx: WriteTxn, bundle: StoredTrustBundle): void {
  const key = peeringKey(bundle.PeerName);
  const existing = tx.get<StoredTrustBundle>(TRUST_BUNDLES, key);
  if (JSON.stringify(existing?.value) !== JSON.stringify(bundle)) tx.put(TRUST_BUNDLES, key, bundle);
}

/**
 * Records that the stream (dis)connected. Views never read it (the live status is the source);
 * writing it wakes blocking reads of the peering on the change.
 */
export function noteStreamEvent(tx: WriteTxn, name: string, connected: boolean): void {
  if (tx.get(PEERINGS, peeringKey(name)) === undefined) return;
  const event: StreamEvent = { Connected: connected, At: new Date().toISOString() };
  tx.put(STREAM_EVENTS, peeringKey(name), event);
}

/** The leader publishes its streams' status for the other servers of the cluster (changed ones only). */
export function publishStreamSnapshots(tx: WriteTxn, snapshots: ReadonlyMap<string, StreamSnapshot>): void {
  for (const [name, snapshot] of snapshots) {
    if (tx.get(PEERINGS, peeringKey(name)) === undefined) continue;
    tx.put(STREAM_SNAPSHOTS, peeringKey(name), snapshot);
  }
}

function newRecord(
  name: string,
  role: PeeringRecord['Role'],
  state: StoredState,
  meta: Record<string, string>,
): PeeringRecord {
  return {
    ID: randomUUID(),
    Name: name,
    Role: role,
    State: state,
    PeerID: '',
    PeerServerName: '',
    PeerServerAddresses: [],
    PeerCAPems: [],
    Remote: { Datacenter: '', Partition: 'default' },
    Meta: meta,
    StateChangedAt: new Date().toISOString(),
  };
}
