// One replication session over one bidirectional stream, the same on both sides: it sends what this
// cluster exports to the peer (driven by store watches), applies what the peer exports to us, ACKs or
// NACKs every response, sends heartbeats and ends the stream when the peer falls silent.
import { createHash, randomUUID } from 'node:crypto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { Catalog, InstanceRecord } from '../catalog/catalog.js';
import type { ConfigEntries } from '../config-entries/config-store.js';
import type { Logger } from '../shared/logger.js';
import type { Store, WriteTxn } from '../store/store.js';
import {
  computeServiceExport,
  exportAll,
  exportContext,
  localMeshGateway,
  NO_GATEWAY_WARNING,
} from './exporter.js';
import {
  Operation,
  type ReplicationMessage,
  type ReplicationMessage_Response,
  type ReplicationMessageSchema,
} from './gen/meshpeer/peering/v1/peering_pb.js';
import {
  type ExportedServicePayload,
  exportedServiceListSchema,
  exportedServiceSchema,
  isResourceType,
  ResourceTypes,
  serverAddressesSchema,
  trustBundleSchema,
} from './payloads.js';
import {
  PEERINGS,
  type PeeringRecord,
  peeringKey,
  type StoredTrustBundle,
  TRUST_BUNDLES,
} from './records.js';
import type { StreamStatus } from './stream-status.js';

type Outgoing = MessageInitShape<typeof ReplicationMessageSchema>;

/** The part of a grpc-js duplex stream a session uses (client and server streams both fit). */
export interface MessageStream {
  write(message: Outgoing): boolean;
  end(): void;
  on(event: 'data', listener: (m: ReplicationMessage) => void): unknown;
  on(event: 'error', listener: (err: Error & { code?: number; details?: string }) => void): unknown;
  /** 'cancelled': grpc-js server streams, when the client cancels the call. */
  on(event: 'end' | 'close' | 'cancelled', listener: () => void): unknown;
  /** 'drain': the write buffer emptied after write() returned false. */
  once(event: 'drain', listener: () => void): unknown;
  removeListener(event: 'drain', listener: () => void): unknown;
  cancel?(): void;
}

export interface SessionDeps {
  store: Store;
  catalog: Catalog;
  config: ConfigEntries;
  logger: Logger;
  trustDomain: string;
  rootPems: () => string[];
  serverAddresses: () => string[];
  heartbeatMs: number;
  timeoutMs: number;
  onMessage?: (direction: 'sent' | 'received', type: string) => void;
}

export type SessionEnd =
  | { reason: 'terminated' }
  | { reason: 'closed'; message: string; code?: number | undefined }
  | { reason: 'stopped' };

/** Most resources applied in one transaction. */
const MAX_BATCH = 500;

const TABLES_TO_WATCH = ['catalog/services', 'catalog/checks', 'catalog/nodes', 'config-entries', 'ca'];

export class ReplicationSession {
  readonly done: Promise<SessionEnd>;
  private finish!: (end: SessionEnd) => void;
  private ended = false;
  private terminating = false;
  /** What the peer has of each service we export: a digest of the JSON last sent. */
  private readonly sent = new Map<string, string>();
  /** The store index our export was last computed at (-1: never). */
  private exportCursor = -1;
  private exportEntryIndex = -1;
  private gateway: { Address: string; Port: number } | undefined;
  private listSent = false;
  private rootsSent = '';
  private exportScheduled = false;
  private exportRunning = false;
  private exportAgain = false;
  private backlogged = false;
  private unsubscribe: (() => void) | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  /** Responses from the peer not applied yet, in arrival order. */
  private pending: ReplicationMessage_Response[] = [];
  private draining = false;
  private startedAt = Date.now();

  constructor(
    private readonly peer: string,
    private readonly stream: MessageStream,
    private readonly status: StreamStatus,
    private readonly deps: SessionDeps,
  ) {
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
    stream.on('data', (m) => this.receive(m));
    stream.on('error', (err) =>
      this.end({ reason: 'closed', message: err.details ?? err.message, code: err.code }),
    );
    stream.on('end', () => this.end({ reason: 'closed', message: 'the peer closed the stream' }));
    stream.on('cancelled', () => this.end({ reason: 'closed', message: 'the peer cancelled the stream' }));
  }

  /** Starts replicating: everything we export now, then every change, plus heartbeats both ways. */
  start(): void {
    this.startedAt = Date.now();
    this.unsubscribe = this.deps.store.subscribe(TABLES_TO_WATCH, () => this.scheduleExport());
    this.sendTrustBundle(this.deps.rootPems());
    this.sendResource(ResourceTypes.ServerAddresses, 'servers', { Addresses: this.deps.serverAddresses() });
    this.scheduleExport();
    this.heartbeat = setInterval(
      () => this.send({ payload: { case: 'heartbeat', value: {} } }, 'heartbeat'),
      this.deps.heartbeatMs,
    );
    this.watchdog = setInterval(
      () => this.checkSilence(),
      Math.max(50, Math.min(this.deps.heartbeatMs, this.deps.timeoutMs / 4)),
    );
  }

