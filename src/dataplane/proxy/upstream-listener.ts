// One upstream listener: the app connects in plain TCP on loopback, and the sidecar carries the bytes
// over mutual TLS to the upstream's sidecar — directly, or through a mesh gateway for a peer.
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Logger } from '../../shared/logger.js';
import { connectTimeoutFrom, type Dialer, dialAny } from '../dial.js';
import type { Endpoint } from '../endpoint.js';
import { ConnectionSet, closeServer, listenOn } from '../listen.js';
import { splice } from '../splice.js';
import { type UpstreamSpec, upstreamLabel } from './config.js';
import type { ProxyMetrics } from './metrics.js';
import type { ProxyState } from './state.js';
import { expectServer } from './tls-contexts.js';
import { planUpstream } from './upstream-plan.js';

export class UpstreamListener {
  private readonly connections = new ConnectionSet();
  // Paused until the upstream is connected, so nothing the app sends early is lost.
  private readonly server = net.createServer(
    { allowHalfOpen: true, pauseOnConnect: true, noDelay: true },
    (socket) => {
      void this.handle(socket);
    },
  );
  private readonly label: string;

  constructor(
    readonly spec: UpstreamSpec,
    private readonly state: () => ProxyState,
    private readonly metrics: ProxyMetrics,
    private readonly logger: Logger,
  ) {
    this.label = upstreamLabel(spec);
  }

  listen(): Promise<Endpoint> {
    return listenOn(this.server, this.spec.bind);
  }

  close(drainMs: number): Promise<void> {
    return closeServer(this.server, this.connections, drainMs);
  }

  private async handle(client: net.Socket): Promise<void> {
    this.connections.add(client);
    client.on('error', () => {});
    const { config, tls: material } = this.state();
    const plan = planUpstream(this.spec, config);
    if (!plan.ok) return this.refuse(client, plan.reason, plan.detail);

    const secureContext = material.clientContext(plan.trustedPeer, plan.rootPems);
    const checkServerIdentity = expectServer(plan.expect);
    const dialer: Dialer<tls.TLSSocket> = (endpoint) => {
      // allowHalfOpen is passed on to the TLSSocket by tls.connect, though its typings omit it.
      const options: tls.ConnectionOptions & { allowHalfOpen: boolean } = {
        host: endpoint.host,
        port: endpoint.port,
        servername: plan.sni,
        secureContext,
        checkServerIdentity,
        allowHalfOpen: true,
      };
      return { socket: tls.connect(options).setNoDelay(true), ready: 'secureConnect' };
    };
    let upstream: tls.TLSSocket;
    try {
      upstream = await dialAny(plan.endpoints, dialer, connectTimeoutFrom(config.proxyConfig, 5_000));
    } catch (err) {
      return this.refuse(client, 'upstream-unreachable', (err as Error).message);
    }
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    this.metrics.upstreamForwarded.inc({ upstream: this.label, route: plan.route });
    this.metrics.active.inc({ direction: 'upstream' });
    await splice(client, upstream);
    this.metrics.active.dec({ direction: 'upstream' });
  }

  private refuse(client: net.Socket, reason: string, detail: string): void {
    this.metrics.upstreamRefused.inc({ upstream: this.label, reason });
    this.logger.warn({ upstream: this.label, reason }, `upstream connection refused: ${detail}`);
    client.destroy();
  }
}
