// Prometheus metrics of one server process, in a registry of its own (several servers may share a
// process in tests).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface ServerMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'code'>;
  httpDuration: Histogram<'method' | 'route'>;
  storeIndex: Gauge;
  blockingQueries: Gauge;
  peeringState: Gauge<'peer' | 'state'>;
  replicationMessages: Counter<'peer' | 'direction' | 'type'>;
}

export function createServerMetrics(read: {
  storeIndex: () => number;
  blocking: () => number;
}): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'meshpeer_' });
  return {
    registry,
    httpRequests: new Counter({
      name: 'meshpeer_http_requests_total',
      help: 'HTTP API requests by method, route and status code',
      labelNames: ['method', 'route', 'code'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'meshpeer_http_request_duration_seconds',
      help: 'HTTP API request latency (blocking queries included)',
      labelNames: ['method', 'route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30, 300],
      registers: [registry],
    }),
    storeIndex: new Gauge({
      name: 'meshpeer_store_index',
      help: 'The store’s last committed index',
      registers: [registry],
      collect() {
        this.set(read.storeIndex());
      },
    }),
    blockingQueries: new Gauge({
      name: 'meshpeer_http_blocking_queries',
      help: 'Blocking queries waiting right now',
      registers: [registry],
      collect() {
        this.set(read.blocking());
      },
    }),
    peeringState: new Gauge({
      name: 'meshpeer_peering_state',
      help: '1 for the current state of each peering',
      labelNames: ['peer', 'state'],
      registers: [registry],
    }),
    replicationMessages: new Counter({
      name: 'meshpeer_peering_messages_total',
      help: 'Peering stream messages by peer, direction (sent/received) and type',
      labelNames: ['peer', 'direction', 'type'],
      registers: [registry],
    }),
  };
}
