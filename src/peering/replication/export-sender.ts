// The exporting half of a replication session: sends the peer what this cluster exports to it, and
// every change after, at the pace the stream takes it. What the peer has is kept as one digest per
// service (bounded by the exported services, not by the number of changes), and a checkpoint of those
// digests goes to the peer regularly so it can prove it holds exactly that, or ask for a resync.
import { createHash, randomUUID } from 'node:crypto';
import type { Catalog } from '../../catalog/catalog.js';
import type { ConfigEntries } from '../../config-entries/config-store.js';
import type { Logger } from '../../shared/logger.js';
import type { Store } from '../../store/store.js';
import {
  computeServiceExport,
  exportAll,
  exportContext,
  localMeshGateway,
  NO_GATEWAY_WARNING,
} from '../exporter.js';
import { Operation } from '../gen/meshpeer/peering/v1/peering_pb.js';
import { type ExportedServicePayload, ResourceTypes } from '../payloads.js';
import type { StreamStatus } from '../stream-status.js';
import { Coalescer } from './coalescer.js';
import { type Outbox, StalledError } from './outbox.js';

/** How often, at most, a checkpoint follows changes (and the least time between two resyncs). */
export const CHECKPOINT_INTERVAL_MS = 1000;

export interface ExportDeps {
  store: Store;
  catalog: Catalog;
  config: ConfigEntries;
  logger: Logger;
  trustDomain: string;
  rootPems: () => string[];
  /** How long the peer may take nothing before the stream is given up. */
  stallMs: number;
}

export const digestOf = (body: string | Uint8Array): string =>
  createHash('sha1').update(body).digest('base64');

export class ExportSender {
  /** What the peer has of each service we export: the digest of the JSON last sent. */
  private readonly sent = new Map<string, string>();
  /** The store index our export was last computed at (-1: recompute everything). */
  private cursor = -1;
  private entryIndex = -1;
  private gateway: { Address: string; Port: number } | undefined;
  private rootsSent = '';
  /** Something changed since the last checkpoint (or none was sent yet). */
  private uncheckpointed = true;
  private lastCheckpointAt = 0;
  private lastResyncAt = 0;
  /** The peer asked for everything again; the next run starts from nothing. */
  private resyncPending = false;
  private checkpointTimer: NodeJS.Timeout | undefined;
  /** The checkpoint interval passed with changes unconfirmed: the next run ends with a checkpoint. */
  private checkpointDue = false;
  private resyncTimer: NodeJS.Timeout | undefined;
  private readonly runs: Coalescer;

  constructor(
    private readonly peer: string,
    private readonly outbox: Outbox,
    private readonly status: StreamStatus,
    private readonly deps: ExportDeps,
    private readonly onStalled: (message: string) => void,
  ) {
    this.runs = new Coalescer(
      () => this.exportChanges(),
      (err) => {
        if (err instanceof StalledError) return this.onStalled(err.message);
        this.deps.logger.error({ peer: this.peer, err }, 'exporting to the peer failed');
      },
    );
  }

  /** Something we may export changed: send the difference soon. */
  request(): void {
    this.runs.request();
  }

