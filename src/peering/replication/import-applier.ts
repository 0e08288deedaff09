// The importing half of a replication session: validates what the peer exports to us, applies it in
// arrival order (bursts in one transaction), ACKs or NACKs each message, and checks the peer's
// checkpoints against what it applied. A checkpoint that differs is a gap (a lost or failed apply):
// it is NACKed as out of sync, and the peer sends everything again.
import type { Catalog, InstanceRecord } from '../../catalog/catalog.js';
import type { Logger } from '../../shared/logger.js';
import type { Store, WriteTxn } from '../../store/store.js';
import { Operation, type ReplicationMessage_Response } from '../gen/meshpeer/peering/v1/peering_pb.js';
import {
  type ExportedServicePayload,
  exportedServiceListSchema,
  exportedServiceSchema,
  isResourceType,
  NackCode,
  ResourceTypes,
  serverAddressesSchema,
  trustBundleSchema,
} from '../payloads.js';
import type { StoredTrustBundle } from '../records.js';
import { mergeServerAddresses, storeTrustBundle } from '../state-machine.js';
import type { StreamStatus } from '../stream-status.js';
import { digestOf } from './export-sender.js';
import type { Outbox } from './outbox.js';
import { trustDomainProblem } from './trust-bundle-check.js';

/** Most resources applied in one transaction. */
const MAX_BATCH = 500;

export interface ImportDeps {
  store: Store;
  catalog: Catalog;
  logger: Logger;
  /** This cluster's trust domain, which no peer may claim. */
  trustDomain: string;
}

interface Prepared {
  r: ReplicationMessage_Response;
  op?: (tx: WriteTxn) => void;
  error?: { code: NackCode; message: string };
  /** For an exported service: its name and the digest to record once the outcome is known. */
  seen?: { name: string; digest: string | undefined };
}

export class ImportApplier {
  /** Responses from the peer not applied yet, in arrival order. */
  private pending: ReplicationMessage_Response[] = [];
  private draining = false;
  private stopped = false;
  /**
   * The digest of each service as last received from the peer (applied, or refused for good), to
   * compare with its checkpoints. One entry per imported service.
   */
  private readonly held = new Map<string, string>();

  constructor(
    private readonly peer: string,
    private readonly outbox: Outbox,
    private readonly status: StreamStatus,
    private readonly deps: ImportDeps,
  ) {}

  receive(r: ReplicationMessage_Response): void {
    this.pending.push(r);
    if (!this.draining) void this.drain();
  }

