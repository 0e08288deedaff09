// Shared by the data-plane tests: reading counters, and raw TLS clients that bypass the sidecar.
import * as tls from 'node:tls';
import type { Registry } from 'prom-client';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import type { ProxyLeaf } from '../../src/dataplane/proxy/index.js';

/** The value of a counter or gauge for one label set (0 when never incremented). */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const match = values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want));
  return match?.value ?? 0;
}

export interface TlsAttempt {
  /** What came back before the connection closed. */
  data: string;
  /** The server's leaf serial, when the handshake got that far. */
  serverSerial?: string;
  error?: string;
}

/**
 * A TLS client that does what a sidecar would, or less: it may send no certificate, a foreign one or
 * a crafted server name. It sends `payload`, half-closes and reports what came back.
 */
export function tlsAttempt(
  endpoint: Endpoint,
  options: { servername: string; ca: string[]; leaf?: ProxyLeaf; payload?: string },
): Promise<TlsAttempt> {
  return new Promise((resolve) => {
    const result: TlsAttempt = { data: '' };
    const connectOptions: tls.ConnectionOptions & { allowHalfOpen: boolean } = {
      host: endpoint.host,
      port: endpoint.port,
      servername: options.servername,
      ca: options.ca,
      checkServerIdentity: () => undefined,
      allowHalfOpen: true,
      ...(options.leaf ? { cert: options.leaf.certPem, key: options.leaf.keyPem } : {}),
    };
    const socket = tls.connect(connectOptions);
    socket.setEncoding('utf8');
    socket.on('secureConnect', () => {
      result.serverSerial = socket.getPeerX509Certificate()?.serialNumber.toLowerCase();
      socket.end(options.payload ?? 'ping');
    });
    socket.on('data', (chunk: string) => {
      result.data += chunk;
    });
    socket.on('error', (err) => {
      result.error = err.message;
    });
    socket.on('close', () => resolve(result));
  });
}

/** Colon hex (as the CA reports serials) to plain hex (as node:crypto does). */
export function plainHex(serial: string | undefined): string {
  return (serial ?? '').replaceAll(':', '').replace(/^0+/, '');
}