  /**
   * Tells the peer this peering is deleted, then ends the stream. Resolves once the peer closed its side
   * (it got the message) or after graceMs: cancelling at once could discard the unsent Terminated.
   */
  async terminate(graceMs = 1000): Promise<void> {
    if (this.ended) return;
    this.terminating = true;
    this.send({ payload: { case: 'terminated', value: {} } }, 'terminated');
    // The peer ends the stream when it gets the message; ending ours first could drop it.
    const timer = setTimeout(() => this.end({ reason: 'stopped' }), graceMs);
    await this.done;
    clearTimeout(timer);
  }

  stop(): void {
    this.end({ reason: 'stopped' });
  }

  get isEnded(): boolean {
    return this.ended;
  }

  // ---- outgoing ----

  private scheduleExport(): void {
    if (this.exportScheduled || this.ended) return;
    this.exportScheduled = true;
    setImmediate(() => {
      this.exportScheduled = false;
      if (this.exportRunning) {
        // The running export picks up from its start index; run once more when it is done.
        this.exportAgain = true;
        return;
      }
      this.exportRunning = true;
      this.exportChanges()
        .catch((err: unknown) =>
          this.deps.logger.error({ peer: this.peer, err }, 'exporting to the peer failed'),
        )
        .finally(() => {
          this.exportRunning = false;
          if (this.exportAgain) {
            this.exportAgain = false;
            this.scheduleExport();
          }
        });
    });
  }

