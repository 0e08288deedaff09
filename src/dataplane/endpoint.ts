// A host:port a data-plane component dials or listens on.
import { isIP } from 'node:net';
import { invalid } from '../shared/errors.js';

export interface Endpoint {
  host: string;
  port: number;
}

/** Parses `host:port` or `[v6]:port`; port 0 is allowed only for listeners (`allowZero`). */
export function parseEndpoint(text: string, options: { allowZero?: boolean } = {}): Endpoint {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  const min = options.allowZero ? 0 : 1;
  if (!host || !Number.isInteger(port) || port < min || port > 65535) {
    throw invalid(`"${text}" is not an address: expected host:port (e.g. 127.0.0.1:8443)`);
  }
  if (match?.[1] !== undefined && isIP(host) !== 6)
    throw invalid(`"${host}" in "${text}" is not an IPv6 address`);
  return { host, port };
}

export function formatEndpoint(endpoint: Endpoint): string {
  return isIP(endpoint.host) === 6
    ? `[${endpoint.host}]:${endpoint.port}`
    : `${endpoint.host}:${endpoint.port}`;
}

/** The endpoints in an order that spreads load over instances and replicas; each is tried in turn. */
export function shuffled<T>(items: readonly T[], random = Math.random): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}
