// One upstream listener: the app connects in plain TCP on loopback, and the sidecar carries the bytes
// over mutual TLS to the upstream's sidecar — directly, or through a mesh gateway for a peer. Each new
// connection goes to the first target of the upstream's route (its service, or the resolver's
// Redirect, then Failover targets) that has passing instances and answers; live connections stay
// where they are when the route changes.
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Logger } from '../../shared/logger.js';
import { connectTimeoutFrom, type Dialer, dialAny } from '../dial.js';
import type { Endpoint } from '../endpoint.js';
import { ConnectionSet, closeServer, listenOn } from '../listen.js';
import { splice } from '../splice.js';
import { type ProxyConfig, type UpstreamSpec, upstreamLabel } from './config.js';
import type { ProxyMetrics } from './metrics.js';
import type { ProxyState } from './state.js';
import { expectServer } from './tls-contexts.js';
import { routeUpstream, type UpstreamRoute, type UsablePlan } from './upstream-plan.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

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
  /** The route of the last configuration seen, computed once per configuration. */
  private routed: { config: ProxyConfig; route: UpstreamRoute } | undefined;
  /** What the log last said about where connections go, to say it again only when it changes. */
  private reported: string | undefined;
  private failoverTarget: string | undefined;

  constructor(
    readonly spec: UpstreamSpec,
    private readonly state: () => ProxyState,
    private readonly metrics: ProxyMetrics,
    private readonly logger: Logger,
  ) {
    this.label = upstreamLabel(spec);
  }

  listen(): Promise<Endpoint> {
    this.refresh();
    return listenOn(this.server, this.spec.bind);
  }

  close(drainMs: number): Promise<void> {
    return closeServer(this.server, this.connections, drainMs);
  }

  /** Called with each new configuration: logs where new connections go when that changes. */
  refresh(): void {
    this.routeOf(this.state().config);
  }

  private routeOf(config: ProxyConfig): UpstreamRoute {
    if (this.routed?.config === config) return this.routed.route;
    const route = routeUpstream(this.spec, config);
    this.routed = { config, route };
    this.report(route);
    return route;
  }

  private report(route: UpstreamRoute): void {
    const first = route.candidates[0];
    const why = route.skipped.map((s) => `${s.target}: ${s.detail}`);
    const summary = JSON.stringify([first?.target, first?.route, why, route.unsupported]);
    if (summary === this.reported) return;
    const initial = this.reported === undefined;
    this.reported = summary;
    const failingOver = first !== undefined && first.role === 'failover' ? first.target : undefined;
    if (this.failoverTarget !== failingOver) {
      if (this.failoverTarget)
        this.metrics.upstreamFailover.set({ upstream: this.label, target: this.failoverTarget }, 0);
      if (failingOver) this.metrics.upstreamFailover.set({ upstream: this.label, target: failingOver }, 1);
      this.failoverTarget = failingOver;
    }
    const fields = {
      upstream: this.label,
      target: first?.target,
      role: first?.role,
      route: first?.route,
      skipped: route.skipped.map((s) => ({ target: s.target, reason: s.reason })),
      ...(route.unsupported.length > 0 ? { unsupported: route.unsupported } : {}),
    };
    if (!first) {
      this.logger.warn(
        fields,
        `upstream ${this.label}: no target can take new connections: ${why.join('; ')}`,
      );
    } else if (first.role === 'failover') {
      this.logger.warn(
        fields,
        `upstream ${this.label}: new connections fail over to ${first.target} via ${first.route}: ${why.join('; ')}`,
      );
    } else if (!initial || why.length > 0 || first.role === 'redirect') {
      this.logger.info(
        fields,
        `upstream ${this.label}: new connections go to ${first.target} via ${first.route}` +
          (why.length > 0 ? ` (${why.join('; ')})` : ''),
      );
    }
    if (route.unsupported.length > 0) {
      this.logger.warn(
        { upstream: this.label, unsupported: route.unsupported },
        `upstream ${this.label}: parts of the service-resolver are not followed: ${route.unsupported.join('; ')}`,
      );
    }
  }

  private async handle(client: net.Socket): Promise<void> {
    this.connections.add(client);
    client.on('error', () => {});
    const { config, tls: material } = this.state();
    const route = this.routeOf(config);
    for (const skipped of route.skipped) {
      this.metrics.upstreamTargetSkipped.inc({
        upstream: this.label,
        target: skipped.target,
        reason: skipped.reason,
      });
    }
    if (route.candidates.length === 0) {
      const first = route.skipped[0];
      const detail =
        route.skipped.length === 1 && first
          ? first.detail
          : `no target can take it: ${route.skipped.map((s) => `${s.target}: ${s.detail}`).join('; ')}`;
      return this.refuse(client, first?.reason ?? 'no-instances', detail);
    }
    const timeoutMs =
      route.connectTimeoutMs ?? connectTimeoutFrom(config.proxyConfig, DEFAULT_CONNECT_TIMEOUT_MS);
    const failures: string[] = [];
    for (const plan of route.candidates) {
      let upstream: tls.TLSSocket;
      try {
        upstream = await this.dial(plan, material, timeoutMs);
      } catch (err) {
        const detail = (err as Error).message;
        failures.push(`${plan.target}: ${detail}`);
        this.metrics.upstreamTargetSkipped.inc({
          upstream: this.label,
          target: plan.target,
          reason: 'unreachable',
        });
        this.logger.warn(
          {
            upstream: this.label,
            target: plan.target,
            role: plan.role,
            route: plan.route,
            reason: 'unreachable',
          },
          `upstream ${this.label}: ${plan.target} did not answer via ${plan.route}: ${detail}`,
        );
        if (client.destroyed) return;
        continue;
      }
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      this.metrics.upstreamForwarded.inc({ upstream: this.label, route: plan.route, target: plan.target });
      this.metrics.active.inc({ direction: 'upstream' });
      await splice(client, upstream);
      this.metrics.active.dec({ direction: 'upstream' });
      return;
    }
    this.refuse(client, 'upstream-unreachable', `no target answered (${failures.join('; ')})`);
  }

  private dial(plan: UsablePlan, material: ProxyState['tls'], timeoutMs: number): Promise<tls.TLSSocket> {
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
        session: material.session(plan.trustedPeer, plan.sni),
        allowHalfOpen: true,
      };
      const socket = tls.connect(options).setNoDelay(true);
      // Listened for only once the server is verified ('secureConnect' follows checkServerIdentity),
      // so a session is never kept for a server that failed it.
      socket.once('secureConnect', () => {
        socket.on('session', (session: Buffer) =>
          material.rememberSession(plan.trustedPeer, plan.sni, session),
        );
      });
      return { socket, ready: 'secureConnect' };
    };
    return dialAny(plan.endpoints, dialer, timeoutMs);
  }

  private refuse(client: net.Socket, reason: string, detail: string): void {
    this.metrics.upstreamRefused.inc({ upstream: this.label, reason });
    this.logger.warn({ upstream: this.label, reason }, `upstream connection refused: ${detail}`);
    client.destroy();
  }
}
