import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, webcrypto } from 'node:crypto';
import { invalid } from '../shared/errors.js';
import type { X509CertificateGenerator } from './x509.js';

// Key material for the CA: ECDSA P-256 everywhere (Consul's default, and what Envoy and every TLS
// stack handle well). Keys leave this module only as PKCS#8 PEM so they can be stored as strings.

// @peculiar/x509 only finds a WebCrypto by itself in browsers; every call passes this one explicitly.
// Its declarations name the DOM's Crypto type, which Node's is structurally but not nominally.
type LibraryCrypto = NonNullable<Parameters<typeof X509CertificateGenerator.create>[1]>;
export const webCrypto = webcrypto as unknown as LibraryCrypto;
export type CryptoKey = webcrypto.CryptoKey;
export const SIGNING_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
const CURVE = 'P-256';

/** A fresh key pair, already in the forms certificate generation and storage need. */
export interface KeyPair {
  privateKeyPem: string;
  /** SubjectPublicKeyInfo DER, what goes into the certificate. */
  spkiDer: Uint8Array<ArrayBuffer>;
  /** Hex SHA-1 of the public key, RFC 5280's method 1 for the subject key identifier. */
  keyId: string;
}

// node:crypto rather than WebCrypto: synchronous generation and export cost a fraction of the async
// WebCrypto round trips, and key generation is a large part of the price of every leaf.
export function generateKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: CURVE });
  const jwk = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([
    Buffer.from([0x04]),
    Buffer.from(jwk.x ?? '', 'base64url'),
    Buffer.from(jwk.y ?? '', 'base64url'),
  ]);
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    spkiDer: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
    keyId: createHash('sha1').update(point).digest('hex'),
  };
}

/**
 * The CA key as a WebCrypto signing key. Accepts PKCS#8 and SEC1 ("EC PRIVATE KEY", what Consul
 * stores) PEM, so a key brought from Consul can be used as-is.
 */
export async function importSigningKey(pem: string): Promise<CryptoKey> {
  try {
    const pkcs8 = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
    return await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve: CURVE }, false, [
      'sign',
    ]);
  } catch (err) {
    throw invalid(`CA private key is not an ECDSA P-256 private key in PEM: ${(err as Error).message}`);
  }
}

/** Lowercase colon-separated hex, the way Consul prints serial numbers and key IDs. */
export function colonHex(bytes: Uint8Array | string): string {
  const hex = typeof bytes === 'string' ? bytes.toLowerCase() : Buffer.from(bytes).toString('hex');
  return (hex.match(/../g) ?? []).join(':');
}

/** Fingerprint of a certificate's DER: stable for the certificate's whole life, used as the root ID. */
export function certFingerprint(der: Uint8Array): string {
  return colonHex(createHash('sha256').update(der).digest());
}

/**
 * A random positive 128-bit serial. The first byte is forced into 0x01..0x7f so the DER INTEGER is
 * positive and needs no leading zero byte, whatever the random bytes are.
 */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}
