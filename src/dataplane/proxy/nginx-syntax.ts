// What may reach the nginx sidecar's configuration text, checked: paths, addresses, TLS directives.
// nginx reads its configuration unquoted here, so anything outside these grammars is refused before it
// is written.
import { isIP } from 'node:net';
import { invalid } from '../../shared/errors.js';
import { type Endpoint, formatEndpoint } from '../endpoint.js';
import type { TlsDirection } from './mesh-tls.js';

const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;
const HOST = /^[A-Za-z0-9.:-]+$/;
// OpenSSL cipher names joined by ':' (mesh-tls.ts translates Consul's).
const CIPHERS = /^[A-Za-z0-9:_-]+$/;
const VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;

export function safePath(what: string, path: string): string {
  if (!SAFE_PATH.test(path) || path.split('/').includes('..')) {
    throw invalid(`${what} "${path}" must be an absolute path of letters, digits, '.', '_', '-' and '/'`);
  }
  return path;
}

/** host:port as nginx reads it (IPv6 in brackets); throws for anything else. */
export function nginxAddress(what: string, endpoint: Endpoint): string {
  if (!HOST.test(endpoint.host) || (endpoint.host.includes(':') && isIP(endpoint.host) !== 6)) {
    throw invalid(`${what} host "${endpoint.host}" is not an IP address or host name`);
  }
  if (!Number.isInteger(endpoint.port) || endpoint.port < 0 || endpoint.port > 65535) {
    throw invalid(`${what} port ${endpoint.port} is not a port number`);
  }
  return formatEndpoint(endpoint);
}

/**
 * One direction's TLS settings as nginx directives; `prefix` is `ssl` or `proxy_ssl`. The range goes in
 * as OpenSSL configuration commands (MinProtocol, MaxProtocol) over nginx 1.22's own protocol list, which
 * leaves TLS 1.3 out: nginx 1.22 does not resume TLS 1.3 sessions to its upstreams (measured between
 * these sidecars: a full handshake on every connection, about twice the CPU per connection on both
 * sides), so between nginx sidecars TLS 1.2 with resumption is used unless TLS 1.3 is the minimum, and
 * then `ssl_protocols` names it. When TLS 1.2 ciphers are configured, `ssl_ciphers` too.
 */
export function nginxTlsDirectives(prefix: 'ssl' | 'proxy_ssl', tls: TlsDirection): string[] {
  const from = VERSIONS.indexOf(tls.minVersion);
  const to = VERSIONS.indexOf(tls.maxVersion);
  if (from < 0 || to < 0 || from > to)
    throw invalid(`TLS ${tls.minVersion} to ${tls.maxVersion} is an empty range`);
  const lines = [
    ...(tls.minVersion === 'TLSv1.3' ? [`${prefix}_protocols TLSv1.3;`] : []),
    `${prefix}_conf_command MinProtocol ${tls.minVersion};`,
    `${prefix}_conf_command MaxProtocol ${tls.maxVersion};`,
  ];
  if (tls.ciphers !== undefined) {
    if (!CIPHERS.test(tls.ciphers))
      throw invalid(`cipher list "${tls.ciphers}" is not a list of OpenSSL names`);
    lines.push(`${prefix}_ciphers ${tls.ciphers};`);
  }
  return lines;
}
