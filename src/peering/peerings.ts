// The peering domain's API, as the HTTP routes and the server use it: generate a token, establish with
// one, read, list and delete peerings, and serve and run their streams. Each job lives in its own module:
// establishment.ts (tokens and the exchange), acceptor-service.ts (the gRPC handlers), streams.ts (live
// sessions and dialers), state-machine.ts (every record write), views.ts and diagnostics.ts (status).
// Of several servers sharing one store only the leader runs streams and finishes deletions; it publishes
// its streams' status so that every server shows the same peering.
import type { CertificateAuthority } from '../ca/authority.js';
import type { Catalog } from '../catalog/catalog.js';
import type { ConfigEntries } from '../config-entries/config-store.js';
import { type Leadership, soleServer } from '../leadership/leadership.js';
import { notFound } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Store, WriteTxn } from '../store/store.js';
import { acceptorService } from './acceptor-service.js';
import { exportWarnings } from './diagnostics.js';
import { Establishment, type EstablishRequest, type TokenRequest } from './establishment.js';
import { notLeaderDetails } from './leader-redirect.js';
import { type PeerServers, peerServers } from './peer-servers.js';
import {
  PEERING_TABLES,
  PEERINGS,
  type PeeringRecord,
  peeringKey,
  peerNamesInUse,
  recordByName,
  STREAM_SNAPSHOTS,
  type StoredTrustBundle,
  TRUST_BUNDLES,
} from './records.js';
import { markDeleting, removePeering } from './state-machine.js';
import { StatusPublisher } from './status-publisher.js';
import { type StreamSnapshot, StreamStatus } from './stream-status.js';
import { PeeringStreams } from './streams.js';
import type { PeeringServiceImplementation } from './transport/protocol.js';
import { type PeeringView, toView } from './views.js';

export type { EstablishRequest, TokenRequest } from './establishment.js';

export interface PeeringOptions {
  heartbeatMs: number;
  timeoutMs: number;
  redialBaseMs: number;
  redialMaxMs: number;
  /** How long an establishment secret stays valid. */
  secretTtlMs: number;
  maxMessageBytes: number;
  exchangeTimeoutMs: number;
}

export const DEFAULT_PEERING_OPTIONS: PeeringOptions = {
  heartbeatMs: 15_000,
  timeoutMs: 120_000,
  redialBaseMs: 200,
  redialMaxMs: 30_000,
  secretTtlMs: 24 * 3600_000,
  maxMessageBytes: 4 * 1024 * 1024,
  exchangeTimeoutMs: 10_000,
};

export interface PeeringDeps {
  store: Store;
  catalog: Catalog;
  config: ConfigEntries;
  ca: CertificateAuthority;
  logger: Logger;
  datacenter: string;
  /** The gRPC addresses this server is reachable at (for tokens and ServerAddresses). */
  grpcAddresses: () => string[];
  options: PeeringOptions;
  /** Resolves once this server's gRPC port listens: tokens and establishment wait for it. */
  serving?: Promise<void>;
  /** How often the leader of several servers publishes its streams' status (default 1 s). */
  publishStatusMs?: number;
  onMessage?: (peer: string, direction: 'sent' | 'received', type: string) => void;
}

export class Peerings {
  readonly tables = PEERING_TABLES;
  private readonly establishment: Establishment;
  private readonly streams: PeeringStreams;
  private leadership: Leadership | undefined;
  private leading = false;
  private readonly unsubscribe: (() => void)[] = [];
  /** Peerings this server is establishing or deleting right now: the reconciler leaves them alone. */
  private readonly busy = new Set<string>();
  private readonly publisher: StatusPublisher;

  constructor(private readonly d: PeeringDeps) {
    const { options } = d;
    this.establishment = new Establishment({
      ...d,
      secretTtlMs: options.secretTtlMs,
      exchangeTimeoutMs: options.exchangeTimeoutMs,
    });
    this.streams = new PeeringStreams({
      ...d,
      trustDomain: () => d.ca.trustDomain,
      rootPems: () => [d.ca.root.certPem],
      serverAddresses: () => this.establishment.peeringAddresses(),
      dialAddresses: (addresses) => this.establishment.dialAddresses(addresses),
      heartbeatMs: options.heartbeatMs,
      timeoutMs: options.timeoutMs,
      redialBaseMs: options.redialBaseMs,
      redialMaxMs: options.redialMaxMs,
      maxMessageBytes: options.maxMessageBytes,
    });
    this.publisher = new StatusPublisher(d.store, () => this.streams.statuses(), d.logger, d.publishStatusMs);
  }

  /** The names of the peerings in use (all but TERMINATED), for rules that depend on peering. */
  readonly peerNamesInUse = (tx: WriteTxn): string[] => peerNamesInUse(tx);

  /**
   * Runs the streams while this server leads: resumes what the store says is running (after a restart or
   * a change of leader), dialers of peerings established through another server, and deletions.
   */
  start(leadership?: Leadership): void {
    this.leadership = leadership ?? soleServer({ id: 'local', node: '', httpAddress: '', grpcAddresses: [] });
    this.unsubscribe.push(
      this.leadership.onChange(() => this.leadershipChanged()),
      this.d.store.subscribe([PEERINGS], () => this.reconcile()),
    );
    this.leadershipChanged();
  }

  async stop(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    this.publisher.stop();
    this.leading = false;
    await this.streams.stopAll();
  }

