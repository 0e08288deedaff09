// The etcd store backend: every replica (meshpeer server) keeps a full local mirror of the store's keys,
// loaded once and then fed by one etcd watch, and serves reads, blocking queries and subscriptions from
// it; writes go to etcd and are acknowledged only after etcd commits and the mirror has applied them, so
// a writer reads its own writes and a write through replica A wakes blocking queries on replica B.
//
// Indexes: the global index is etcd's revision (one cluster-wide counter, so indexes from any replica are
// comparable and only grow); an entry's createIndex/modifyIndex are its etcd create_revision/mod_revision;
// a table's index is the mod_revision of its table-index key, which every transaction touching the table
// rewrites (etcd-layout.ts). Revisions of other writers on the same etcd (other prefixes) make the index
// skip numbers, never go back.
//
// Writes (optimistic concurrency): queued transactions are run as one batch against the mirror, every
// read recorded, and committed as one etcd transaction whose compares are those reads (etcd-batch.ts).
// If a compare fails, another replica changed something the batch read: we wait until the mirror shows
// that change (etcd-mirror.ts) and run the batch again.
//
// Failure: an etcd call that fails or gets no answer within requestTimeoutMs rejects the writes with an
// `unavailable` error naming etcd (etcd-errors.ts); reads keep serving the mirror. The watch resumes from
// the mirror's revision after any disconnect (etcd-watch.ts), and a compacted revision makes the replica
// reload everything (counted in status().reloads).
import type { CallOptions } from '@grpc/grpc-js';
import type { Etcd3, IEvent, ITxnResponse } from 'etcd3';
import { BatchPlanner, type Job } from './etcd-batch.js';
import { COMMIT, callEtcd, conflictError } from './etcd-errors.js';
import { EtcdLayout } from './etcd-layout.js';
import { decodeValue, loadSnapshot, MirrorWaits } from './etcd-mirror.js';
import { PrefixWatch } from './etcd-watch.js';
import type { Store, WriteResult, WriteTxn } from './store.js';
import { TableReads } from './table-reads.js';

const MAX_ATTEMPTS = 10_000;

export interface EtcdStoreOptions {
  readonly client: Etcd3;
  /** Key prefix of this store in etcd; ends with '/'. */
  readonly prefix: string;
  /** How long one etcd call may take before the write is rejected (default 5 s). */
  readonly requestTimeoutMs?: number;
  /** etcd's --max-txn-ops (default 128): batches are cut to stay under it. */
  readonly maxTxnOps?: number;
  /** Close the client with the store (default true). */
  readonly ownsClient?: boolean;
  /** Named in errors (the endpoints). */
  readonly description?: string;
}

export interface EtcdStoreStatus {
  /** The watch stream is established. */
  readonly watching: boolean;
  /** Date.now() of the last watch event or (re)connection. */
  readonly lastContact: number;
  /** Full reloads after a compacted watch revision. */
  readonly reloads: number;
  /** Why the watch is down, when it is. */
  readonly watchError?: string;
}