  /**
   * The peer found its import differs from our checkpoint: forget what we believe it has and send
   * everything again (at most once per interval, so a peer that keeps failing cannot make us spin).
   */
  resync(reason: string): void {
    const wait = this.lastResyncAt + CHECKPOINT_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this.resyncTimer ??= setTimeout(() => {
        this.resyncTimer = undefined;
        this.resync(reason);
      }, wait);
      return;
    }
    this.lastResyncAt = Date.now();
    this.deps.logger.warn(
      { peer: this.peer, reason },
      'the peer asked for a resync; sending everything again',
    );
    // Forgotten at the start of the next run, not here: a run in progress would otherwise finish
    // with a partial `sent` and a current cursor, and the next checkpoint would prune the rest.
    this.resyncPending = true;
    this.runs.request();
  }

  stop(): void {
    this.runs.close();
    clearTimeout(this.checkpointTimer);
    clearTimeout(this.resyncTimer);
  }

  /**
   * Sends the peer what changed in our export. The first run (and any change of the exported-services
   * entry or of the mesh gateway) recomputes everything; otherwise only the services the catalog says
   * were touched since the last run are recomputed, so a change costs the same with 10 or 10,000
   * exported services. Every send waits while the stream's buffer is full.
   */
  private async exportChanges(): Promise<void> {
    if (this.resyncPending) {
      this.resyncPending = false;
      this.sent.clear();
      this.cursor = -1;
    }
    const { catalog, config, store, trustDomain } = this.deps;
    const index = store.lastIndex();
    const entryIndex = config.get('exported-services', 'default')?.ModifyIndex ?? 0;
    const changes = this.cursor < 0 ? undefined : catalog.localChangesSince(this.cursor);
    let full = changes === undefined || entryIndex !== this.entryIndex;
    if (!full && changes?.gateway) {
      const gateway = localMeshGateway(catalog);
      full = JSON.stringify(gateway ?? null) !== JSON.stringify(this.gateway ?? null);
    }
    let namesChanged = this.cursor < 0;
    if (full) {
      this.gateway = localMeshGateway(catalog);
      const exported = new Set<string>();
      for (const [name, payload] of exportAll(catalog, config, this.peer, trustDomain, this.gateway)) {
        exported.add(name);
        if (this.sendService(name, payload)) namesChanged = true;
        await this.paced();
      }
      for (const name of [...this.sent.keys()]) {
        if (exported.has(name)) continue;
        this.sendService(name, undefined);
        namesChanged = true;
        await this.paced();
      }
    } else if (changes !== undefined && changes.names.size > 0) {
      const ctx = exportContext(catalog, config, this.peer, trustDomain, this.gateway);
      for (const name of changes.names) {
        if (this.sendService(name, computeServiceExport(catalog, ctx, name))) namesChanged = true;
        await this.paced();
      }
    }
    this.cursor = index;
    this.entryIndex = entryIndex;
    this.status.trackWarnings(this.sent.size > 0 && this.gateway === undefined ? [NO_GATEWAY_WARNING] : []);
    const roots = this.deps.rootPems();
    if (JSON.stringify(roots) !== this.rootsSent) this.sendTrustBundle(roots);
    if (namesChanged) this.status.trackExported([...this.sent.keys()].sort());
    // A changed list of names goes out at once (it prunes what a previous stream left on the peer);
    // other changes are covered by a checkpoint within the interval.
    // A checkpoint is only ever sent here, between sends of a run: one sent in the middle of a full
    // run would name only what that run had sent so far, and the peer would prune the rest.
    if (namesChanged || this.checkpointDue) this.checkpoint();
    else if (this.uncheckpointed && this.checkpointTimer === undefined) {
      const delay = Math.max(0, this.lastCheckpointAt + CHECKPOINT_INTERVAL_MS - Date.now());
      this.checkpointTimer = setTimeout(() => {
        this.checkpointTimer = undefined;
        this.checkpointDue = true;
        this.runs.request();
      }, delay);
    }
  }

  /** Waits while the stream cannot take more; a peer that takes nothing for too long ends the stream. */
  private async paced(): Promise<void> {
    if (!this.outbox.full) return;
    this.status.trackSendBlocked();
    try {
      await this.outbox.whenWritable(this.deps.stallMs);
    } finally {
      this.status.trackSendUnblocked();
    }
  }

  /**
   * Sends one service's export (or its removal) if it differs from what the peer has. Returns whether
   * the set of names the peer holds changed.
   */
  private sendService(name: string, payload: ExportedServicePayload | undefined): boolean {
    if (payload === undefined) {
      if (!this.sent.delete(name)) return false;
      this.sendResponse(ResourceTypes.ExportedService, name, Operation.DELETE, '');
      return true;
    }
    const body = JSON.stringify(payload);
    const digest = digestOf(body);
    const before = this.sent.get(name);
    if (before === digest) return false;
    this.sent.set(name, digest);
    this.sendResponse(ResourceTypes.ExportedService, name, Operation.UPSERT, body);
    return before === undefined;
  }

  /**
   * The names and digests of everything the peer should hold now. The stream is ordered, so the peer
   * compares it with what it applied before this message: any difference is a real gap.
   */
  private checkpoint(): void {
    clearTimeout(this.checkpointTimer);
    this.checkpointTimer = undefined;
    this.checkpointDue = false;
    const names = [...this.sent.keys()].sort();
    const digests: Record<string, string> = {};
    for (const n of names) digests[n] = this.sent.get(n) ?? '';
    this.sendResponse(
      ResourceTypes.ExportedServiceList,
      'all',
      Operation.UPSERT,
      JSON.stringify({ Names: names, Digests: digests }),
    );
    this.uncheckpointed = false;
    this.lastCheckpointAt = Date.now();
  }

  private sendTrustBundle(roots: string[]): void {
    this.rootsSent = JSON.stringify(roots);
    this.sendResponse(
      ResourceTypes.PeeringTrustBundle,
      'roots',
      Operation.UPSERT,
      JSON.stringify({ TrustDomain: this.deps.trustDomain, RootPEMs: roots }),
    );
  }

  sendServerAddresses(addresses: string[]): void {
    this.sendResponse(
      ResourceTypes.ServerAddresses,
      'servers',
      Operation.UPSERT,
      JSON.stringify({ Addresses: addresses }),
    );
  }

  private sendResponse(url: string, id: string, operation: Operation, body: string): void {
    if (url === ResourceTypes.ExportedService) this.uncheckpointed = true;
    this.outbox.send(
      {
        payload: {
          case: 'response',
          value: {
            resourceUrl: url,
            resourceId: id,
            nonce: randomUUID(),
            operation,
            resource: Buffer.from(body),
          },
        },
      },
      url,
    );
  }
}
