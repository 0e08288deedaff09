// The composition root of one cluster's control plane: builds the store, the domains and the APIs,
// starts them, and stops them in reverse order leaving no socket or timer behind.
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Catalog } from '../catalog/catalog.js';
import { ConfigEntries } from '../config-entries/config-store.js';
import { buildHttpApi } from '../http-api/app.js';
import { createServerMetrics } from '../observability/metrics.js';
import { formatHostPort, parseHostPort } from '../shared/address.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';

export interface ServerOptions {
  httpAddr: string;
  grpcAddr: string;
  /** Where state lives; undefined keeps everything in memory (--dev). */
  dataDir: string | undefined;
  datacenter: string;
  nodeName: string;
  logLevel?: string;
}

export interface RunningServer {
  httpAddress: string;
  grpcAddress: string;
  store: Store;
  logger: Logger;
  stop(): Promise<void>;
}

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const logger = createLogger({ name: 'server', ...(opts.logLevel ? { level: opts.logLevel } : {}) });
  const http = parseHostPort(opts.httpAddr, '--http-addr');
  const grpc = parseHostPort(opts.grpcAddr, '--grpc-addr');
  const store = openStore(
    opts.dataDir === undefined ? { backend: 'memory' } : { backend: 'sqlite', dataDir: opts.dataDir },
  );
  const metrics = createServerMetrics({
    storeIndex: () => store.lastIndex(),
    blocking: () => store.waitingCount(),
  });
  const catalog = new Catalog(store, opts.datacenter);
  const config = new ConfigEntries(store);
  const node = {
    Node: opts.nodeName,
    Address: http.host === '0.0.0.0' || http.host === '::' ? '127.0.0.1' : http.host,
  };

  const app = buildHttpApi({
    store,
    catalog,
    config,
    metrics,
    logger,
    datacenter: opts.datacenter,
    node,
    version: VERSION,
  });
  try {
    await app.listen({ host: http.host, port: http.port });
  } catch (err) {
    await store.close();
    throw err;
  }
  const bound = app.server.address() as AddressInfo;
  const httpAddress = formatHostPort({ host: http.host, port: bound.port });
  const grpcAddress = formatHostPort(grpc);
  logger.info(
    {
      httpAddress,
      grpcAddress,
      datacenter: opts.datacenter,
      dataDir: opts.dataDir ?? '(memory)',
      index: store.lastIndex(),
    },
    'server ready',
  );

  let stopped = false;
  return {
    httpAddress,
    grpcAddress,
    store,
    logger,
    async stop() {
      if (stopped) return;
      stopped = true;
      logger.info('server stopping');
      await app.close();
      await store.close();
      logger.info('server stopped');
      logger.flush();
    },
  };
}