/** Opens the store: loads every key under the prefix, then starts the watch. */
export async function openEtcdStore(options: EtcdStoreOptions): Promise<EtcdStore> {
  const store = new EtcdStore(options);
  try {
    await store.start();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

export class EtcdStore extends TableReads implements Store {
  readonly backend = 'etcd' as const;
  private readonly layout: EtcdLayout;
  private readonly prefixBytes: Buffer;
  private readonly requestTimeoutMs: number;
  private readonly description: string;
  private readonly planner: BatchPlanner;
  private queue: Job[] = [];
  private running = false;
  private closed = false;
  private watch: PrefixWatch | undefined;
  private readonly mirrorWaits = new MirrorWaits();
  /** Revisions this server committed that the watch has not delivered yet. */
  private readonly ownRevisions = new Set<number>();
  private readonly foreignTableIndexes = new Map<string, number>();
  private watching = false;
  private lastContact = Date.now();
  private reloads = 0;
  private watchError: string | undefined;

  constructor(private readonly options: EtcdStoreOptions) {
    super();
    this.layout = new EtcdLayout(options.prefix);
    this.prefixBytes = Buffer.from(options.prefix, 'utf8');
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
    this.description = options.description ?? 'etcd';
    this.planner = new BatchPlanner(this, this.layout, options.maxTxnOps ?? 128);
  }

  async start(): Promise<void> {
    await this.loadAll();
    this.watch = new PrefixWatch(this.options.client, this.prefixBytes, {
      startRevision: () => this.last + 1,
      onEvents: (events) => this.applyEvents(events),
      onCompacted: async () => {
        await this.loadAll();
        this.reloads++;
      },
      onState: (connected, reason) => {
        this.watching = connected;
        this.watchError = connected ? undefined : reason;
        if (connected) this.lastContact = Date.now();
      },
    });
  }

  status(): EtcdStoreStatus {
    return {
      watching: this.watching,
      lastContact: this.lastContact,
      reloads: this.reloads,
      ...(this.watchError === undefined ? {} : { watchError: this.watchError }),
    };
  }

  // ---- the mirror ----

  /** Loads every key under the prefix at one revision (paged) and swaps the mirror to it. */
  private async loadAll(): Promise<void> {
    const { tables, tableIndexes, revision } = await loadSnapshot(
      this.options.client,
      this.layout,
      this.prefixBytes,
      (what, fn) => this.call(what, fn),
    );
    const touched = new Set<string>();
    for (const t of new Set([...this.tableIndexes.keys(), ...tableIndexes.keys()])) {
      if (this.tableIndexes.get(t) !== tableIndexes.get(t)) touched.add(t);
    }
    this.tables = tables;
    this.tableIndexes = tableIndexes;
    // A reload (start, or a compacted watch) may bring anyone's changes.
    for (const t of touched) this.foreignTableIndexes.set(t, revision);
    this.last = Math.max(this.last, revision);
    this.lastContact = Date.now();
    if (touched.size > 0) this.notifier.notify(touched);
    this.checkMirrorWaits();
  }

  /** See Store.foreignIndex: the per-table index of the last change another server made. */
  foreignIndex(tables: readonly string[]): number {
    let max = 0;
    for (const t of tables) max = Math.max(max, this.foreignTableIndexes.get(t) ?? 0);
    return max;
  }

  private applyEvents(events: readonly IEvent[]): void {
    const touched = new Set<string>();
    let max = this.last;
    for (const ev of events) {
      const revision = Number(ev.kv.mod_revision);
      if (revision <= this.last) continue; // already in the mirror (loaded after the watch began)
      max = Math.max(max, revision);
      const parsed = this.layout.parse(ev.kv.key.toString('utf8'));
      // A revision this server committed is its own; one it has not (yet) seen committed counts as
      // another server's, which at worst makes a reader recompute more than it needed to.
      if (parsed.kind !== 'other' && !this.ownRevisions.has(revision))
        this.foreignTableIndexes.set(parsed.table, revision);
      if (parsed.kind === 'entry') {
        if (ev.type === 'Put') {
          this.table(parsed.table).set(parsed.key, {
            key: parsed.key,
            value: decodeValue(ev.kv),
            createIndex: Number(ev.kv.create_revision),
            modifyIndex: revision,
          });
        } else {
          this.tables.get(parsed.table)?.delete(parsed.key);
        }
      } else if (parsed.kind === 'index') {
        this.tableIndexes.set(parsed.table, revision);
        touched.add(parsed.table);
      }
    }
    this.last = max;
    for (const r of this.ownRevisions) if (r <= max) this.ownRevisions.delete(r);
    this.lastContact = Date.now();
    if (touched.size > 0) this.notifier.notify(touched);
    this.checkMirrorWaits();
  }

  private checkMirrorWaits(): void {
    this.mirrorWaits.check(this.closed);
  }

  // ---- writes ----

  write<R>(fn: (tx: WriteTxn) => R): Promise<WriteResult<R>> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    return new Promise<WriteResult<R>>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (r: WriteResult<unknown>) => void, reject });
      if (!this.running) setImmediate(() => void this.pump());
    });
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        try {
          await this.runBatch(batch);
        } catch (error) {
          // A bug here must fail the writers, not leave them waiting forever.
          for (const job of batch) job.reject(error);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async runBatch(jobs: Job[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const plan = this.planner.plan(jobs);
      if (plan.deferred.length > 0) {
        this.queue.unshift(...plan.deferred);
        jobs = plan.included;
      }
      const compare = this.planner.compares(plan);
      const ops = this.planner.ops(plan);
      if (compare.length === 0 && ops.length === 0) {
        this.planner.settle(plan, this.last);
        return;
      }
      let res: ITxnResponse;
      try {
        res = await this.call(ops.length > 0 ? COMMIT : 'confirm the read', (opts) =>
          this.options.client.kv.txn({ compare, success: ops, failure: [] }, opts),
        );
      } catch (error) {
        for (const job of plan.included) job.reject(error);
        return;
      }
      if (res.succeeded) {
        const revision = Number(res.header.revision);
        if (ops.length > 0) {
          if (revision > this.last) this.ownRevisions.add(revision);
          // Acknowledge once the mirror has it, so the writer (and everyone on this replica) reads it.
          await this.mirrorWaits.wait(() => this.last >= revision, this.requestTimeoutMs);
        }
        this.planner.settle(plan, ops.length > 0 ? revision : this.last);
        return;
      }
      if (attempt >= MAX_ATTEMPTS) {
        const error = conflictError(this.description, attempt);
        for (const job of plan.included) job.reject(error);
        return;
      }
      // Something the batch read changed on another replica: run it again once the mirror shows that.
      await this.mirrorWaits.wait(() => this.planner.isStale(plan), this.requestTimeoutMs);
    }
  }

  /** One etcd call, bounded by requestTimeoutMs; failures become `unavailable` errors naming etcd. */
  private call<T>(what: string, fn: (opts: CallOptions) => Promise<T>): Promise<T> {
    return callEtcd(
      { timeoutMs: this.requestTimeoutMs, description: this.description, closed: () => this.closed },
      what,
      fn,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Let queued writes finish (or fail) so nothing acknowledged-to-be is dropped silently.
    while (this.queue.length > 0 || this.running) {
      await new Promise<void>((r) => setTimeout(r, 5));
    }
    this.closed = true;
    await this.watch?.stop();
    this.checkMirrorWaits();
    this.notifier.close();
    if (this.options.ownsClient !== false) this.options.client.close();
  }
}
