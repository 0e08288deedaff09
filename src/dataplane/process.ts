// Process plumbing shared by `meshpeer gateway` and `meshpeer proxy`: a /metrics endpoint and
// waiting for the signal that starts a graceful shutdown.
import * as http from 'node:http';
import type { Registry } from 'prom-client';
import type { Endpoint } from './endpoint.js';
import { listenOn } from './listen.js';

export interface MetricsServer {
  address: Endpoint;
  close(): Promise<void>;
}

/** Serves `registry` in the Prometheus text format at /metrics. */
export async function serveMetrics(registry: Registry, listen: Endpoint): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || new URL(req.url ?? '/', 'http://x').pathname !== '/metrics') {
      res.writeHead(404).end('only GET /metrics here\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  const address = await listenOn(server, listen);
  return {
    address,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Resolves with the first of SIGINT/SIGTERM, which starts a graceful shutdown. A second one while it
 * runs ends the process at once, but through process.exit, so 'exit' hooks still run: the HAProxy
 * engines stop their HAProxy there rather than leaving it behind holding the ports.
 */
export function untilShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
    const again = (signal: NodeJS.Signals): void => {
      process.stderr.write(`${signal} again during shutdown: stopping now\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    const first = (signal: NodeJS.Signals): void => {
      for (const s of signals) {
        process.off(s, first);
        process.once(s, again);
      }
      resolve(signal);
    };
    for (const s of signals) process.on(s, first);
  });
}
