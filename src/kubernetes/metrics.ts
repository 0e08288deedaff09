// The controller's Prometheus metrics (reconciles by kind and result, their duration, queue depth,
// leadership) and the small HTTP server that exposes them on --metrics-addr.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { parseHostPort } from '../shared/address.js';

export type ReconcileOutcome = 'success' | 'error';

export class ControllerMetrics {
  readonly registry = new Registry();
  private readonly reconciles = new Counter({
    name: 'meshpeer_controller_reconcile_total',
    help: 'Reconciles, by resource kind and result.',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'meshpeer_controller_reconcile_duration_seconds',
    help: 'Time spent in one reconcile, by resource kind.',
    labelNames: ['kind'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly depth = new Gauge({
    name: 'meshpeer_controller_queue_depth',
    help: 'Keys waiting in the work queue, by resource kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  private readonly leader = new Gauge({
    name: 'meshpeer_controller_leader',
    help: '1 while this replica holds the leader lease (or runs without leader election), else 0.',
    registers: [this.registry],
  });

  reconciled(kind: string, result: ReconcileOutcome, seconds: number): void {
    this.reconciles.inc({ kind, result });
    this.duration.observe({ kind }, seconds);
  }

  queueDepth(kind: string, depth: number): void {
    this.depth.set({ kind }, depth);
  }

  leading(isLeader: boolean): void {
    this.leader.set(isLeader ? 1 : 0);
  }

  /** Serves /metrics (and /healthz) on host:port; resolves with the bound address. */
  async serve(address: string): Promise<{ address: string; close(): Promise<void> }> {
    // An empty host (":9090") listens on every interface, where Prometheus in the cluster can reach it.
    const { host, port } = parseHostPort(address, '--metrics-addr', '0.0.0.0');
    const server: Server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/metrics') {
        this.registry
          .metrics()
          .then((text) => {
            res.writeHead(200, { 'content-type': this.registry.contentType });
            res.end(text);
          })
          .catch((err: unknown) => {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(String(err));
          });
        return;
      }
      if (path === '/healthz' || path === '/readyz') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok\n');
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const bound = server.address();
    const actual = bound && typeof bound === 'object' ? `${bound.address}:${bound.port}` : address;
    return {
      address: actual,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  }
}
