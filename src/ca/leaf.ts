import { isIP } from 'node:net';
import { invalid } from '../shared/errors.js';
import { colonHex, generateKeyPair, randomSerialHex, SIGNING_ALG, webCrypto } from './keys.js';
import { CLOCK_SKEW_MS, type RootCa } from './root.js';
import { signerFor } from './signer.js';
import { isSniLabel, localServiceSni } from './sni.js';
import { serverSpiffeId, serviceSpiffeId } from './spiffe.js';
import { peeringServerName } from './trust-domain.js';
import { sniNameProblem } from './workload-sni-names.js';
import * as x509 from './x509.js';

/** An issued certificate and its key, as strings so it can be stored or sent as-is. */
export interface IssuedCert {
  certPem: string;
  keyPem: string;
  /** Lowercase colon hex, as Consul prints it. */
  serialNumber: string;
  spiffeId: string;
  /** ISO-8601 */
  validAfter: string;
  /** ISO-8601 */
  validBefore: string;
  /** ID of the root that signed it, to spot leaves that must be re-issued after a root rotation. */
  rootId: string;
}

export interface LeafOptions {
  service: string;
  namespace?: string;
  partition?: string;
  datacenter: string;
  /** Default 72 h, Consul's default leaf TTL. */
  ttlHours?: number;
  /**
   * The SNI names callers reach the service by (workloadSniNames), carried as DNS SANs; the local
   * name is always added. Each must be one of this service's own names in the root's trust domain.
   */
  sniNames?: string[];
  /** Other DNS SANs (e.g. localhost for a test server). */
  dnsNames?: string[];
  ipAddresses?: string[];
  /** For tests: the moment of issuance. */
  now?: Date;
}

export interface ServerCertOptions {
  datacenter: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  ttlHours?: number;
  now?: Date;
}

const HOUR_MS = 3_600_000;
const DEFAULT_TTL_HOURS = 72;

/** A workload (sidecar or gateway) certificate whose identity is its SPIFFE ID. */
export async function issueLeaf(root: RootCa, opts: LeafOptions): Promise<IssuedCert> {
  const spiffeId = serviceSpiffeId({
    trustDomain: root.trustDomain,
    datacenter: opts.datacenter,
    service: opts.service,
    namespace: opts.namespace,
    partition: opts.partition,
  });
  return sign(root, {
    commonName: opts.service,
    spiffeId,
    dnsNames: unique([...leafSniNames(root, opts), ...(opts.dnsNames ?? [])]),
    ipAddresses: opts.ipAddresses ?? [],
    ttlHours: opts.ttlHours ?? DEFAULT_TTL_HOURS,
    now: opts.now ?? new Date(),
  });
}

/**
 * The local SNI name and the given ones, lowercase, checked, sorted. A service whose name cannot
 * be a DNS label has no SNI names (such a leaf carries its SPIFFE ID only).
 */
function leafSniNames(root: RootCa, opts: LeafOptions): string[] {
  if (!isSniLabel(opts.service)) {
    if (opts.sniNames?.length)
      throw invalid(`service "${opts.service}" has no SNI names: its name is not one DNS label`);
    return [];
  }
  const owner = { ...opts, trustDomain: root.trustDomain };
  const given = (opts.sniNames ?? []).map((name) => name.toLowerCase());
  for (const name of given) {
    const problem = sniNameProblem(name, owner);
    if (problem) throw invalid(`leaf for ${opts.service}: ${problem}`);
  }
  return unique([localServiceSni(owner), ...given].sort());
}

/**
 * The certificate of the server's gRPC/HTTPS listeners. It always names the peering server name
 * (what peers verify, from the token) and loopback, so local clients and the demo work without setup.
 */
export async function issueServerCert(root: RootCa, opts: ServerCertOptions): Promise<IssuedCert> {
  const serverName = peeringServerName(opts.datacenter, root.trustDomain);
  return sign(root, {
    commonName: serverName,
    spiffeId: serverSpiffeId({ trustDomain: root.trustDomain, datacenter: opts.datacenter }),
    dnsNames: unique([serverName, 'localhost', ...(opts.dnsNames ?? [])]),
    ipAddresses: unique(['127.0.0.1', '::1', ...(opts.ipAddresses ?? [])]),
    ttlHours: opts.ttlHours ?? DEFAULT_TTL_HOURS,
    now: opts.now ?? new Date(),
  });
}

/**
 * When to renew: somewhere between 50 % and 60 % of the lifetime. The jitter keeps a fleet whose
 * leaves were issued together (a server restart, a root rotation) from renewing all at once, and
 * renewing at half-life leaves the other half to ride out a CA outage.
 */
export function renewAt(leaf: Pick<IssuedCert, 'validAfter' | 'validBefore'>, random = Math.random): Date {
  const start = Date.parse(leaf.validAfter);
  const end = Date.parse(leaf.validBefore);
  return new Date(start + (end - start) * (0.5 + 0.1 * random()));
}

interface SignRequest {
  commonName: string;
  spiffeId: string;
  dnsNames: string[];
  ipAddresses: string[];
  ttlHours: number;
  now: Date;
}

async function sign(root: RootCa, req: SignRequest): Promise<IssuedCert> {
  if (!(req.ttlHours > 0)) throw invalid(`leaf ttlHours must be positive, got ${req.ttlHours}`);
  for (const ip of req.ipAddresses) {
    if (isIP(ip) === 0) throw invalid(`"${ip}" is not an IP address`);
  }
  for (const dns of req.dnsNames) {
    if (!/^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(dns)) {
      throw invalid(`"${dns}" is not a DNS name`);
    }
  }
  const signer = await signerFor(root);
  const now = req.now.getTime();
  const notBefore = new Date(now - CLOCK_SKEW_MS);
  // A leaf cannot be trusted past its root, so it does not claim to be.
  const notAfter = new Date(Math.min(now + req.ttlHours * HOUR_MS, signer.cert.notAfter.getTime()));
  if (notAfter.getTime() <= now) throw invalid(`CA root ${root.id} has expired; rotate it before issuing`);

  const keys = generateKeyPair();
  const serialHex = randomSerialHex();
  const sans: x509.JsonGeneralNames = [
    { type: 'url', value: req.spiffeId },
    ...req.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...req.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialHex,
      // CN is informational (identity is the URI SAN); it is capped at the X.520 limit of 64.
      subject: [{ CN: [req.commonName.slice(0, 64)] }],
      issuer: signer.cert.subjectName,
      notBefore,
      notAfter,
      publicKey: keys.spkiDer,
      signingKey: signer.key,
      signingAlgorithm: SIGNING_ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectKeyIdentifierExtension(keys.keyId),
        new x509.AuthorityKeyIdentifierExtension(signer.keyId),
        // Not critical: RFC 5280 asks for that only when the subject is empty, and ours has a CN.
        new x509.SubjectAlternativeNameExtension(sans, false),
      ],
    },
    webCrypto,
  );
  return {
    certPem: cert.toString('pem'),
    keyPem: keys.privateKeyPem,
    serialNumber: colonHex(serialHex),
    spiffeId: req.spiffeId,
    // From the certificate, which keeps whole seconds only.
    validAfter: cert.notBefore.toISOString(),
    validBefore: cert.notAfter.toISOString(),
    rootId: root.id,
  };
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
