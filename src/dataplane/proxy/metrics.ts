// The sidecar's Prometheus metrics, on a registry of its own so several sidecars can share a process.
import { Counter, Gauge, Registry } from 'prom-client';

export class ProxyMetrics {
  readonly inboundAllowed: Counter;
  readonly inboundRefused: Counter<'reason'>;
  readonly upstreamForwarded: Counter<'upstream' | 'route' | 'target'>;
  readonly upstreamRefused: Counter<'upstream' | 'reason'>;
  readonly upstreamTargetSkipped: Counter<'upstream' | 'target' | 'reason'>;
  readonly upstreamFailover: Gauge<'upstream' | 'target'>;
  readonly active: Gauge<'direction'>;

  /**
   * `refresh`, when given, runs before each scrape reads the metrics (the HAProxy engine reads HAProxy's
   * counters into them there); concurrent reads of one scrape should share one call.
   */
  constructor(
    readonly registry: Registry = new Registry(),
    refresh?: () => Promise<void>,
  ) {
    const registers = [registry];
    const collect = refresh
      ? async () => {
          await refresh();
        }
      : undefined;
    this.inboundAllowed = new Counter({
      collect,
      name: 'meshpeer_proxy_inbound_allowed_total',
      help: 'Inbound mTLS connections authenticated, authorised by intentions and passed to the app',
      registers,
    });
    this.inboundRefused = new Counter({
      collect,
      name: 'meshpeer_proxy_inbound_refused_total',
      help: 'Inbound connections closed before reaching the app, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.upstreamForwarded = new Counter({
      collect,
      name: 'meshpeer_proxy_upstream_connections_total',
      help:
        'Upstream connections made, by upstream, route (direct, remote-gateway, local-gateway) and the target ' +
        'that took them (the service, a Redirect or a Failover target)',
      labelNames: ['upstream', 'route', 'target'],
      registers,
    });
    this.upstreamRefused = new Counter({
      collect,
      name: 'meshpeer_proxy_upstream_refused_total',
      help: 'Upstream connections that could not be made, by upstream and reason',
      labelNames: ['upstream', 'reason'],
      registers,
    });
    this.upstreamTargetSkipped = new Counter({
      collect,
      name: 'meshpeer_proxy_upstream_target_skipped_total',
      help:
        'Upstream connections that could not use a target (the service, a Redirect or a Failover target) and ' +
        'went to the next one or were refused, by upstream, target and reason (no-instances, unknown-peer, ' +
        'mesh-gateway-mode, unsupported-resolver, unreachable)',
      labelNames: ['upstream', 'target', 'reason'],
      registers,
    });
    this.upstreamFailover = new Gauge({
      collect,
      name: 'meshpeer_proxy_upstream_failover',
      help: '1 for the target an upstream fails over to now (the first target cannot take connections)',
      labelNames: ['upstream', 'target'],
      registers,
    });
    this.active = new Gauge({
      collect,
      name: 'meshpeer_proxy_connections_active',
      help: 'Connections the sidecar is currently carrying, by direction',
      labelNames: ['direction'],
      registers,
    });
  }
}
