// The composition root of one cluster's control plane: builds the store, the domains and the APIs,
// starts them, and stops them in reverse order leaving no socket or timer behind.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { type AclOptions, AclService } from '../acl/acl-service.js';
import { markBootstrapped } from '../acl/bootstrap.js';
import { CertificateAuthority } from '../ca/authority.js';
import { trustDomainOfClusterId } from '../ca/trust-domain.js';
import { agentNodeRegistration } from '../catalog/agent-node.js';
import { Catalog } from '../catalog/catalog.js';
import { ConfigEntries } from '../config-entries/config-store.js';
import { gatewayModeNoneRefusedWhilePeered } from '../config-entries/peered-gateway-mode.js';
import { buildHttpApi, type HttpLimits } from '../http-api/app.js';
import { cacheHeaders, datacenterCheck } from '../http-api/datacenter.js';
import { aclBootstrapRoutes } from '../http-api/routes/acl-bootstrap.js';
import { agentConnectRoutes } from '../http-api/routes/agent-connect.js';
import { agentLocalRoutes } from '../http-api/routes/agent-local.js';
import { connectRoutes } from '../http-api/routes/connect.js';
import { peeringRoutes } from '../http-api/routes/peering.js';
import { uiRoutes } from '../http-api/ui-static.js';
import { startEtcdLeadership } from '../leadership/etcd-leadership.js';
import { type Leadership, type ServerIdentity, soleServer } from '../leadership/leadership.js';
import { createServerMetrics } from '../observability/metrics.js';
import { DEFAULT_PEERING_OPTIONS, type PeeringOptions, Peerings } from '../peering/peerings.js';
import { addService, createServer, listen, shutdownServer } from '../peering/transport/grpc-service.js';
import { PeeringService } from '../peering/transport/protocol.js';
import { serverCredentials } from '../peering/transport/tls.js';
import { formatHostPort, parseHostPort } from '../shared/address.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { prepareDataDir } from '../store/data-dir.js';
import { type EtcdStoreConfig, openConfiguredStore, openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { CONSUL_API_VERSION } from './consul-compat.js';
import type { EarlyListener } from './early-listener.js';

export interface ServerOptions {
  httpAddr: string;
  grpcAddr: string;
  /** Where state lives; undefined keeps everything in memory (--dev). */
  dataDir: string | undefined;
  /** Keep the state in etcd instead (--store etcd), shared by every server given the same prefix. */
  etcd?: EtcdStoreConfig;
  datacenter: string;
  nodeName: string;
  /** The node's ID (Consul's node_id, a UUID); '' or undefined for none. */
  nodeId?: string;
  /** Meta of the server's own node (`--node-meta key:value`). */
  nodeMeta?: Record<string, string>;
  logLevel?: string;
  peering?: Partial<PeeringOptions>;
  /** Addresses peers should dial for this server's gRPC port, when the bound one is not reachable. */
  advertiseGrpc?: string[];
  /** The address other servers and clients reach this one at (the node's Address; /v1/status/*). */
  advertiseAddress?: string;
  /** With etcd: the leader's lease in seconds, how long a dead leader holds the election (default 3). */
  leaderLeaseTtlSeconds?: number;
  /** ACLs: undefined leaves them off (every request allowed). */
  acl?: AclOptions;
  /** Consul's connect.ca_config.cluster_id: a new CA's trust domain is `<caClusterId>.consul`. */
  caClusterId?: string;
  /** The HTTP port, bound before the server's modules were loaded (plain HTTP only): used instead of httpAddr's. */
  httpListener?: EarlyListener;
  /** HTTPS only for the HTTP API, with these PEM files (certificate chain, key); undefined: plain HTTP. */
  httpTls?: { certFile: string; keyFile: string };
  /** Start on a data dir other users can access (with a warning) instead of refusing. */
  allowInsecureDataDir?: boolean;
  /** Said once at start-up, at warn level (e.g. a secret given on the command line). */
  warnings?: string[];
  /** HTTP API header/request timeouts and connection cap. */
  httpLimits?: Partial<HttpLimits>;
  /** Serve the web UI at /ui/ (default true); uiDir: its built files (default dist/ui). */
  ui?: boolean;
  uiDir?: string;
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

/** The HTTPS certificate and key, read once at start; a missing file is named in the error. */
function readHttpTls(files: { certFile: string; keyFile: string }): { cert: string; key: string } {
  const read = (file: string, flag: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(
        `${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
  };
  return { cert: read(files.certFile, '--http-tls-cert'), key: read(files.keyFile, '--http-tls-key') };
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const t0 = performance.now();
  const phases: Record<string, number> = {};
  const mark = (name: string): void => {
    phases[name] = Math.round(performance.now() - t0);
  };
  const logger = createLogger({ name: 'server', ...(opts.logLevel ? { level: opts.logLevel } : {}) });
  const http = parseHostPort(opts.httpAddr, '--http-addr');
  const grpc = parseHostPort(opts.grpcAddr, '--grpc-addr');
  const httpTls = opts.httpTls === undefined ? undefined : readHttpTls(opts.httpTls);
  const clusterTrustDomain =
    opts.caClusterId === undefined ? undefined : trustDomainOfClusterId(opts.caClusterId);
  for (const warning of opts.warnings ?? []) logger.warn(warning);
  if (opts.dataDir !== undefined) {
    const { warning } = prepareDataDir(opts.dataDir, opts.allowInsecureDataDir === true);
    if (warning !== undefined) logger.warn({ dataDir: opts.dataDir }, warning);
  }
  const { store, etcd } =
    opts.etcd !== undefined
      ? await openConfiguredStore(opts.etcd)
      : {
          store: openStore(
            opts.dataDir === undefined ? { backend: 'memory' } : { backend: 'sqlite', dataDir: opts.dataDir },
          ),
          etcd: undefined,
        };
  // Set once the ports are bound; until then this server is alone and leads.
  let leadership: Leadership | undefined;
  // Resolves once the gRPC port listens and the leadership is known: peering tokens need both.
  let markServing!: () => void;
  const serving = new Promise<void>((resolve) => {
    markServing = resolve;
  });
  mark('store');
  const metrics = createServerMetrics({
    storeIndex: () => store.lastIndex(),
    blocking: () => store.waitingCount(),
  });
  const catalog = new Catalog(store, opts.datacenter, {
    onTtlError: (err, node, checkID) =>
      logger.warn({ err, node, checkID }, 'could not mark an expired TTL check critical'),
  });
  const config = new ConfigEntries(store);
  const node = {
    Node: opts.nodeName,
    Address:
      opts.advertiseAddress ?? (http.host === '0.0.0.0' || http.host === '::' ? '127.0.0.1' : http.host),
  };

  const ca = await CertificateAuthority.open(store, opts.datacenter, [], {
    ...(opts.caClusterId !== undefined ? { clusterId: opts.caClusterId } : {}),
  });
  mark('ca');
  if (clusterTrustDomain !== undefined && ca.trustDomain !== clusterTrustDomain) {
    logger.warn(
      { trustDomain: ca.trustDomain, caClusterId: opts.caClusterId },
      'the CA keeps the trust domain it was created with; --ca-cluster-id applies to a new CA only',
    );
  }
  const peeringOptions = { ...DEFAULT_PEERING_OPTIONS, ...opts.peering };
  let grpcAddress = formatHostPort(grpc);
  const ownGrpcAddresses = (): string[] => (opts.advertiseGrpc?.length ? opts.advertiseGrpc : [grpcAddress]);
  const peerings = new Peerings({
    store,
    catalog,
    config,
    ca,
    logger: logger.child({ component: 'peering' }),
    datacenter: opts.datacenter,
    // Tokens list every server of the cluster: a peer reaches whichever is up, and is sent on to the leader.
    grpcAddresses: () =>
      leadership === undefined
        ? ownGrpcAddresses()
        : [...new Set(leadership.servers().flatMap((s) => s.grpcAddresses))],
    options: peeringOptions,
    serving,
    onMessage: (peer, direction, type) => metrics.replicationMessages.inc({ peer, direction, type }),
  });

  config.addRule(gatewayModeNoneRefusedWhilePeered(peerings.peerNamesInUse));

  const grpcServer = createServer({ maxMessageBytes: peeringOptions.maxMessageBytes });
  addService(grpcServer, PeeringService, peerings.grpcImplementation());
  const acl =
    opts.acl === undefined ? undefined : new AclService(store, { ...opts.acl, datacenter: opts.datacenter });
  const app = buildHttpApi(
    {
      store,
      catalog,
      config,
      metrics,
      logger,
      datacenter: opts.datacenter,
      node,
      cluster: {
        knownLeader: () => leadership?.knownLeader() ?? true,
        lastContactMs: () => leadership?.lastContactMs() ?? 0,
        leader: () => leadership?.leader(),
        servers: () => leadership?.servers() ?? [],
      },
      version: VERSION,
      ...(acl !== undefined ? { acl } : {}),
      ...(opts.httpLimits !== undefined ? { httpLimits: opts.httpLimits } : {}),
    },
    [
      datacenterCheck,
      cacheHeaders,
      peeringRoutes(peerings),
      connectRoutes(ca),
      agentConnectRoutes(ca),
      agentLocalRoutes,
      aclBootstrapRoutes,
      ...(opts.ui !== false ? [uiRoutes(opts.uiDir)] : []),
    ],
    httpTls,
  );
  mark('http-api');
  try {
    // A configured initial management token counts as the ACL bootstrap, as in Consul.
    if (opts.acl?.initialManagementToken !== undefined) await markBootstrapped(store);
    await catalog.register(
      agentNodeRegistration({
        node: node.Node,
        id: opts.nodeId ?? '',
        address: node.Address,
        meta: opts.nodeMeta ?? {},
        consulVersion: CONSUL_API_VERSION,
      }),
    );
    await catalog.rearmTtlChecks();
    mark('catalog');
    if (opts.httpListener !== undefined) {
      await app.ready();
      await opts.httpListener.handOver(app.server);
    } else {
      await app.listen({ host: http.host, port: http.port });
    }
    mark('http-listening');
    // The API answers from here on; what only peering streams need comes next (token generation and
    // establishment wait for it: `serving`).
    // Let requests already waiting on the port be answered first (setImmediate runs after I/O polling).
    await new Promise<void>((resolve) => setImmediate(resolve));
    const serverCert = await ca.serverCertificate();
    const grpcPort = await listen(
      grpcServer,
      formatHostPort(grpc),
      serverCredentials({ certChainPem: serverCert.certPem, privateKeyPem: serverCert.keyPem }),
    );
    grpcAddress = formatHostPort({ host: grpc.host === '0.0.0.0' ? '127.0.0.1' : grpc.host, port: grpcPort });
    mark('grpc');
  } catch (err) {
    catalog.stop();
    await Promise.all([app.close(), shutdownServer(grpcServer, 0)]);
    await store.close();
    throw err;
  }
  const bound = app.server.address() as AddressInfo;
  const httpAddress = formatHostPort({ host: http.host, port: bound.port });
  const self: ServerIdentity = {
    id: `${opts.nodeName}-${randomUUID().slice(0, 8)}`,
    node: opts.nodeName,
    httpAddress: formatHostPort({ host: node.Address, port: bound.port }),
    grpcAddresses: ownGrpcAddresses(),
  };
  try {
    leadership =
      etcd === undefined
        ? soleServer(self)
        : await startEtcdLeadership({
            client: etcd,
            prefix: opts.etcd?.prefix ?? '',
            self,
            logger: logger.child({ component: 'leadership' }),
            ...(opts.leaderLeaseTtlSeconds !== undefined ? { ttlSeconds: opts.leaderLeaseTtlSeconds } : {}),
          });
  } catch (err) {
    catalog.stop();
    await Promise.all([app.close(), shutdownServer(grpcServer, 0)]);
    await store.close();
    throw new Error(`cannot join the leader election in etcd: ${(err as Error).message}`);
  }
  peerings.start(leadership);
  markServing();
  logger.info(
    {
      httpAddress,
      grpcAddress,
      datacenter: opts.datacenter,
      httpTls: httpTls === undefined ? 'disabled' : 'enabled (HTTPS only)',
      trustDomain: ca.trustDomain,
      dataDir: opts.dataDir ?? (etcd !== undefined ? '(etcd)' : '(memory)'),
      ...(etcd !== undefined ? { serverId: self.id, leader: leadership.leader()?.id ?? '(electing)' } : {}),
      acl: opts.acl === undefined ? 'disabled' : `enabled, default ${opts.acl.defaultPolicy}`,
      index: store.lastIndex(),
    },
    'server ready',
  );
  mark('ready');
  logger.debug({ phasesMs: phases }, 'start-up phases (ms since the server module started)');

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
      await peerings.stop();
      // Resigning lets another server lead now rather than when this one's lease runs out.
      await leadership?.stop();
      catalog.stop();
      await Promise.all([app.close(), shutdownServer(grpcServer, 500)]);
      await store.close();
      logger.info('server stopped');
      logger.flush();
    },
  };
}
