// Process plumbing shared by `meshpeer gateway` and `meshpeer proxy`: a /metrics endpoint.
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
