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
// Writes (optimistic concurrency): queued transactions are run as one batch, in order, synchronously,
// against the mirror plus the batch's own earlier writes. Every read the batch makes from the mirror is
// recorded: a get as "this key's mod_revision is still R" (0 when absent), a list as "this table's index
// key's mod_revision is still I" (which also catches deletes). The batch becomes one etcd transaction
// whose compares are those reads and whose success ops are the puts/deletes plus the table-index keys of
// the touched tables. If a compare fails, another replica changed something the batch read: we wait until
// the mirror shows that change and run the batch again (so fn may run more than once and must only
// compute from what it reads). Transactions that throw or write nothing are validated the same way, so a
// stale mirror never decides an outcome. tx.index is a prediction (the mirror's revision + 1); the index a
// transaction really committed at is in its WriteResult and on the entries in the mirror.
//
// Failure: an etcd call that fails or gets no answer within requestTimeoutMs rejects the writes with an
// `unavailable` error naming etcd (the outcome of a timed-out commit is unknown, and the error says so);
// reads keep serving the mirror. The watch resumes from the mirror's revision after any disconnect, and
// a compacted revision makes the replica reload everything (counted in status().reloads).
import type { CallOptions } from '@grpc/grpc-js';
import type { Etcd3, ICompare, IEvent, IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';
import { MeshpeerError } from '../shared/errors.js';
import { BTree } from './btree.js';
import { EtcdLayout, prefixRangeEnd } from './etcd-layout.js';
import { PrefixWatch } from './etcd-watch.js';
import type { Store, StoredEntry, WriteResult, WriteTxn } from './store.js';
import { type Table, TableReads } from './table-reads.js';

const LOAD_PAGE = 500;
/** Batches stay under etcd's default --max-request-bytes (1.5 MiB) with room for keys and compares. */
const MAX_TXN_BYTES = 1024 * 1024;
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

interface Job {
  fn: (tx: WriteTxn) => unknown;
  resolve: (r: WriteResult<unknown>) => void;
  reject: (err: unknown) => void;
}

interface Read {
  table: string;
  key: string;
  modRevision: number;
}

type Outcome = { ok: true; result: unknown; wrote: boolean } | { ok: false; error: unknown };

interface PendingWrite {
  table: string;
  key: string;
  /** null: deleted. */
  entry: StoredEntry | null;
  /** The value as stored (JSON), taken when it was written; null for a delete. */
  json: string | null;
}

interface Undo {
  full: string;
  previous: PendingWrite | undefined;
}

interface Plan {
  included: Job[];
  deferred: Job[];
  outcomes: Outcome[];
  reads: Map<string, Read>;
  listed: Map<string, number>;
  writes: Map<string, PendingWrite>;
  touched: Set<string>;
}

interface MirrorWait {
  check: () => boolean;
  resolve: (ok: boolean) => void;
}

/** Errors of calls that never reached etcd (no connection yet, or every member's circuit open). */
const NOT_SENT = /No connection established|circuit breaker is open/i;

const compareKeys = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Roughly the bytes the plan's writes put in the etcd request. */
function requestBytes(plan: Plan): number {
  let bytes = 0;
  for (const [full, w] of plan.writes) bytes += full.length + (w.json?.length ?? 0) + 16;
  return bytes;
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
  private readonly maxTxnOps: number;
  private readonly description: string;
  private queue: Job[] = [];
  private running = false;
  private closed = false;
  private watch: PrefixWatch | undefined;
  private readonly mirrorWaits = new Set<MirrorWait>();
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
    this.maxTxnOps = options.maxTxnOps ?? 128;
    this.description = options.description ?? 'etcd';
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

  private decode(kv: IKeyValue): unknown {
    const text = kv.value.toString('utf8');
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text; // not written by meshpeer; served as the raw string rather than dropped
    }
  }

  /** Loads every key under the prefix at one revision (paged) and swaps the mirror to it. */
  private async loadAll(): Promise<void> {
    const end = prefixRangeEnd(this.prefixBytes);
    const tables = new Map<string, Table>();
    const tableIndexes = new Map<string, number>();
    let from = this.prefixBytes;
    let revision: number | undefined;
    for (;;) {
      const res = await this.call('answer a read', (opts) =>
        this.options.client.kv.range(
          {
            key: from,
            range_end: end,
            limit: LOAD_PAGE,
            ...(revision === undefined ? {} : { revision: String(revision) }),
          },
          opts,
        ),
      );
      revision ??= Number(res.header.revision);
      for (const kv of res.kvs) {
        const parsed = this.layout.parse(kv.key.toString('utf8'));
        if (parsed.kind === 'entry') {
          let t = tables.get(parsed.table);
          if (t === undefined) {
            t = new BTree<string, StoredEntry>();
            tables.set(parsed.table, t);
          }
          t.set(parsed.key, {
            key: parsed.key,
            value: this.decode(kv),
            createIndex: Number(kv.create_revision),
            modifyIndex: Number(kv.mod_revision),
          });
        } else if (parsed.kind === 'index') {
          tableIndexes.set(parsed.table, Number(kv.mod_revision));
        }
      }
      const lastKv = res.kvs.at(-1);
      if (!res.more || lastKv === undefined) break;
      from = Buffer.concat([lastKv.key, Buffer.from([0])]);
    }
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
      // A revision this server committed is its own; one it has not (yet) seen committed counts as
      // another server's, which at worst makes a reader recompute more than it needed to.
      if (!this.ownRevisions.has(revision)) {
        const parsedTable = this.layout.parse(ev.kv.key.toString('utf8'));
        if (parsedTable.kind !== 'other') this.foreignTableIndexes.set(parsedTable.table, revision);
      }
      max = Math.max(max, revision);
      const parsed = this.layout.parse(ev.kv.key.toString('utf8'));
      if (parsed.kind === 'entry') {
        if (ev.type === 'Put') {
          this.table(parsed.table).set(parsed.key, {
            key: parsed.key,
            value: this.decode(ev.kv),
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
    for (const w of [...this.mirrorWaits]) {
      if (this.closed || w.check()) {
        this.mirrorWaits.delete(w);
        w.resolve(!this.closed);
      }
    }
  }

  /** Resolves true once check() holds for the mirror, false after timeoutMs or on close. */
  private waitMirror(check: () => boolean, timeoutMs: number): Promise<boolean> {
    if (check()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const wait: MirrorWait = {
        check,
        resolve: (ok) => {
          clearTimeout(timer);
          resolve(ok);
        },
      };
      const timer = setTimeout(() => {
        this.mirrorWaits.delete(wait);
        resolve(false);
      }, timeoutMs);
      this.mirrorWaits.add(wait);
    });
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
      const plan = this.plan(jobs);
      if (plan.deferred.length > 0) {
        this.queue.unshift(...plan.deferred);
        jobs = plan.included;
      }
      const compare = this.compares(plan);
      const ops = this.ops(plan);
      if (compare.length === 0 && ops.length === 0) {
        this.settle(plan, this.last);
        return;
      }
      let res: ITxnResponse;
      try {
        res = await this.call(ops.length > 0 ? 'commit the write' : 'confirm the read', (opts) =>
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
          await this.waitMirror(() => this.last >= revision, this.requestTimeoutMs);
        }
        this.settle(plan, ops.length > 0 ? revision : this.last);
        return;
      }
      if (attempt >= MAX_ATTEMPTS) {
        const error = new MeshpeerError(
          'unavailable',
          `${this.description}: the write conflicted with other replicas' writes ${attempt} times in a row`,
        );
        for (const job of plan.included) job.reject(error);
        return;
      }
      // Something the batch read changed on another replica: run it again once the mirror shows that.
      await this.waitMirror(() => this.isStale(plan), this.requestTimeoutMs);
    }
  }

  private settle(plan: Plan, index: number): void {
    plan.included.forEach((job, i) => {
      const o = plan.outcomes[i]!;
      if (o.ok) job.resolve({ result: o.result, index: o.wrote ? index : this.last });
      else job.reject(o.error);
    });
  }

  private isStale(plan: Plan): boolean {
    for (const r of plan.reads.values()) {
      if ((this.get(r.table, r.key)?.modifyIndex ?? 0) !== r.modRevision) return true;
    }
    for (const [t, index] of plan.listed) if (this.tableIndex(t) !== index) return true;
    return false;
  }

  /** Runs the jobs against the mirror plus their own writes; cuts the batch to stay under maxTxnOps. */
  private plan(jobs: Job[]): Plan {
    const plan: Plan = {
      included: [],
      deferred: [],
      outcomes: [],
      reads: new Map(),
      listed: new Map(),
      writes: new Map(),
      touched: new Set(),
    };
    const predicted = this.last + 1;
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i]!;
      const undo: Undo[] = [];
      const jobTables = new Set<string>();
      const tx = this.txnView(plan, predicted, undo, jobTables);
      let outcome: Outcome;
      try {
        const result = job.fn(tx);
        outcome = { ok: true, result, wrote: jobTables.size > 0 };
      } catch (error) {
        outcome = { ok: false, error };
      }
      const rollback = (): void => {
        for (let u = undo.length - 1; u >= 0; u--) {
          const rec = undo[u]!;
          if (rec.previous === undefined) plan.writes.delete(rec.full);
          else plan.writes.set(rec.full, rec.previous);
        }
      };
      if (!outcome.ok) {
        rollback();
      } else {
        const touchedAfter = new Set([...plan.touched, ...jobTables]);
        const tooBig =
          plan.writes.size + touchedAfter.size > this.maxTxnOps || requestBytes(plan) > MAX_TXN_BYTES;
        if (plan.included.length > 0 && tooBig) {
          rollback();
          plan.deferred = jobs.slice(i);
          break;
        }
        for (const t of jobTables) plan.touched.add(t);
      }
      plan.included.push(job);
      plan.outcomes.push(outcome);
    }
    return plan;
  }

  private txnView(plan: Plan, predicted: number, undo: Undo[], jobTables: Set<string>): WriteTxn {
    const read = (table: string, key: string): StoredEntry | undefined => {
      const full = this.layout.entryKey(table, key);
      const pending = plan.writes.get(full);
      if (pending !== undefined) return pending.entry ?? undefined;
      const entry = this.get(table, key);
      if (!plan.reads.has(full)) plan.reads.set(full, { table, key, modRevision: entry?.modifyIndex ?? 0 });
      return entry;
    };
    const list = (table: string, prefix = ''): StoredEntry[] => {
      if (!plan.listed.has(table)) plan.listed.set(table, this.tableIndex(table));
      const base = this.list(table, prefix);
      const pending = [...plan.writes.values()].filter((w) => w.table === table && w.key.startsWith(prefix));
      if (pending.length === 0) return base;
      const merged = new Map(base.map((e) => [e.key, e]));
      for (const w of pending) {
        if (w.entry === null) merged.delete(w.key);
        else merged.set(w.key, w.entry);
      }
      return [...merged.values()].sort((a, b) => compareKeys(a.key, b.key));
    };
    const record = (table: string, key: string, entry: StoredEntry | null): void => {
      const full = this.layout.entryKey(table, key);
      undo.push({ full, previous: plan.writes.get(full) });
      plan.writes.set(full, { table, key, entry, json: entry === null ? null : JSON.stringify(entry.value) });
      jobTables.add(table);
    };
    return {
      index: predicted,
      get: <T>(table: string, key: string) => read(table, key) as StoredEntry<T> | undefined,
      list: <T>(table: string, prefix?: string) => list(table, prefix) as StoredEntry<T>[],
      put: <T>(table: string, key: string, value: T): StoredEntry<T> => {
        const existing = read(table, key);
        const entry: StoredEntry<T> = {
          key,
          value,
          createIndex: existing?.createIndex ?? predicted,
          modifyIndex: predicted,
        };
        record(table, key, entry);
        return entry;
      },
      delete: (table, key) => {
        if (read(table, key) === undefined) return false;
        record(table, key, null);
        return true;
      },
      deletePrefix: (table, prefix) => {
        const keys = list(table, prefix).map((e) => e.key);
        for (const key of keys) record(table, key, null);
        return keys.length;
      },
    };
  }

  private compares(plan: Plan): ICompare[] {
    const listed = new Map(plan.listed);
    let reads = [...plan.reads.entries()];
    if (reads.length + listed.size > this.maxTxnOps) {
      // Too many keys to compare one by one: compare their tables instead (coarser, still exact). The
      // mirror has not changed since the plan ran (planning is synchronous), so these are the indexes seen.
      for (const [, r] of reads) if (!listed.has(r.table)) listed.set(r.table, this.tableIndex(r.table));
      reads = [];
    }
    const out: ICompare[] = reads.map(([full, r]) => ({
      key: Buffer.from(full, 'utf8'),
      target: 'Mod',
      result: 'Equal',
      mod_revision: String(r.modRevision),
    }));
    for (const [table, index] of listed) {
      out.push({
        key: Buffer.from(this.layout.indexKey(table), 'utf8'),
        target: 'Mod',
        result: 'Equal',
        mod_revision: String(index),
      });
    }
    return out;
  }

  private ops(plan: Plan): IRequestOp[] {
    if (plan.touched.size === 0) return [];
    const out: IRequestOp[] = [];
    for (const [full, w] of plan.writes) {
      const key = Buffer.from(full, 'utf8');
      if (w.entry === null) out.push({ request_delete_range: { key } });
      else out.push({ request_put: { key, value: Buffer.from(w.json ?? 'null', 'utf8') } });
    }
    for (const table of plan.touched) {
      out.push({
        request_put: { key: Buffer.from(this.layout.indexKey(table), 'utf8'), value: Buffer.alloc(0) },
      });
    }
    return out;
  }

  /**
   * One etcd call, bounded by requestTimeoutMs; failures become `unavailable` errors naming etcd. A call
   * that never left (no connection to any member yet, or the client's circuit breakers hold every member
   * back after failures) is tried again until the deadline: that cannot apply a write twice.
   */
  private async call<T>(what: string, fn: (opts: CallOptions) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.requestTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.requestTimeoutMs} ms`)),
        this.requestTimeoutMs,
      );
    });
    const attempt = async (): Promise<T> => {
      for (let backoff = 50; ; backoff = Math.min(backoff * 2, 500)) {
        try {
          return await fn({ deadline });
        } catch (err) {
          const notSent = NOT_SENT.test((err as Error).message ?? '');
          if (!notSent || Date.now() + backoff >= deadline || this.closed) throw err;
          await new Promise((r) => setTimeout(r, backoff));
        }
      }
    };
    try {
      return await Promise.race([attempt(), timeout]);
    } catch (err) {
      const raw = (err as Error).message ?? String(err);
      const message = NOT_SENT.test(raw) ? `no member could be reached (${raw})` : raw;
      const unknown = what === 'commit the write' ? ' (the write may or may not have been applied)' : '';
      const hint = /too many operations/i.test(message)
        ? '; raise etcd --max-txn-ops or write less in one transaction'
        : /too large/i.test(message)
          ? '; raise etcd --max-request-bytes or write less in one transaction'
          : '';
      throw new MeshpeerError(
        'unavailable',
        `${this.description} did not ${what}: ${message}${unknown}${hint}`,
      );
    } finally {
      clearTimeout(timer);
    }
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
