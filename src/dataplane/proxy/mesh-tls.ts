// The TLS versions and cipher suites sidecars use between each other, from the mesh config entry's
// TLS.Incoming (what a sidecar accepts from callers) and TLS.Outgoing (what it offers upstreams), as
// Consul's sidecars apply them. Unset or TLS_AUTO leaves the choice to the proxy: meshpeer accepts and
// offers TLS 1.2 to 1.3. (Envoy, Consul's proxy, offers only TLS 1.2 as a client by default; meshpeer
// offers 1.3 too because TLS 1.3 carries a caller's half-close, where a TLS 1.2 close_notify ends both
// directions and HAProxy and nginx then cut the rest of the answer.)
// Cipher suites (Consul's names, TLS 1.2 only) are translated to OpenSSL's; a name meshpeer cannot
// translate is reported and left out, so it never turns into "every cipher OpenSSL has".
import type { MeshEntry, MeshTLSDirection, TLSVersion } from '../../config-entries/index.js';

/** A TLS version as OpenSSL, Node and HAProxy spell it. */
export type TlsVersionName = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

export interface TlsDirection {
  minVersion: TlsVersionName;
  maxVersion: TlsVersionName;
  /** OpenSSL cipher list for TLS 1.2 and older; undefined keeps the library's default. */
  ciphers?: string;
}

export interface MeshTls {
  incoming: TlsDirection;
  outgoing: TlsDirection;
  /** Cipher suite names that were configured but are not known here (left out). */
  unknownCipherSuites: string[];
}

const VERSION_NAMES: Partial<Record<TLSVersion, TlsVersionName>> = {
  TLSv1_0: 'TLSv1',
  TLSv1_1: 'TLSv1.1',
  TLSv1_2: 'TLSv1.2',
  TLSv1_3: 'TLSv1.3',
};
const ORDER: TlsVersionName[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

// Consul's cipher suite names (Go's) and OpenSSL's names for the same suites.
const CIPHER_SUITES: Record<string, string> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
};

/** What sidecars use when the mesh entry says nothing. */
export const DEFAULT_MESH_TLS: MeshTls = {
  incoming: { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' },
  outgoing: { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' },
  unknownCipherSuites: [],
};

export function meshTlsFrom(entry: MeshEntry | undefined): MeshTls {
  const unknown: string[] = [];
  const incoming = direction(entry?.TLS?.Incoming, DEFAULT_MESH_TLS.incoming, unknown);
  const outgoing = direction(entry?.TLS?.Outgoing, DEFAULT_MESH_TLS.outgoing, unknown);
  return { incoming, outgoing, unknownCipherSuites: [...new Set(unknown)] };
}

function direction(
  configured: MeshTLSDirection | undefined,
  defaults: TlsDirection,
  unknown: string[],
): TlsDirection {
  let minVersion = VERSION_NAMES[configured?.TLSMinVersion ?? ''] ?? defaults.minVersion;
  let maxVersion = VERSION_NAMES[configured?.TLSMaxVersion ?? ''] ?? defaults.maxVersion;
  // Only one end set: the other end's default gives way rather than leaving no version at all.
  if (ORDER.indexOf(minVersion) > ORDER.indexOf(maxVersion)) {
    if (VERSION_NAMES[configured?.TLSMaxVersion ?? ''] === undefined) maxVersion = minVersion;
    else minVersion = maxVersion;
  }
  const names = (configured?.CipherSuites ?? []).flatMap((suite) => {
    const name = CIPHER_SUITES[suite.toUpperCase()];
    if (name === undefined) unknown.push(suite);
    return name === undefined ? [] : [name];
  });
  return { minVersion, maxVersion, ...(names.length > 0 ? { ciphers: [...new Set(names)].join(':') } : {}) };
}
