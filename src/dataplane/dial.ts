// Dialing one of several equivalent endpoints (instances, gateway replicas): each is tried in a
// shuffled order until one answers, with a time limit per attempt.
import * as net from 'node:net';

import { unavailable } from '../shared/errors.js';
import { type Endpoint, formatEndpoint, shuffled } from './endpoint.js';

export type Dialer<S extends net.Socket> = (endpoint: Endpoint) => {
  socket: S;
  ready: 'connect' | 'secureConnect';
};

export const plainDialer: Dialer<net.Socket> = (endpoint) => ({
  socket: net.connect({ host: endpoint.host, port: endpoint.port, allowHalfOpen: true, noDelay: true }),
  ready: 'connect',
});

/** Connects to the first endpoint that answers; throws `unavailable` listing every failure. */
export async function dialAny<S extends net.Socket>(
  endpoints: readonly Endpoint[],
  dial: Dialer<S>,
  timeoutMs: number,
): Promise<S> {
  const failures: string[] = [];
  for (const endpoint of shuffled(endpoints)) {
    try {
      return await dialOne(endpoint, dial, timeoutMs);
    } catch (err) {
      failures.push(`${formatEndpoint(endpoint)}: ${(err as Error).message}`);
    }
  }
  throw unavailable(`no endpoint answered (${failures.join('; ') || 'none known'})`);
}

function dialOne<S extends net.Socket>(endpoint: Endpoint, dial: Dialer<S>, timeoutMs: number): Promise<S> {
  return new Promise((resolve, reject) => {
    const { socket, ready } = dial(endpoint);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onError = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once('error', onError);
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/** The dial timeout `Proxy.Config` asks for (`connect_timeout_ms`, as Consul's Envoy option), if sensible. */
export function connectTimeoutFrom(
  proxyConfig: Readonly<Record<string, unknown>>,
  fallbackMs: number,
): number {
  const value = proxyConfig.connect_timeout_ms;
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : fallbackMs;
}
