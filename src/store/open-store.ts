// Chooses a backend: SQLite under the data dir (default, durable), memory (tests, --dev), or etcd (several
// servers sharing one state; opening it loads the state, hence the async openConfiguredStore).
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import type { EtcdStoreConfig } from './etcd-config.js';
import { SqlitePersistence } from './sqlite-persistence.js';
import { StateStore } from './state-store.js';
import type { Store } from './store.js';

export type { EtcdStoreConfig } from './etcd-config.js';

export type StoreOptions = { backend: 'memory' } | { backend: 'sqlite'; dataDir: string };

export function openStore(options: StoreOptions): Store {
  if (options.backend === 'memory') return new StateStore('memory', undefined);
  return new StateStore('sqlite', new SqlitePersistence(join(options.dataDir, 'state.db')));
}

/**
 * Any backend; for etcd, connects, loads the state and starts the watch before resolving, and also gives
 * the etcd client (the servers sharing the store elect their leader through it; closing the store closes it).
 */
export async function openConfiguredStore(
  options: StoreOptions | EtcdStoreConfig,
): Promise<{ store: Store; etcd?: Etcd3 }> {
  if (options.backend !== 'etcd') return { store: openStore(options) };
  // Loaded only for etcd: the client library takes longer to load than the rest of the server start.
  const [{ connectEtcd }, { openEtcdStore }] = await Promise.all([
    import('./etcd-client.js'),
    import('./etcd-store.js'),
  ]);
  const client = connectEtcd(options);
  const store = await openEtcdStore({
    client,
    prefix: options.prefix,
    description: `etcd (${options.endpoints.join(', ')})`,
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
  });
  return { store, etcd: client };
}
