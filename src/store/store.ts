// The store contract: revisioned key/value tables. Every write transaction raises one global index;
// reads return entries stamped with the index that created and last modified them; watches wake when a
// table's index passes a given value.

export interface StoredEntry<T = unknown> {
  readonly key: string;
  readonly value: T;
  readonly createIndex: number;
  readonly modifyIndex: number;
}

/** What a write transaction sees: reads include its own earlier writes. */
export interface WriteTxn {
  /**
   * The index this transaction commits at, if it writes anything. On etcd it is a prediction (the last
   * revision the replica saw + 1): the committed index, in the WriteResult, can be higher.
   */
  readonly index: number;
  get<T>(table: string, key: string): StoredEntry<T> | undefined;
  list<T>(table: string, prefix?: string): StoredEntry<T>[];
  put<T>(table: string, key: string, value: T): StoredEntry<T>;
  delete(table: string, key: string): boolean;
  deletePrefix(table: string, prefix: string): number;
}

export interface ReadView {
  get<T>(table: string, key: string): StoredEntry<T> | undefined;
  list<T>(table: string, prefix?: string): StoredEntry<T>[];
  /** Calls fn for each entry under prefix without building an array (large tables). */
  forEach<T>(table: string, prefix: string, fn: (entry: StoredEntry<T>) => void): void;
  count(table: string, prefix?: string): number;
  /** Index of the last transaction that changed the table (0 if never). */
  tableIndex(table: string): number;
  /** Highest index of the given tables, at least 1 (Consul never returns 0 as X-Consul-Index). */
  maxIndex(tables: readonly string[]): number;
  lastIndex(): number;
}

export interface WriteResult<R> {
  readonly result: R;
  /** The index the transaction committed at, or the unchanged last index if it wrote nothing. */
  readonly index: number;
}

export type ChangeListener = (index: number, tables: ReadonlySet<string>) => void;

export interface Store extends ReadView {
  readonly backend: 'memory' | 'sqlite' | 'etcd';
  /**
   * Runs fn as one transaction. Transactions arriving in the same tick are committed together
   * (one fsync), each with its own index; the promise resolves once the commit is durable.
   * If fn throws, its writes are discarded and the promise rejects with that error. On etcd, batched
   * transactions share one index, and fn runs again when another server changed what it read, so fn
   * must only compute from what it reads.
   */
  write<R>(fn: (tx: WriteTxn) => R): Promise<WriteResult<R>>;
  /**
   * Resolves with maxIndex(tables) as soon as it exceeds afterIndex, or when timeoutMs elapses
   * (or signal aborts), whichever is first.
   */
  waitForChange(
    tables: readonly string[],
    afterIndex: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<number>;
  /** Calls listener after each commit that touched one of the tables. Returns an unsubscribe. */
  subscribe(tables: readonly string[], listener: ChangeListener): () => void;
  /**
   * Highest index at which another process sharing this store (another server on etcd) changed one of
   * the tables; 0 when none did or nothing shares the store. What this process derives from its own
   * writes (e.g. the catalog's change log) does not cover such changes.
   */
  foreignIndex(tables: readonly string[]): number;
  /** Waiters currently blocked in waitForChange (for metrics). */
  waitingCount(): number;
  close(): Promise<void>;
}
