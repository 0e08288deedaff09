// A sidecar as a process runs it: configuration from the server over HTTP, optionally registered as
// the service's `connect-proxy`, optionally serving /metrics; the bytes carried by this process
// (engine node) or by an HAProxy or nginx child it configures (engines haproxy, nginx).
import type { IntentionAction } from '../config-entries/index.js';
import type { Logger } from '../shared/logger.js';
import { type RunningComponent, runComponent } from './component-process.js';
import type { Endpoint } from './endpoint.js';
import { ConsulApi, HttpProxyConfigSource } from './http-config-source.js';
import { HaproxySidecar } from './proxy/haproxy-sidecar.js';
import { Sidecar, type SidecarAddresses, type UpstreamSpec } from './proxy/index.js';
import { NginxSidecar } from './proxy/nginx-sidecar.js';

/**
 * node: the sidecar carries the bytes in this process; haproxy, nginx: it drives an HAProxy or nginx
 * child process.
 */
export type ProxyEngine = 'node' | 'haproxy' | 'nginx';

export interface ProxyProcessOptions {
  server: string;
  token?: string;
  /** PEM of the server's CA, trusted beside the system's (MESHPEER_HTTP_CACERT_PEM). */
  caPem?: string | undefined;
  service: string;
  listen: Endpoint;
  /** The app's address; without it the sidecar has no inbound listener. */
  app?: Endpoint;
  upstreams: readonly UpstreamSpec[];
  meshGatewayService: string;
  /** Overrides the default intention action the server's ACL state implies (see HttpProxyConfigSource). */
  defaultIntentionAction?: IntentionAction;
  /** Register as `<service>-sidecar-proxy` at this address (default: the listen address). */
  register?: { advertise?: Endpoint; healthTtlMs?: number };
  metrics?: Endpoint;
  drainMs: number;
  configTimeoutMs?: number;
  /** Default node. */
  engine?: ProxyEngine;
  logger: Logger;
}

export async function runProxy(options: ProxyProcessOptions): Promise<RunningComponent<SidecarAddresses>> {
  const api = new ConsulApi({ address: options.server, token: options.token, caPem: options.caPem });
  const { service, upstreams, logger, register, app } = options;
  const source = new HttpProxyConfigSource({
    api,
    service,
    upstreams,
    meshGatewayService: options.meshGatewayService,
    defaultIntentionAction: options.defaultIntentionAction,
    logger,
  });
  const sidecarOptions = {
    config: source,
    inbound: app ? { listen: options.listen, app } : undefined,
    upstreams,
    logger,
    configTimeoutMs: options.configTimeoutMs,
  };
  return runComponent({
    api,
    component:
      options.engine === 'haproxy'
        ? new HaproxySidecar(sidecarOptions)
        : options.engine === 'nginx'
          ? new NginxSidecar(sidecarOptions)
          : new Sidecar(sidecarOptions),
    stopWatching: () => source.stop(),
    registration: (addresses) => {
      if (!register || !addresses.inbound) return undefined;
      const id = `${service}-sidecar-proxy`;
      return {
        id,
        name: id,
        kind: 'connect-proxy',
        address: register.advertise ?? addresses.inbound,
        proxy: {
          destinationServiceName: service,
          localServicePort: app?.port,
          upstreams: addresses.upstreams.map(({ spec, address }) => ({
            destinationName: spec.name,
            destinationPeer: spec.peer,
            localBindPort: address.port,
          })),
        },
        ...(register.healthTtlMs !== undefined ? { healthTtlMs: register.healthTtlMs } : {}),
      };
    },
    metrics: options.metrics,
    drainMs: options.drainMs,
    logger,
  });
}
