// The sidecar's Prometheus metrics, on a registry of its own so several sidecars can share a process.
import { Counter, Gauge, Registry } from 'prom-client';

export class ProxyMetrics {
  readonly inboundAllowed: Counter;
  readonly inboundRefused: Counter<'reason'>;
  readonly upstreamForwarded: Counter<'upstream' | 'route'>;
  readonly upstreamRefused: Counter<'upstream' | 'reason'>;
  readonly active: Gauge<'direction'>;

  constructor(readonly registry: Registry = new Registry()) {
    const registers = [registry];
    this.inboundAllowed = new Counter({
      name: 'meshpeer_proxy_inbound_allowed_total',
      help: 'Inbound mTLS connections authenticated, authorised by intentions and passed to the app',
      registers,
    });
    this.inboundRefused = new Counter({
      name: 'meshpeer_proxy_inbound_refused_total',
      help: 'Inbound connections closed before reaching the app, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.upstreamForwarded = new Counter({
      name: 'meshpeer_proxy_upstream_connections_total',
      help: 'Upstream connections made, by upstream and route (direct, remote-gateway, local-gateway)',
      labelNames: ['upstream', 'route'],
      registers,
    });
    this.upstreamRefused = new Counter({
      name: 'meshpeer_proxy_upstream_refused_total',
      help: 'Upstream connections that could not be made, by upstream and reason',
      labelNames: ['upstream', 'reason'],
      registers,
    });
    this.active = new Gauge({
      name: 'meshpeer_proxy_connections_active',
      help: 'Connections the sidecar is currently carrying, by direction',
      labelNames: ['direction'],
      registers,
    });
  }
}