  stop(): void {
    this.stopped = true;
    this.pending = [];
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.pending.length > 0 && !this.stopped) {
        await this.applyBatch(this.pending.splice(0, MAX_BATCH));
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * Validates each resource, applies the valid ones in one store transaction (one commit for a burst,
   * as during a full resync), then ACKs or NACKs each. If the transaction fails, each is retried alone
   * so only the culprit is NACKed (and, never recorded as held, shows up at the next checkpoint).
   */
  private async applyBatch(batch: ReplicationMessage_Response[]): Promise<void> {
    const prepared: Prepared[] = [];
    for (const r of batch) {
      // A checkpoint compares with what the resources before it left behind, so it is prepared then.
      if (r.resourceUrl === ResourceTypes.ExportedServiceList) await this.applyPrepared(prepared.splice(0));
      prepared.push({ r, ...this.prepare(r) });
    }
    await this.applyPrepared(prepared);
  }

  private async applyPrepared(prepared: Prepared[]): Promise<void> {
    if (prepared.length === 0) return;
    const ops = prepared.filter((p) => p.op !== undefined);
    let failed = new Set<Prepared>();
    if (ops.length > 0) {
      try {
        await this.deps.store.write((tx) => {
          for (const p of ops) p.op?.(tx);
        });
      } catch {
        failed = await this.applyOneByOne(ops);
      }
    }
    for (const p of prepared) {
      if (p.seen !== undefined && !failed.has(p)) {
        if (p.seen.digest === undefined) this.held.delete(p.seen.name);
        else this.held.set(p.seen.name, p.seen.digest);
      }
    }
    if (this.stopped) return;
    for (const { r, error } of prepared) this.acknowledge(r, error);
  }

  private async applyOneByOne(ops: Prepared[]): Promise<Set<Prepared>> {
    const failed = new Set<Prepared>();
    for (const p of ops) {
      try {
        await this.deps.store.write((tx) => p.op?.(tx));
      } catch (err) {
        failed.add(p);
        // A checkpoint that found a gap keeps asking for the resync (which writes everything again);
        // anything else is refused with the write's error.
        if (p.error?.code !== NackCode.OutOfSync)
          p.error = { code: NackCode.Invalid, message: `cannot apply: ${(err as Error).message}` };
        this.deps.logger.error({ peer: this.peer, err }, 'applying a replicated resource failed');
      }
    }
    return failed;
  }

  private acknowledge(r: ReplicationMessage_Response, error: Prepared['error']): void {
    if (error !== undefined) this.status.trackError(error.message);
    this.outbox.send(
      {
        payload: {
          case: 'request',
          value: {
            resourceUrl: r.resourceUrl,
            responseNonce: r.nonce,
            ...(error !== undefined ? { error } : {}),
          },
        },
      },
      error === undefined ? 'ack' : 'nack',
    );
  }

  /** Validates one resource from the peer: the write that applies it, or why it is refused (NACK). */
  private prepare(r: ReplicationMessage_Response): Omit<Prepared, 'r'> {
    const invalid = (message: string): Omit<Prepared, 'r'> => ({
      error: { code: NackCode.Invalid, message },
    });
    if (!isResourceType(r.resourceUrl))
      return invalid(`unknown resource type ${JSON.stringify(r.resourceUrl)}`);
    const doc = r.operation === Operation.DELETE ? undefined : parseJson(r.resource);
    if (r.operation !== Operation.DELETE && doc === undefined) return invalid('resource is not valid JSON');
    const { peer } = this;
    const { catalog } = this.deps;
    switch (r.resourceUrl) {
      case ResourceTypes.ExportedService: {
        if (r.operation === Operation.DELETE) {
          return {
            op: (tx) => catalog.replaceImportedService(tx, peer, r.resourceId, []),
            seen: { name: r.resourceId, digest: undefined },
          };
        }
        // Refused payloads are recorded as held too: sending them again would be refused again.
        const seen = { name: r.resourceId, digest: digestOf(r.resource) };
        const parsed = exportedServiceSchema.safeParse(doc);
        if (!parsed.success)
          return {
            ...invalid(`invalid exported service: ${parsed.error.issues[0]?.message ?? 'bad shape'}`),
            seen,
          };
        if (parsed.data.Name !== r.resourceId)
          return { ...invalid('resource ID does not match the service name'), seen };
        const records = toRecords(parsed.data);
        return { op: (tx) => catalog.replaceImportedService(tx, peer, parsed.data.Name, records), seen };
      }
      case ResourceTypes.ExportedServiceList: {
        const parsed = exportedServiceListSchema.safeParse(doc);
        if (!parsed.success) return invalid('invalid exported service list');
        const keep = new Set(parsed.data.Names);
        for (const name of [...this.held.keys()]) if (!keep.has(name)) this.held.delete(name);
        const gap = parsed.data.Digests === undefined ? [] : this.differences(parsed.data.Digests);
        return {
          op: (tx) => {
            for (const name of catalog.importedServiceNames(peer, tx)) {
              if (!keep.has(name)) catalog.replaceImportedService(tx, peer, name, []);
            }
          },
          ...(gap.length > 0 ? { error: this.outOfSync(gap) } : this.inSync()),
        };
      }
      case ResourceTypes.PeeringTrustBundle: {
        const parsed = trustBundleSchema.safeParse(doc);
        if (!parsed.success) return invalid('invalid trust bundle');
        const bundle: StoredTrustBundle = { PeerName: peer, ...parsed.data };
        const problem = trustDomainProblem(this.deps.store, peer, bundle.TrustDomain, this.deps.trustDomain);
        if (problem !== undefined) {
          this.status.trackTrustBundle(problem);
          this.deps.logger.warn({ peer }, problem);
          return invalid(problem);
        }
        this.status.trackTrustBundle(undefined);
        return { op: (tx) => storeTrustBundle(tx, bundle) };
      }
      case ResourceTypes.ServerAddresses: {
        const parsed = serverAddressesSchema.safeParse(doc);
        if (!parsed.success) return invalid('invalid server addresses');
        return { op: (tx) => mergeServerAddresses(tx, peer, parsed.data.Addresses) };
      }
    }
  }

  /** Services whose checkpoint digest differs from what we hold. */
  private differences(digests: Record<string, string>): string[] {
    const gap: string[] = [];
    for (const [name, digest] of Object.entries(digests)) {
      if (this.held.get(name) !== digest) gap.push(name);
    }
    return gap.sort();
  }

  private outOfSync(gap: string[]): { code: NackCode; message: string } {
    const shown = gap.slice(0, 5).join(', ') + (gap.length > 5 ? `, and ${gap.length - 5} more` : '');
    const message = `import out of sync with the peer's checkpoint in ${gap.length} service(s) (${shown}); asked for a resync`;
    this.status.trackOutOfSync();
    this.deps.logger.warn({ peer: this.peer, services: gap.length }, message);
    return { code: NackCode.OutOfSync, message };
  }

  private inSync(): Record<string, never> {
    this.status.trackCheckpointMatched();
    return {};
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