  /** Resolves when the stream's write buffer has room again (or the session ended). */
  private async writable(): Promise<void> {
    if (!this.backlogged || this.ended) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.stream.removeListener('drain', done);
        resolve();
      };
      this.stream.once('drain', done);
      void this.done.then(done);
    });
    this.backlogged = false;
  }

  /**
   * Sends the peer what changed in our export. The first run (and any change of the exported-services
   * entry or of the mesh gateway) recomputes everything; otherwise only the services the catalog says
   * were touched since the last run are recomputed, so a change costs the same with 10 or 10,000
   * exported services.
   */
  private async exportChanges(): Promise<void> {
    if (this.ended) return;
    const { catalog, config, store, trustDomain } = this.deps;
    const index = store.lastIndex();
    const entryIndex = config.get('exported-services', 'default')?.ModifyIndex ?? 0;
    const changes = this.exportCursor < 0 ? undefined : catalog.localChangesSince(this.exportCursor);
    let full = changes === undefined || entryIndex !== this.exportEntryIndex;
    if (!full && changes?.gateway) {
      const gateway = localMeshGateway(catalog);
      full = JSON.stringify(gateway ?? null) !== JSON.stringify(this.gateway ?? null);
    }
    let namesChanged = false;
    if (full) {
      this.gateway = localMeshGateway(catalog);
      const exported = new Set<string>();
      for (const [name, payload] of exportAll(catalog, config, this.peer, trustDomain, this.gateway)) {
        exported.add(name);
        if (!this.sent.has(name)) namesChanged = true;
        this.sendService(name, payload);
        // A whole catalog is sent at the pace the peer takes it, not buffered here at once.
        await this.writable();
        if (this.ended) return;
      }
      for (const name of [...this.sent.keys()]) {
        if (exported.has(name)) continue;
        this.sendService(name, undefined);
        namesChanged = true;
      }
    } else if (changes !== undefined && changes.names.size > 0) {
      const ctx = exportContext(catalog, config, this.peer, trustDomain, this.gateway);
      for (const name of changes.names) {
        const payload = computeServiceExport(catalog, ctx, name);
        if (this.sent.has(name) !== (payload !== undefined)) namesChanged = true;
        this.sendService(name, payload);
      }
    }
    this.exportCursor = index;
    this.exportEntryIndex = entryIndex;
    this.status.warnings = this.sent.size > 0 && this.gateway === undefined ? [NO_GATEWAY_WARNING] : [];
    if (namesChanged || !this.listSent) {
      const names = [...this.sent.keys()].sort();
      this.status.exported = names;
      // The authoritative list lets the importer drop anything a previous stream left behind.
      this.sendResource(ResourceTypes.ExportedServiceList, 'all', { Names: names });
      this.listSent = true;
    }
    const roots = this.deps.rootPems();
    if (JSON.stringify(roots) !== this.rootsSent) this.sendTrustBundle(roots);
  }

  /** Sends one service's export (or its removal) if it differs from what the peer has. */
  private sendService(name: string, payload: ExportedServicePayload | undefined): void {
    if (payload === undefined) {
      if (!this.sent.delete(name)) return;
      this.sendResponse(ResourceTypes.ExportedService, name, Operation.DELETE, '');
      return;
    }
    const body = JSON.stringify(payload);
    const digest = createHash('sha1').update(body).digest('base64');
    if (this.sent.get(name) === digest) return;
    this.sent.set(name, digest);
    this.sendResponse(ResourceTypes.ExportedService, name, Operation.UPSERT, body);
  }

  private sendTrustBundle(roots: string[]): void {
    this.rootsSent = JSON.stringify(roots);
    this.sendResource(ResourceTypes.PeeringTrustBundle, 'roots', {
      TrustDomain: this.deps.trustDomain,
      RootPEMs: roots,
    });
  }

  private sendResource(url: string, id: string, doc: unknown): void {
    this.sendResponse(url, id, Operation.UPSERT, JSON.stringify(doc));
  }

  private sendResponse(url: string, id: string, operation: Operation, body: string): void {
    this.send(
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

  private send(message: Outgoing, type: string): void {
    if (this.ended) return;
    try {
      if (!this.stream.write(message)) this.backlogged = true;
      this.status.lastSend = new Date();
      this.deps.onMessage?.('sent', type);
    } catch (err) {
      this.end({ reason: 'closed', message: `cannot write to the stream: ${(err as Error).message}` });
    }
  }

  // ---- incoming ----

  private receive(m: ReplicationMessage): void {
    if (this.ended) return;
    const now = new Date();
    this.status.lastReceive = now;
    this.status.connected = true;
    this.deps.onMessage?.('received', m.payload.case ?? 'unknown');
    switch (m.payload.case) {
      case 'heartbeat':
        this.status.lastHeartbeat = now;
        return;
      case 'terminated':
        this.end({ reason: 'terminated' });
        return;
      case 'request': {
        const r = m.payload.value;
        if (r.error) {
          this.status.lastNack = now;
          this.status.lastNackMessage = `${r.resourceUrl}: ${r.error.message}`;
          this.deps.logger.warn(
            { peer: this.peer, resource: r.resourceUrl, error: r.error.message },
            'peer NACKed a resource',
          );
        } else {
          this.status.lastAck = now;
        }
        return;
      }
      case 'response': {
        // Applied in order; whatever queued up meanwhile goes in one transaction.
        this.pending.push(m.payload.value);
        if (!this.draining) void this.drain();
        return;
      }
      default:
        return;
    }
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.pending.length > 0 && !this.ended) {
        await this.applyBatch(this.pending.splice(0, MAX_BATCH));
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * Validates each resource, applies the valid ones in one store transaction (one commit for a burst,
   * as during a full resync), then ACKs or NACKs each. If the transaction fails, each is retried alone
   * so only the culprit is NACKed.
   */
  private async applyBatch(batch: ReplicationMessage_Response[]): Promise<void> {
    const prepared = batch.map((r) => ({ r, ...this.prepare(r) }));
    const ops = prepared.filter((p) => p.op !== undefined);
    if (ops.length > 0) {
      try {
        await this.deps.store.write((tx) => {
          for (const p of ops) p.op?.(tx);
        });
      } catch {
        for (const p of ops) {
          try {
            await this.deps.store.write((tx) => p.op?.(tx));
          } catch (err) {
            p.error = `cannot apply: ${(err as Error).message}`;
            this.deps.logger.error({ peer: this.peer, err }, 'applying a replicated resource failed');
          }
        }
      }
    }
    if (this.ended) return;
    for (const { r, error } of prepared) {
      if (error !== undefined) {
        this.status.lastError = error;
        this.status.lastErrorAt = new Date();
      }
      this.send(
        {
          payload: {
            case: 'request',
            value: {
              resourceUrl: r.resourceUrl,
              responseNonce: r.nonce,
              ...(error !== undefined ? { error: { code: 3, message: error } } : {}),
            },
          },
        },
        error === undefined ? 'ack' : 'nack',
      );
    }
  }

  /** Validates one resource from the peer: the write that applies it, or why it is refused (NACK). */
  private prepare(r: ReplicationMessage_Response): { op?: (tx: WriteTxn) => void; error?: string } {
    if (!isResourceType(r.resourceUrl))
      return { error: `unknown resource type ${JSON.stringify(r.resourceUrl)}` };
    const doc = r.operation === Operation.DELETE ? undefined : parseJson(r.resource);
    if (r.operation !== Operation.DELETE && doc === undefined) return { error: 'resource is not valid JSON' };
    const peer = this.peer;
    const catalog = this.deps.catalog;
    switch (r.resourceUrl) {
      case ResourceTypes.ExportedService: {
        if (r.operation === Operation.DELETE) {
          return { op: (tx) => catalog.replaceImportedService(tx, peer, r.resourceId, []) };
        }
        const parsed = exportedServiceSchema.safeParse(doc);
        if (!parsed.success)
          return { error: `invalid exported service: ${parsed.error.issues[0]?.message ?? 'bad shape'}` };
        if (parsed.data.Name !== r.resourceId)
          return { error: 'resource ID does not match the service name' };
        const records = toRecords(parsed.data);
        return { op: (tx) => catalog.replaceImportedService(tx, peer, parsed.data.Name, records) };
      }
      case ResourceTypes.ExportedServiceList: {
        const parsed = exportedServiceListSchema.safeParse(doc);
        if (!parsed.success) return { error: 'invalid exported service list' };
        const keep = new Set(parsed.data.Names);
        return {
          op: (tx) => {
            for (const name of catalog.importedServiceNames(peer, tx)) {
              if (!keep.has(name)) catalog.replaceImportedService(tx, peer, name, []);
            }
          },
        };
      }
      case ResourceTypes.PeeringTrustBundle: {
        const parsed = trustBundleSchema.safeParse(doc);
        if (!parsed.success) return { error: 'invalid trust bundle' };
        const bundle: StoredTrustBundle = { PeerName: peer, ...parsed.data };
        return {
          op: (tx) => {
            const existing = tx.get<StoredTrustBundle>(TRUST_BUNDLES, peeringKey(peer));
            if (JSON.stringify(existing?.value) !== JSON.stringify(bundle))
              tx.put(TRUST_BUNDLES, peeringKey(peer), bundle);
          },
        };
      }
      case ResourceTypes.ServerAddresses: {
        const parsed = serverAddressesSchema.safeParse(doc);
        if (!parsed.success) return { error: 'invalid server addresses' };
        return {
          op: (tx) => {
            const rec = tx.get<PeeringRecord>(PEERINGS, peeringKey(peer));
            // Manual addresses are what the acceptor's operator said is reachable from here: keep to them.
            if (rec === undefined || rec.value.Role !== 'dialer' || rec.value.ManualServerAddresses) return;
            const merged = [...new Set([...rec.value.PeerServerAddresses, ...parsed.data.Addresses])];
            if (merged.length !== rec.value.PeerServerAddresses.length) {
              tx.put(PEERINGS, peeringKey(peer), { ...rec.value, PeerServerAddresses: merged });
            }
          },
        };
      }
    }
  }

  // ---- lifecycle ----

  private checkSilence(): void {
    const last = Math.max(this.status.lastReceive?.getTime() ?? 0, this.startedAt);
    if (Date.now() - last > this.deps.timeoutMs) {
      this.end({
        reason: 'closed',
        message: `nothing received from the peer for ${Math.round((Date.now() - last) / 1000)}s (timeout ${this.deps.timeoutMs / 1000}s)`,
      });
    }
  }

  private end(given: SessionEnd): void {
    if (this.ended) return;
    // Once we sent Terminated, however the stream closes is our own doing.
    const end: SessionEnd = this.terminating ? { reason: 'stopped' } : given;
    this.ended = true;
    this.status.connected = false;
    if (end.reason === 'closed') {
      this.status.lastError = end.message;
      this.status.lastErrorAt = new Date();
    }
    this.unsubscribe?.();
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.watchdog) clearInterval(this.watchdog);
    try {
      this.stream.end();
    } catch {
      // already closed
    }
    this.stream.cancel?.();
    this.finish(end);
  }
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
}

function toRecords(p: ExportedServicePayload): InstanceRecord[] {
  return p.Instances.map((i) => ({
    node: {
      ID: '',
      Node: i.Node.Node,
      Address: i.Node.Address,
      Datacenter: '',
      TaggedAddresses: {},
      Meta: i.Node.Meta,
    },
    service: {
      ID: i.Service.ID,
      Service: p.Name,
      Kind: '',
      Tags: i.Service.Tags,
      Address: i.Service.Address,
      TaggedAddresses: {},
      Meta: i.Service.Meta,
      Port: i.Service.Port,
      Weights: { Passing: 1, Warning: 1 },
      EnableTagOverride: false,
    },
    checks: i.Checks.map((c) => ({
      Node: i.Node.Node,
      CheckID: c.CheckID,
      Name: c.Name,
      Status: c.Status,
      Notes: '',
      Output: c.Output,
      // A node-level check stays one: it belongs to the node, shared by its services.
      ...(c.ServiceID === ''
        ? { ServiceID: '', ServiceName: '', ServiceTags: [] }
        : { ServiceID: i.Service.ID, ServiceName: p.Name, ServiceTags: i.Service.Tags }),
      Type: '',
    })),
  }));
}
