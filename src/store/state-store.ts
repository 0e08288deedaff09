import type { CommitBatch, Persistence, TableChange } from './persistence.js';
import type { Store, StoredEntry, WriteResult, WriteTxn } from './store.js';
import { TableReads } from './table-reads.js';

interface PendingWrite {
  fn: (tx: WriteTxn) => unknown;
  resolve: (r: WriteResult<unknown>) => void;
  reject: (err: unknown) => void;
}

interface UndoRecord {
  table: string;
  key: string;
  previous: StoredEntry | undefined;
  /** The batch's pending change for this key before this write (an earlier transaction's). */
  previousChange: TableChange | undefined;
}

export class StateStore extends TableReads implements Store {
  private pending: PendingWrite[] = [];
  private flushScheduled = false;
  private closed = false;

  constructor(
    readonly backend: 'memory' | 'sqlite',
    private readonly persistence: Persistence | undefined,
  ) {
    super();
    if (persistence !== undefined) {
      const loaded = persistence.load();
      for (const { table, entry } of loaded.entries) this.table(table).set(entry.key, entry);
      for (const [t, i] of loaded.tableIndexes) this.tableIndexes.set(t, i);
      this.last = loaded.lastIndex;
    }
  }

  // ---- writes ----

  write<R>(fn: (tx: WriteTxn) => R): Promise<WriteResult<R>> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    return new Promise<WriteResult<R>>((resolve, reject) => {
      this.pending.push({
        fn,
        resolve: resolve as (r: WriteResult<unknown>) => void,
        reject,
      });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    try {
      this.applyBatch(batch);
    } catch (error) {
      // A bug here must fail the writers, not leave them waiting forever.
      for (const job of batch) job.reject(error);
    }
  }

  private applyBatch(batch: PendingWrite[]): void {
    const undo: UndoRecord[] = [];
    const changes = new Map<string, TableChange>();
    const touched = new Set<string>();
    const savedTableIndexes = new Map(this.tableIndexes);
    const savedLast = this.last;
    const outcomes: Array<{ ok: true; result: unknown; index: number } | { ok: false; error: unknown }> = [];

    for (const job of batch) {
      const mark = undo.length;
      const jobTables = new Set<string>();
      const index = this.last + 1;
      const tx = this.txnView(index, undo, changes, jobTables);
      try {
        const result = job.fn(tx);
        if (jobTables.size > 0) {
          this.last = index;
          for (const t of jobTables) {
            this.tableIndexes.set(t, index);
            touched.add(t);
          }
        }
        outcomes.push({ ok: true, result, index: this.last });
      } catch (error) {
        this.rollback(undo, mark, changes);
        undo.length = mark;
        outcomes.push({ ok: false, error });
      }
    }

    if (touched.size > 0 && this.persistence !== undefined) {
      const tableIndexes = new Map<string, number>();
      for (const t of touched) tableIndexes.set(t, this.tableIndexes.get(t) ?? 0);
      const commit: CommitBatch = { changes: [...changes.values()], tableIndexes, lastIndex: this.last };
      try {
        this.persistence.commit(commit);
      } catch (error) {
        this.rollback(undo, 0, changes);
        this.tableIndexes.clear();
        for (const [t, i] of savedTableIndexes) this.tableIndexes.set(t, i);
        this.last = savedLast;
        for (const job of batch) job.reject(error);
        return;
      }
    }

    batch.forEach((job, i) => {
      const o = outcomes[i]!;
      if (o.ok) job.resolve({ result: o.result, index: o.index });
      else job.reject(o.error);
    });
    if (touched.size > 0) this.notifier.notify(touched);
  }

  private txnView(
    index: number,
    undo: UndoRecord[],
    changes: Map<string, TableChange>,
    jobTables: Set<string>,
  ): WriteTxn {
    const record = (table: string, key: string, entry: StoredEntry | undefined): void => {
      const changeKey = `${table}\u0000${key}`;
      undo.push({
        table,
        key,
        previous: this.tables.get(table)?.get(key),
        previousChange: changes.get(changeKey),
      });
      changes.set(changeKey, { table, key, entry });
      jobTables.add(table);
    };
    return {
      index,
      get: (table, key) => this.get(table, key),
      list: (table, prefix) => this.list(table, prefix),
      put: <T>(table: string, key: string, value: T): StoredEntry<T> => {
        const existing = this.get(table, key);
        const entry: StoredEntry<T> = {
          key,
          value,
          createIndex: existing?.createIndex ?? index,
          modifyIndex: index,
        };
        record(table, key, entry);
        this.table(table).set(key, entry);
        return entry;
      },
      delete: (table, key) => {
        if (this.get(table, key) === undefined) return false;
        record(table, key, undefined);
        this.table(table).delete(key);
        return true;
      },
      deletePrefix: (table, prefix) => {
        const keys = this.list(table, prefix).map((e) => e.key);
        for (const key of keys) {
          record(table, key, undefined);
          this.table(table).delete(key);
        }
        return keys.length;
      },
    };
  }

  private rollback(undo: UndoRecord[], mark: number, changes: Map<string, TableChange>): void {
    for (let i = undo.length - 1; i >= mark; i--) {
      const rec = undo[i]!;
      if (rec.previous === undefined) this.table(rec.table).delete(rec.key);
      else this.table(rec.table).set(rec.key, rec.previous);
      const changeKey = `${rec.table}\u0000${rec.key}`;
      if (rec.previousChange === undefined) changes.delete(changeKey);
      else changes.set(changeKey, rec.previousChange);
    }
  }

  // ---- watches ----

  /** Only this process writes a memory or SQLite store. */
  foreignIndex(_tables: readonly string[]): number {
    return 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Let queued writes finish so nothing acknowledged-to-be is lost.
    while (this.pending.length > 0 || this.flushScheduled) {
      await new Promise<void>((r) => setImmediate(r));
    }
    this.closed = true;
    this.notifier.close();
    this.persistence?.close();
  }
}
