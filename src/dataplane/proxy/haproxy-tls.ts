// The mesh entry's TLS settings of one direction as HAProxy bind/server options, for both halves of
// the HAProxy sidecar (inbound: crt-list options; upstreams: server options).
import { invalid } from '../../shared/errors.js';
import type { TlsDirection, TlsVersionName } from './mesh-tls.js';

// HAProxy spells TLS 1.0 with its minor version.
const HAPROXY_VERSION: Record<TlsVersionName, string> = {
  TLSv1: 'TLSv1.0',
  'TLSv1.1': 'TLSv1.1',
  'TLSv1.2': 'TLSv1.2',
  'TLSv1.3': 'TLSv1.3',
};
// OpenSSL cipher names joined by ':' (mesh-tls.ts translates Consul's): checked, as they go into the
// configuration text.
const CIPHERS = /^[A-Za-z0-9:_-]+$/;

/** `ssl-min-ver … ssl-max-ver …`, and `ciphers …` when TLS 1.2 ciphers are configured. */
export function haproxyTlsOptions(tls: TlsDirection): string {
  const versions = `ssl-min-ver ${HAPROXY_VERSION[tls.minVersion]} ssl-max-ver ${HAPROXY_VERSION[tls.maxVersion]}`;
  if (tls.ciphers === undefined) return versions;
  if (!CIPHERS.test(tls.ciphers))
    throw invalid(`cipher list "${tls.ciphers}" is not a list of OpenSSL names`);
  return `${versions} ciphers ${tls.ciphers}`;
}
