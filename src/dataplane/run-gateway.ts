// A mesh gateway as a process runs it: configuration from the server over HTTP, optionally
// registered as a `mesh-gateway` service, optionally serving /metrics; the bytes carried by this
// process (engine node) or by an HAProxy or nginx child it configures (engines haproxy, nginx).
import type { Logger } from '../shared/logger.js';
import { type RunningComponent, runComponent } from './component-process.js';
import type { Endpoint } from './endpoint.js';
import { HaproxyGateway, MeshGateway, NginxGateway } from './gateway/index.js';
import { ConsulApi, HttpGatewayConfigSource } from './http-config-source.js';

/** node: the gateway splices in this process; haproxy, nginx: it drives that engine as a child process. */
export type GatewayEngine = 'node' | 'haproxy' | 'nginx';

export interface GatewayProcessOptions {
  server: string;
  token?: string;
  /** PEM of the server's CA, trusted beside the system's (MESHPEER_HTTP_CACERT_PEM). */
  caPem?: string | undefined;
  listen: Endpoint;
  serviceName: string;
  /** Register as a mesh-gateway service at this address (default: the listen address). */
  register?: { advertise?: Endpoint; wan?: Endpoint; id?: string; healthTtlMs?: number };
  /** This cluster's datacenter; asked of the server (/v1/agent/self) when not given. */
  datacenter?: string;
  /** The local servers' gRPC addresses, for peering streams through the gateway. */
  localServers: readonly Endpoint[];
  metrics?: Endpoint;
  drainMs: number;
  configTimeoutMs?: number;
  /** Default node. */
  engine?: GatewayEngine;
  logger: Logger;
}

/** `started` is the address the gateway listens on. */
export async function runGateway(options: GatewayProcessOptions): Promise<RunningComponent<Endpoint>> {
  const api = new ConsulApi({ address: options.server, token: options.token, caPem: options.caPem });
  const { localServers, logger, register } = options;
  const datacenter =
    options.datacenter ?? (await askDatacenter(api, options.configTimeoutMs ?? 30_000, logger));
  const source = new HttpGatewayConfigSource({ api, datacenter, localServers, logger });
  const common = {
    config: source,
    listen: options.listen,
    logger,
    configTimeoutMs: options.configTimeoutMs,
  };
  return runComponent({
    api,
    component:
      options.engine === 'haproxy'
        ? new HaproxyGateway(common)
        : options.engine === 'nginx'
          ? new NginxGateway(common)
          : new MeshGateway(common),
    stopWatching: () => source.stop(),
    registration: (address) => {
      if (!register) return undefined;
      const advertise = register.advertise ?? address;
      return {
        // One ID per replica, so any number of them can be registered side by side (replicas behind one
        // load balancer advertise the same address, so they are told their ID).
        id: register.id ?? `${options.serviceName}-${advertise.host}-${advertise.port}`,
        name: options.serviceName,
        kind: 'mesh-gateway',
        address: advertise,
        ...(register.wan ? { wan: register.wan } : {}),
        ...(register.healthTtlMs !== undefined ? { healthTtlMs: register.healthTtlMs } : {}),
      };
    },
    metrics: options.metrics,
    drainMs: options.drainMs,
    logger,
  });
}

/** The server's datacenter, retried while the server is not up yet. */
async function askDatacenter(api: ConsulApi, timeoutMs: number, logger: Logger): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (let delayMs = 250; ; delayMs = Math.min(delayMs * 2, 5_000)) {
    try {
      return await api.datacenter();
    } catch (err) {
      if (Date.now() + delayMs > deadline) throw err;
      logger.warn(
        { err: (err as Error).message, retryInMs: delayMs },
        'cannot ask the server for its datacenter yet',
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
