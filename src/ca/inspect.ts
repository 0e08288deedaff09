import type { X509Certificate as NodeX509Certificate } from 'node:crypto';
import { invalid } from '../shared/errors.js';
import { colonHex } from './keys.js';
import * as x509 from './x509.js';

/** What the rest of meshpeer needs to know about a certificate, without touching ASN.1. */
export interface CertInfo {
  serialNumber: string;
  subject: string;
  /** ISO-8601 */
  notBefore: string;
  /** ISO-8601 */
  notAfter: string;
  isCa: boolean;
  uris: string[];
  dnsNames: string[];
  ipAddresses: string[];
}

/** PEM, DER, a node:crypto certificate (what node:tls hands out) or an already parsed one. */
export type CertInput = string | Uint8Array | NodeX509Certificate | x509.X509Certificate;

export function parseCert(input: CertInput): x509.X509Certificate {
  if (input instanceof x509.X509Certificate) return input;
  try {
    if (typeof input === 'string') return new x509.X509Certificate(input);
    // Copied into a plain ArrayBuffer-backed array, the only binary form the library's types accept.
    if (input instanceof Uint8Array) return new x509.X509Certificate(new Uint8Array(input));
    return new x509.X509Certificate(new Uint8Array(input.raw));
  } catch (err) {
    throw invalid(`not a readable X.509 certificate: ${(err as Error).message}`);
  }
}

export function certInfo(input: CertInput): CertInfo {
  const cert = parseCert(input);
  const names = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
  const of = (type: x509.GeneralNameType): string[] =>
    names.filter((n) => n.type === type).map((n) => n.value);
  return {
    serialNumber: colonHex(cert.serialNumber),
    subject: cert.subject,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    isCa: cert.getExtension(x509.BasicConstraintsExtension)?.ca ?? false,
    uris: of('url'),
    dnsNames: of('dns'),
    ipAddresses: of('ip'),
  };
}

/**
 * The SPIFFE ID a certificate carries. An X.509-SVID has exactly one URI SAN; a certificate with
 * none or several is not an identity document, so it is refused rather than guessed at.
 */
export function spiffeIdOf(input: CertInput): string {
  const uris = certInfo(input).uris;
  const [uri] = uris;
  if (uris.length !== 1 || uri === undefined || !uri.startsWith('spiffe://')) {
    throw invalid(
      `certificate must carry exactly one spiffe:// URI SAN, found: ${uris.join(', ') || 'none'}`,
    );
  }
  return uri;
}
