// The mesh gateway: a TCP listener that reads each connection's SNI name, picks a destination from
// the current routing snapshot and splices the bytes there without terminating TLS. It holds no
// state beyond live connections, so any number of replicas can serve the same cluster.
import * as net from 'node:net';
import { type Logger, silentLogger } from '../../shared/logger.js';
import { type ConfigSource, subscribeFromFirst, type Unsubscribe } from '../config-source.js';
import { connectTimeoutFrom, dialAny, plainDialer } from '../dial.js';
import type { Endpoint } from '../endpoint.js';
import { ConnectionSet, closeServer, listenOn } from '../listen.js';
import { peekServerName } from '../sni.js';
import { splice } from '../splice.js';
import type { GatewayConfig } from './config.js';
import { GatewayMetrics } from './metrics.js';
import { routeFor } from './routes.js';

export interface MeshGatewayOptions {
  config: ConfigSource<GatewayConfig>;
  listen: Endpoint;
  logger?: Logger;
  metrics?: GatewayMetrics;
  /** How long a client has to send its ClientHello. Default 10 s. */
  clientHelloTimeoutMs?: number;
  maxClientHelloBytes?: number;
  /** Dial timeout per destination, unless `Proxy.Config.connect_timeout_ms` says otherwise. Default 5 s. */
  connectTimeoutMs?: number;
  /** How long start() waits for the first configuration. Default 30 s. */
  configTimeoutMs?: number;
}

export class MeshGateway {
  readonly metrics: GatewayMetrics;
  private readonly logger: Logger;
  private readonly connections = new ConnectionSet();
  private readonly server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    void this.handle(socket);
  });
  private config: GatewayConfig | undefined;
  private unsubscribe: Unsubscribe | undefined;
  private bound: Endpoint | undefined;

  constructor(private readonly options: MeshGatewayOptions) {
    this.metrics = options.metrics ?? new GatewayMetrics();
    this.logger = options.logger ?? silentLogger();
  }

  /** Waits for the first routing snapshot, then listens; resolves with the bound address. */
  async start(): Promise<Endpoint> {
    const { unsubscribe } = await subscribeFromFirst(
      this.options.config,
      (snapshot) => {
        // Only new connections read the table, so swapping it leaves live ones alone.
        this.config = snapshot;
      },
      { timeoutMs: this.options.configTimeoutMs ?? 30_000, what: 'mesh gateway' },
    );
    this.unsubscribe = unsubscribe;
    this.bound = await listenOn(this.server, this.options.listen);
    this.logger.info({ address: this.bound }, 'mesh gateway listening');
    return this.bound;
  }

  get address(): Endpoint {
    if (!this.bound) throw new Error('the mesh gateway is not listening');
    return this.bound;
  }

  get liveConnections(): number {
    return this.connections.size;
  }

  /** Stops accepting, gives live connections `drainMs` to finish, then closes the rest. */
  async stop(drainMs = 0): Promise<void> {
    this.unsubscribe?.();
    await closeServer(this.server, this.connections, drainMs);
  }

  private async handle(socket: net.Socket): Promise<void> {
    this.connections.add(socket);
    // Errors are always followed by 'close', which is where a connection is accounted for.
    socket.on('error', () => {});
    const hello = await peekServerName(socket, {
      timeoutMs: this.options.clientHelloTimeoutMs,
      maxBytes: this.options.maxClientHelloBytes,
    });
    if (!hello.ok) return this.refuse(socket, hello.reason, hello.detail);
    const config = this.config;
    if (!config) return this.refuse(socket, 'no-config', 'no routing configuration yet');
    const route = routeFor(config, hello.serverName);
    if (route.kind === 'refused') return this.refuse(socket, route.reason, route.detail, hello.serverName);

    const timeoutMs = connectTimeoutFrom(config.proxyConfig, this.options.connectTimeoutMs ?? 5_000);
    let upstream: net.Socket;
    try {
      upstream = await dialAny(route.endpoints, plainDialer, timeoutMs);
    } catch (err) {
      return this.refuse(socket, 'upstream-unreachable', (err as Error).message, hello.serverName);
    }
    if (socket.destroyed) {
      upstream.destroy();
      return;
    }
    upstream.write(hello.head);
    this.metrics.forwarded.inc({ route: route.kind });
    this.metrics.active.inc();
    this.logger.debug({ sni: hello.serverName, route: route.kind, to: route.describe }, 'forwarding');
    await splice(socket, upstream);
    this.metrics.active.dec();
  }

  private refuse(socket: net.Socket, reason: string, detail: string, sni?: string): void {
    this.metrics.refused.inc({ reason });
    this.logger.info({ reason, sni, from: socket.remoteAddress }, `refused connection: ${detail}`);
    socket.destroy();
  }
}
