import { createPrivateKey, createPublicKey } from 'node:crypto';
import { invalid } from '../shared/errors.js';
import { type CryptoKey, importSigningKey } from './keys.js';
import type { RootCa } from './root.js';
import * as x509 from './x509.js';

/** A root made ready to sign: parsed certificate and imported key. */
export interface Signer {
  cert: x509.X509Certificate;
  key: CryptoKey;
  /** Hex subject key identifier of the root, copied into each leaf's authority key identifier. */
  keyId: string;
}

// Parsing the root and importing its key costs about as much as signing a leaf, and every sidecar
// asks for a leaf, so prepared signers are kept. Roots change rarely: a few entries are plenty.
const MAX_CACHED = 8;
const cache = new Map<string, { certPem: string; keyPem: string; signer: Promise<Signer> }>();

export function signerFor(root: RootCa): Promise<Signer> {
  const cached = cache.get(root.id);
  // A record with the same id but another certificate or key must not reuse a stale signer.
  if (cached && cached.certPem === root.certPem && cached.keyPem === root.keyPem) return cached.signer;

  const signer = prepare(root);
  const entry = { certPem: root.certPem, keyPem: root.keyPem, signer };
  cache.delete(root.id);
  cache.set(root.id, entry);
  // A failed preparation is not kept, so a corrected record is retried.
  signer.catch(() => {
    if (cache.get(root.id) === entry) cache.delete(root.id);
  });
  if (cache.size > MAX_CACHED) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  return signer;
}

async function prepare(root: RootCa): Promise<Signer> {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(root.certPem);
  } catch (err) {
    throw invalid(`CA root ${root.id} has an unreadable certificate: ${(err as Error).message}`);
  }
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (!ski) throw invalid(`CA root ${root.id} has no subject key identifier`);
  const key = await importSigningKey(root.keyPem);
  // A key that does not belong to the certificate would sign leaves nobody can verify; fail here instead.
  const publicDer = createPublicKey(createPrivateKey(root.keyPem)).export({ type: 'spki', format: 'der' });
  if (!publicDer.equals(Buffer.from(cert.publicKey.rawData))) {
    throw invalid(`CA root ${root.id}: the private key does not match the certificate`);
  }
  return { cert, key, keyId: ski.keyId };
}
