// The gateway's Prometheus metrics, on a registry of its own so several gateways can share a process.
import { Counter, Gauge, Registry } from 'prom-client';

export class GatewayMetrics {
  readonly forwarded: Counter<'route'>;
  readonly refused: Counter<'reason'>;
  readonly active: Gauge;

  /**
   * `refresh`, when given, runs before each scrape reads the metrics (the HAProxy engine reads HAProxy's
   * counters into them there); concurrent reads of one scrape should share one call.
   */
  constructor(
    readonly registry: Registry = new Registry(),
    refresh?: () => Promise<void>,
  ) {
    const collect = refresh
      ? async () => {
          await refresh();
        }
      : undefined;
    this.forwarded = new Counter({
      collect,
      name: 'meshpeer_gateway_connections_forwarded_total',
      help: 'Connections the mesh gateway forwarded, by route (inbound, outbound, peering-inbound, peering-outbound)',
      labelNames: ['route'],
      registers: [registry],
    });
    this.refused = new Counter({
      collect,
      name: 'meshpeer_gateway_connections_refused_total',
      help: 'Connections the mesh gateway closed without forwarding, by reason',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.active = new Gauge({
      collect,
      name: 'meshpeer_gateway_connections_active',
      help: 'Connections the mesh gateway is currently forwarding',
      registers: [registry],
    });
  }
}
