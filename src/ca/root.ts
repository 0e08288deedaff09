import { invalid } from '../shared/errors.js';
import {
  certFingerprint,
  generateKeyPair,
  importSigningKey,
  randomSerialHex,
  SIGNING_ALG,
  webCrypto,
} from './keys.js';
import { trustDomainSpiffeId } from './spiffe.js';
import { assertTrustDomain } from './trust-domain.js';
import * as x509 from './x509.js';

/** A cluster's CA root, everything as strings so the server can store it as-is. */
export interface RootCa {
  /** Colon hex SHA-256 of the certificate's DER; stable, and what trust bundles refer to. */
  id: string;
  certPem: string;
  keyPem: string;
  trustDomain: string;
  /** ISO-8601 */
  notBefore: string;
  /** ISO-8601 */
  notAfter: string;
}

export interface CreateRootOptions {
  clusterName: string;
  trustDomain: string;
  /** Default 10 years, like Consul's built-in CA; rotation is explicit, not forced by expiry. */
  ttlDays?: number;
  /** For tests: the moment the root is created. */
  now?: Date;
}

const DAY_MS = 86_400_000;
// Back-date by a minute so a peer whose clock is slightly behind does not reject a fresh certificate.
export const CLOCK_SKEW_MS = 60_000;

export async function createRootCa(opts: CreateRootOptions): Promise<RootCa> {
  const trustDomain = assertTrustDomain(opts.trustDomain);
  const ttlDays = opts.ttlDays ?? 3650;
  if (!(ttlDays > 0)) throw invalid(`root CA ttlDays must be positive, got ${ttlDays}`);
  if (opts.clusterName.trim() === '') throw invalid('root CA needs a non-empty clusterName');

  const now = opts.now ?? new Date();
  const notBefore = new Date(now.getTime() - CLOCK_SKEW_MS);
  const notAfter = new Date(now.getTime() + ttlDays * DAY_MS);
  const keys = generateKeyPair();
  // The JSON form of the name avoids having to escape a user-supplied cluster name in a DN string.
  const name: x509.JsonName = [
    { CN: [`meshpeer CA ${opts.clusterName}`] },
    { O: ['meshpeer'] },
    { OU: [trustDomain] },
  ];
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialHex(),
      subject: name,
      issuer: name,
      notBefore,
      notAfter,
      publicKey: keys.spkiDer,
      signingKey: await importSigningKey(keys.privateKeyPem),
      signingAlgorithm: SIGNING_ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
          true,
        ),
        new x509.SubjectKeyIdentifierExtension(keys.keyId),
        new x509.AuthorityKeyIdentifierExtension(keys.keyId),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: trustDomainSpiffeId(trustDomain) }]),
      ],
    },
    webCrypto,
  );
  return {
    id: certFingerprint(new Uint8Array(cert.rawData)),
    certPem: cert.toString('pem'),
    keyPem: keys.privateKeyPem,
    trustDomain,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
  };
}
