// One replication session over one bidirectional stream, the same on both sides: it sends what this
// cluster exports to the peer (driven by store watches), applies what the peer exports to us, ACKs or
// NACKs every response, sends heartbeats and ends the stream when the peer falls silent.
import { randomUUID } from 'node:crypto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { Catalog, InstanceRecord } from '../catalog/catalog.js';
import type { ConfigEntries } from '../config-entries/config-store.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import { computeExport } from './exporter.js';
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
  on(event: 'end' | 'close', listener: () => void): unknown;
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

const TABLES_TO_WATCH = ['catalog/services', 'catalog/checks', 'catalog/nodes', 'config-entries', 'ca'];

export class ReplicationSession {
  readonly done: Promise<SessionEnd>;
  private finish!: (end: SessionEnd) => void;
  private ended = false;
  private readonly sent = new Map<string, string>();
  private exportScheduled = false;
  private exportRunning = false;
  private unsubscribe: (() => void) | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private incoming: Promise<void> = Promise.resolve();
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
  }

  /** Starts replicating: everything we export now, then every change, plus heartbeats both ways. */
  start(): void {
    this.startedAt = Date.now();
    this.unsubscribe = this.deps.store.subscribe(TABLES_TO_WATCH, () => this.scheduleExport());
    this.sendResource(ResourceTypes.PeeringTrustBundle, 'roots', {
      TrustDomain: this.deps.trustDomain,
      RootPEMs: this.deps.rootPems(),
    });
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

  /** Tells the peer this peering is deleted, then ends the stream. */
  terminate(): void {
    this.send({ payload: { case: 'terminated', value: {} } }, 'terminated');
    this.end({ reason: 'stopped' });
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
        this.scheduleExport();
        return;
      }
      this.exportRunning = true;
      try {
        this.exportChanges();
      } finally {
        this.exportRunning = false;
      }
    });
  }

  private exportChanges(): void {
    if (this.ended) return;
    const snapshot = computeExport(this.deps.catalog, this.deps.config, this.peer, this.deps.trustDomain);
    this.status.warnings = snapshot.warnings;
    let changed = false;
    for (const [name, payload] of snapshot.services) {
      const body = JSON.stringify(payload);
      if (this.sent.get(name) === body) continue;
      this.sent.set(name, body);
      this.sendResponse(ResourceTypes.ExportedService, name, Operation.UPSERT, body);
      changed = true;
    }
    for (const name of [...this.sent.keys()]) {
      if (snapshot.services.has(name)) continue;
      this.sent.delete(name);
      this.sendResponse(ResourceTypes.ExportedService, name, Operation.DELETE, '');
      changed = true;
    }
    if (changed || this.status.exported.length === 0) {
      const names = [...this.sent.keys()].sort();
      this.status.exported = names;
      // The authoritative list lets the importer drop anything a previous stream left behind.
      this.sendResource(ResourceTypes.ExportedServiceList, 'all', { Names: names });
    }
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
      this.stream.write(message);
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
        const response = m.payload.value;
        // Apply in order, one at a time: a later message may depend on an earlier one.
        this.incoming = this.incoming.then(() => this.apply(response));
        return;
      }
      default:
        return;
    }
  }

  private async apply(r: ReplicationMessage_Response): Promise<void> {
    if (this.ended) return;
    let error: string | undefined;
    try {
      error = await this.applyResource(r);
    } catch (err) {
      error = `cannot apply: ${(err as Error).message}`;
      this.deps.logger.error({ peer: this.peer, err }, 'applying a replicated resource failed');
    }
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

  /** Applies one resource from the peer; returns a NACK message, or undefined when applied. */
  private async applyResource(r: ReplicationMessage_Response): Promise<string | undefined> {
    if (!isResourceType(r.resourceUrl)) return `unknown resource type ${JSON.stringify(r.resourceUrl)}`;
    const doc = r.operation === Operation.DELETE ? undefined : parseJson(r.resource);
    if (r.operation !== Operation.DELETE && doc === undefined) return 'resource is not valid JSON';
    const peer = this.peer;
    switch (r.resourceUrl) {
      case ResourceTypes.ExportedService: {
        if (r.operation === Operation.DELETE) {
          await this.deps.store.write((tx) =>
            this.deps.catalog.replaceImportedService(tx, peer, r.resourceId, []),
          );
          return undefined;
        }
        const parsed = exportedServiceSchema.safeParse(doc);
        if (!parsed.success)
          return `invalid exported service: ${parsed.error.issues[0]?.message ?? 'bad shape'}`;
        if (parsed.data.Name !== r.resourceId) return 'resource ID does not match the service name';
        const records = toRecords(parsed.data);
        await this.deps.store.write((tx) =>
          this.deps.catalog.replaceImportedService(tx, peer, parsed.data.Name, records),
        );
        return undefined;
      }
      case ResourceTypes.ExportedServiceList: {
        const parsed = exportedServiceListSchema.safeParse(doc);
        if (!parsed.success) return 'invalid exported service list';
        const keep = new Set(parsed.data.Names);
        await this.deps.store.write((tx) => {
          for (const name of this.deps.catalog.importedServiceNames(peer)) {
            if (!keep.has(name)) this.deps.catalog.replaceImportedService(tx, peer, name, []);
          }
        });
        return undefined;
      }
      case ResourceTypes.PeeringTrustBundle: {
        const parsed = trustBundleSchema.safeParse(doc);
        if (!parsed.success) return 'invalid trust bundle';
        const bundle: StoredTrustBundle = { PeerName: peer, ...parsed.data };
        await this.deps.store.write((tx) => {
          const existing = tx.get<StoredTrustBundle>(TRUST_BUNDLES, peeringKey(peer));
          if (JSON.stringify(existing?.value) !== JSON.stringify(bundle))
            tx.put(TRUST_BUNDLES, peeringKey(peer), bundle);
        });
        return undefined;
      }
      case ResourceTypes.ServerAddresses: {
        const parsed = serverAddressesSchema.safeParse(doc);
        if (!parsed.success) return 'invalid server addresses';
        await this.deps.store.write((tx) => {
          const rec = tx.get<PeeringRecord>(PEERINGS, peeringKey(peer));
          if (rec === undefined || rec.value.Role !== 'dialer') return;
          const merged = [...new Set([...rec.value.PeerServerAddresses, ...parsed.data.Addresses])];
          if (merged.length !== rec.value.PeerServerAddresses.length) {
            tx.put(PEERINGS, peeringKey(peer), { ...rec.value, PeerServerAddresses: merged });
          }
        });
        return undefined;
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

  private end(end: SessionEnd): void {
    if (this.ended) return;
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
      ServiceID: i.Service.ID,
      ServiceName: p.Name,
      ServiceTags: i.Service.Tags,
      Type: '',
    })),
  }));
}
