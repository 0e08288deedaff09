// Where committed changes go to survive a restart. The memory backend has none; SQLite is the default.
import type { StoredEntry } from './store.js';

export interface TableChange {
  readonly table: string;
  readonly key: string;
  /** The new entry, or undefined when the key was deleted. */
  readonly entry: StoredEntry | undefined;
}

export interface CommitBatch {
  readonly changes: readonly TableChange[];
  readonly tableIndexes: ReadonlyMap<string, number>;
  readonly lastIndex: number;
}

export interface LoadedState {
  readonly entries: Iterable<{ table: string; entry: StoredEntry }>;
  readonly tableIndexes: ReadonlyMap<string, number>;
  readonly lastIndex: number;
}

export interface Persistence {
  load(): LoadedState;
  /** Durably commits the batch, all or nothing; throws if it cannot. */
  commit(batch: CommitBatch): void;
  close(): void;
}