  private leadershipChanged(): void {
    const leading = this.leadership?.isLeader() ?? false;
    if (leading === this.leading) return;
    this.leading = leading;
    if (leading) {
      this.d.logger.info('this server leads: running the peering streams');
      if (this.leadership?.shared) this.publisher.start();
      this.reconcile();
    } else {
      this.d.logger.info('this server does not lead: its peering streams stop (the leader runs them)');
      this.publisher.stop();
      void this.streams.stopAll(false);
    }
  }

  /** On the leader: a dialer loop for every dialing peering, and every deletion finished. */
  private reconcile(): void {
    if (!this.leading) return;
    for (const e of this.d.store.list<PeeringRecord>(PEERINGS)) {
      const r = e.value;
      if (this.busy.has(r.Name)) continue;
      if (r.Role === 'dialer' && (r.State === 'ACTIVE' || r.State === 'ESTABLISHING')) {
        if (!this.streams.hasDialer(r.Name)) this.streams.startDialer(r.Name);
      }
      if (r.State === 'DELETING') void this.finishDelete(r).catch(() => undefined);
    }
  }

  async generateToken(req: TokenRequest): Promise<{ PeeringToken: string }> {
    await this.d.serving;
    return this.establishment.generateToken(req);
  }

  async establish(req: EstablishRequest): Promise<void> {
    await this.d.serving;
    this.busy.add(req.PeerName);
    try {
      await this.establishment.establish(req, () => this.streams.stop(req.PeerName));
      if (this.leading) this.streams.startDialer(req.PeerName);
    } finally {
      this.busy.delete(req.PeerName);
    }
    // Another server leads: it starts the dialer when it sees the record.
    this.reconcile();
  }

  read(name: string): PeeringView | undefined {
    const e = this.d.store.get<PeeringRecord>(PEERINGS, peeringKey(name));
    return e === undefined ? undefined : this.view(e.value, e);
  }

  list(): PeeringView[] {
    return this.d.store.list<PeeringRecord>(PEERINGS).map((e) => this.view(e.value, e));
  }

  /** Where this cluster's gateways send the peering traffic of the peerings it dials. */
  peerServers(): PeerServers[] {
    return peerServers(this.d.store);
  }

  trustBundles(): StoredTrustBundle[] {
    return this.d.store.list<StoredTrustBundle>(TRUST_BUNDLES).map((e) => e.value);
  }

  /**
   * Deletes a peering: DELETING while the peer is told (over the live stream, or one opened for it),
   * then the record goes with everything imported from the peer.
   */
  async delete(name: string): Promise<void> {
    const existing = recordByName(this.d.store, name);
    if (existing === undefined) throw notFound(`no peering named ${JSON.stringify(name)}`);
    if (!this.leading) {
      // The leader owns the stream the peer must be told on: it finishes the deletion.
      await this.d.store.write((tx) => markDeleting(tx, name));
      this.d.logger.info(
        { peer: name },
        'marked the peering DELETING; the leader tells the peer and removes it',
      );
      return;
    }
    await this.finishDelete(existing);
  }

  private async finishDelete(existing: PeeringRecord): Promise<void> {
    const name = existing.Name;
    if (this.busy.has(name)) return;
    this.busy.add(name);
    try {
      await this.d.store.write((tx) => markDeleting(tx, name));
      await this.streams.terminate(name);
      await this.d.store.write((tx) => removePeering(tx, existing, this.d.catalog));
      this.d.logger.info(
        { peer: name },
        'deleted peering; told the peer and removed imported services and trust bundle',
      );
    } finally {
      this.busy.delete(name);
    }
  }

  /** The acceptor's gRPC handlers. */
  grpcImplementation(): PeeringServiceImplementation {
    return acceptorService({
      store: this.d.store,
      logger: this.d.logger,
      accept: (record, call) => this.streams.accept(record, call),
      endSession: (name) => this.streams.endSession(name),
      notLeader: () => {
        if (this.leading || this.leadership === undefined) return undefined;
        return notLeaderDetails(this.leadership.leader()?.grpcAddresses[0]);
      },
    });
  }

  /** The leader's published status of a stream this server does not run (several servers only). */
  private publishedStatus(name: string): StreamStatus | undefined {
    const snapshot = this.d.store.get<StreamSnapshot>(STREAM_SNAPSHOTS, peeringKey(name))?.value;
    return snapshot === undefined ? undefined : StreamStatus.fromSnapshot(snapshot);
  }

  private view(record: PeeringRecord, stamps: { createIndex: number; modifyIndex: number }): PeeringView {
    const status = this.streams.status(record.Name) ?? this.publishedStatus(record.Name);
    const bundle = this.d.store.get<StoredTrustBundle>(TRUST_BUNDLES, peeringKey(record.Name))?.value;
    const withRoots =
      record.Role === 'acceptor' && bundle ? { ...record, PeerCAPems: bundle.RootPEMs } : record;
    const view = toView(
      withRoots,
      stamps,
      status,
      this.d.catalog.importedServiceNames(record.Name),
      [...(status?.exported ?? [])],
      this.d.options.timeoutMs,
    );
    view.StreamStatus.Warnings = [
      ...view.StreamStatus.Warnings,
      ...exportWarnings(this.d.config, this.d.catalog, record.Name),
    ];
    return view;
  }
}
