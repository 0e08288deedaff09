// Plans a batch of queued write transactions for the etcd store and turns it into one etcd transaction
// (optimistic concurrency). The transactions run in order, synchronously, against the mirror plus the
// batch's own earlier writes. Every read the batch makes from the mirror is recorded: a get as "this key's
// mod_revision is still R" (0 when absent), a list as "this table's index key's mod_revision is still I"
// (which also catches deletes). The etcd transaction's compares are those reads and its success ops are
// the puts/deletes plus the table-index keys of the touched tables (etcd-layout.ts). If a compare fails,
// another replica changed something the batch read (isStale tells when the mirror shows it) and the batch
// runs again, so fn may run more than once and must only compute from what it reads. Transactions that
// throw or write nothing are validated the same way, so a stale mirror never decides an outcome. tx.index
// is a prediction (the mirror's revision + 1); the index a transaction really committed at is in its
// WriteResult and on the entries in the mirror. A batch is cut to stay under etcd's limits.
import type { ICompare, IRequestOp } from 'etcd3';
import type { EtcdLayout } from './etcd-layout.js';
import type { StoredEntry, WriteResult, WriteTxn } from './store.js';

/** Batches stay under etcd's default --max-request-bytes (1.5 MiB) with room for keys and compares. */
const MAX_TXN_BYTES = 1024 * 1024;

/** One queued write transaction and its writer's promise. */
export interface Job {
  fn: (tx: WriteTxn) => unknown;
  resolve: (r: WriteResult<unknown>) => void;
  reject: (err: unknown) => void;
}

/** What a batch reads from: the mirror. */
export interface MirrorReads {
  get(table: string, key: string): StoredEntry | undefined;
  list(table: string, prefix?: string): StoredEntry[];
  tableIndex(table: string): number;
  lastIndex(): number;
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

export interface Plan {
  /** The jobs in this batch, in order. */
  included: Job[];
  /** The jobs cut off to stay under etcd's limits: they go back to the queue's front. */
  deferred: Job[];
  outcomes: Outcome[];
  reads: Map<string, Read>;
  listed: Map<string, number>;
  writes: Map<string, PendingWrite>;
  touched: Set<string>;
}

const compareKeys = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Roughly the bytes the plan's writes put in the etcd request. */
function requestBytes(plan: Plan): number {
  let bytes = 0;
  for (const [full, w] of plan.writes) bytes += full.length + (w.json?.length ?? 0) + 16;
  return bytes;
}

export class BatchPlanner {
  constructor(
    private readonly mirror: MirrorReads,
    private readonly layout: EtcdLayout,
    /** etcd's --max-txn-ops: batches are cut to stay under it. */
    private readonly maxTxnOps: number,
  ) {}

  /** Runs the jobs against the mirror plus their own writes; cuts the batch to stay under maxTxnOps. */
  plan(jobs: Job[]): Plan {
    const plan: Plan = {
      included: [],
      deferred: [],
      outcomes: [],
      reads: new Map(),
      listed: new Map(),
      writes: new Map(),
      touched: new Set(),
    };
    const predicted = this.mirror.lastIndex() + 1;
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

  /** Whether the mirror shows a change to something the plan read (its compares would now fail). */
  isStale(plan: Plan): boolean {
    for (const r of plan.reads.values()) {
      if ((this.mirror.get(r.table, r.key)?.modifyIndex ?? 0) !== r.modRevision) return true;
    }
    for (const [t, index] of plan.listed) if (this.mirror.tableIndex(t) !== index) return true;
    return false;
  }

  /** Settles every included job: its result at `index` (or the mirror's index if it wrote nothing). */
  settle(plan: Plan, index: number): void {
    plan.included.forEach((job, i) => {
      const o = plan.outcomes[i]!;
      if (o.ok) job.resolve({ result: o.result, index: o.wrote ? index : this.mirror.lastIndex() });
      else job.reject(o.error);
    });
  }

  private txnView(plan: Plan, predicted: number, undo: Undo[], jobTables: Set<string>): WriteTxn {
    const read = (table: string, key: string): StoredEntry | undefined => {
      const full = this.layout.entryKey(table, key);
      const pending = plan.writes.get(full);
      if (pending !== undefined) return pending.entry ?? undefined;
      const entry = this.mirror.get(table, key);
      if (!plan.reads.has(full)) plan.reads.set(full, { table, key, modRevision: entry?.modifyIndex ?? 0 });
      return entry;
    };
    const list = (table: string, prefix = ''): StoredEntry[] => {
      if (!plan.listed.has(table)) plan.listed.set(table, this.mirror.tableIndex(table));
      const base = this.mirror.list(table, prefix);
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

  /** The etcd transaction's compares: the plan's reads, or their tables' indexes when they are too many. */
  compares(plan: Plan): ICompare[] {
    const listed = new Map(plan.listed);
    let reads = [...plan.reads.entries()];
    if (reads.length + listed.size > this.maxTxnOps) {
      // Too many keys to compare one by one: compare their tables instead (coarser, still exact). The
      // mirror has not changed since the plan ran (planning is synchronous), so these are the indexes seen.
      for (const [, r] of reads)
        if (!listed.has(r.table)) listed.set(r.table, this.mirror.tableIndex(r.table));
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

  /** The etcd transaction's success ops: the plan's puts and deletes, then its tables' index keys. */
  ops(plan: Plan): IRequestOp[] {
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
}
