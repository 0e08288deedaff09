// Chooses a backend: SQLite under the data dir (default, durable), or memory (tests, --dev).
import { join } from 'node:path';
import { SqlitePersistence } from './sqlite-persistence.js';
import { StateStore } from './state-store.js';
import type { Store } from './store.js';

export type StoreOptions = { backend: 'memory' } | { backend: 'sqlite'; dataDir: string };

export function openStore(options: StoreOptions): Store {
  if (options.backend === 'memory') return new StateStore('memory', undefined);
  return new StateStore('sqlite', new SqlitePersistence(join(options.dataDir, 'state.db')));
}
