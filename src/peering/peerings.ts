// The peering domain's API, as the HTTP routes and the server use it: generate a token, establish with
// one, read, list and delete peerings, and serve and run their streams. Each job lives in its own module:
// establishment.ts (tokens and the exchange), acceptor-service.ts (the gRPC handlers), streams.ts (live
// sessions and dialers), state-machine.ts (every record write), views.ts and diagnostics.ts (status).
import type { CertificateAuthority } from '../ca/authority.js';
import type { Catalog } from '../catalog/catalog.js';
import type { ConfigEntries } from '../config-entries/config-store.js';
import { notFound } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Store, WriteTxn } from '../store/store.js';
import { acceptorService } from './acceptor-service.js';
import { exportWarnings } from './diagnostics.js';
import { Establishment, type EstablishRequest, type TokenRequest } from './establishment.js';
import { type PeerServers, peerServers } from './peer-servers.js';
import {
  PEERING_TABLES,
  PEERINGS,
  type PeeringRecord,
  peeringKey,
  peerNamesInUse,
  recordByName,
  type StoredTrustBundle,
  TRUST_BUNDLES,
} from './records.js';
import { markDeleting, removePeering } from './state-machine.js';
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
  onMessage?: (peer: string, direction: 'sent' | 'received', type: string) => void;
}

export class Peerings {
  readonly tables = PEERING_TABLES;
  private readonly establishment: Establishment;
  private readonly streams: PeeringStreams;

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
  }

  /** The names of the peerings in use (all but TERMINATED), for rules that depend on peering. */
  readonly peerNamesInUse = (tx: WriteTxn): string[] => peerNamesInUse(tx);

  /** Resumes what the store says was running (after a restart): dialer streams, and deletions. */
  start(): void {
    for (const e of this.d.store.list<PeeringRecord>(PEERINGS)) {
      const r = e.value;
      if (r.Role === 'dialer' && (r.State === 'ACTIVE' || r.State === 'ESTABLISHING'))
        this.streams.startDialer(r.Name);
      if (r.State === 'DELETING') void this.delete(r.Name).catch(() => undefined);
    }
  }

  stop(): Promise<void> {
    return this.streams.stopAll();
  }

  generateToken(req: TokenRequest): Promise<{ PeeringToken: string }> {
    return this.establishment.generateToken(req);
  }

  async establish(req: EstablishRequest): Promise<void> {
    await this.establishment.establish(req, () => this.streams.stop(req.PeerName));
    this.streams.startDialer(req.PeerName);
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
    await this.d.store.write((tx) => markDeleting(tx, name));
    await this.streams.terminate(name);
    await this.d.store.write((tx) => removePeering(tx, existing, this.d.catalog));
    this.d.logger.info(
      { peer: name },
      'deleted peering; told the peer and removed imported services and trust bundle',
    );
  }

  /** The acceptor's gRPC handlers. */
  grpcImplementation(): PeeringServiceImplementation {
    return acceptorService({
      store: this.d.store,
      logger: this.d.logger,
      accept: (record, call) => this.streams.accept(record, call),
      endSession: (name) => this.streams.endSession(name),
    });
  }

  private view(record: PeeringRecord, stamps: { createIndex: number; modifyIndex: number }): PeeringView {
    const status = this.streams.status(record.Name);
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
