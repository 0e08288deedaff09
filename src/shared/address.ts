// host:port strings as flags take them ("127.0.0.1:8500", "[::1]:8502", ":8500").
import { invalid } from './errors.js';

export interface HostPort {
  host: string;
  port: number;
}

/** `defaultHost` stands for an empty host (":8500"): loopback unless the caller listens on all interfaces. */
export function parseHostPort(text: string, flagName: string, defaultHost = '127.0.0.1'): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (m === null || port > 65535) {
    throw invalid(`${flagName} must be host:port (like 127.0.0.1:8500), got ${JSON.stringify(text)}`);
  }
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? defaultHost : host, port };
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
