// The read side every store backend shares: tables of entries sorted by key, each table's index and the
// last index, answering the ReadView calls, and the blocking-query waiters and subscribers woken from
// them. A backend (StateStore, EtcdStore) extends it, keeps the three current as it commits or mirrors
// changes, and tells `notifier` which tables changed.
import { BTree, type SortedMap } from './btree.js';
import { ChangeNotifier } from './change-notifier.js';
import type { ChangeListener, ReadView, StoredEntry } from './store.js';

export type Table = SortedMap<string, StoredEntry>;

/** Above every key a table holds: `prefix + PREFIX_END` ends a prefix range. */
const PREFIX_END = '\uffff';

export abstract class TableReads implements ReadView {
  protected tables = new Map<string, Table>();
  protected tableIndexes = new Map<string, number>();
  protected last = 0;
  protected readonly notifier = new ChangeNotifier(this);

  get<T>(table: string, key: string): StoredEntry<T> | undefined {
    return this.tables.get(table)?.get(key) as StoredEntry<T> | undefined;
  }

  list<T>(table: string, prefix = ''): StoredEntry<T>[] {
    const out: StoredEntry<T>[] = [];
    this.forEach<T>(table, prefix, (e) => out.push(e));
    return out;
  }

  forEach<T>(table: string, prefix: string, fn: (entry: StoredEntry<T>) => void): void {
    const t = this.tables.get(table);
    if (t === undefined) return;
    if (prefix === '') {
      t.forEach((entry) => {
        fn(entry as StoredEntry<T>);
      });
      return;
    }
    t.forRange(prefix, prefix + PREFIX_END, false, (_k, entry) => {
      fn(entry as StoredEntry<T>);
    });
  }

  count(table: string, prefix = ''): number {
    const t = this.tables.get(table);
    if (t === undefined) return 0;
    if (prefix === '') return t.size;
    return t.forRange(prefix, prefix + PREFIX_END, false);
  }

  tableIndex(table: string): number {
    return this.tableIndexes.get(table) ?? 0;
  }

  maxIndex(tables: readonly string[]): number {
    let max = 0;
    for (const t of tables) max = Math.max(max, this.tableIndex(t));
    return Math.max(max, 1);
  }

  lastIndex(): number {
    return this.last;
  }

  waitForChange(
    tables: readonly string[],
    afterIndex: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<number> {
    return this.notifier.waitForChange(tables, afterIndex, timeoutMs, signal);
  }

  subscribe(tables: readonly string[], listener: ChangeListener): () => void {
    return this.notifier.subscribe(tables, listener);
  }

  waitingCount(): number {
    return this.notifier.waitingCount();
  }

  /** The table `name`, created empty if it has no entries yet. */
  protected table(name: string): Table {
    let t = this.tables.get(name);
    if (t === undefined) {
      t = new BTree<string, StoredEntry>();
      this.tables.set(name, t);
    }
    return t;
  }
}
