// The gateway's Prometheus metrics, on a registry of its own so several gateways can share a process.
import { Counter, Gauge, Registry } from 'prom-client';

export class GatewayMetrics {
  readonly forwarded: Counter<'route'>;
  readonly refused: Counter<'reason'>;
  readonly active: Gauge;

  constructor(readonly registry: Registry = new Registry()) {
    this.forwarded = new Counter({
      name: 'meshpeer_gateway_connections_forwarded_total',
      help: 'Connections the mesh gateway forwarded, by route (inbound, outbound, peering-inbound, peering-outbound)',
      labelNames: ['route'],
      registers: [registry],
    });
    this.refused = new Counter({
      name: 'meshpeer_gateway_connections_refused_total',
      help: 'Connections the mesh gateway closed without forwarding, by reason',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.active = new Gauge({
      name: 'meshpeer_gateway_connections_active',
      help: 'Connections the mesh gateway is currently forwarding',
      registers: [registry],
    });
  }
}
