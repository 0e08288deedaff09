// For the tests of an engine sidecar's inbound half (HAProxy, nginx): three clusters' CAs (ours, peer p1
// the service "api" is exported to, peer p2 it is not) and their callers, certificates the CA would never
// issue, intentions, a node:tls caller that dials the sidecar, and the Node sidecar's verdict to compare with.
import * as tls from 'node:tls';
import { expect } from 'vitest';
import { issueLeaf, type RootCa } from '../../src/ca/index.js';
import { generateKeyPair, importSigningKey, SIGNING_ALG, webCrypto } from '../../src/ca/keys.js';
import { signerFor } from '../../src/ca/signer.js';
import * as x509 from '../../src/ca/x509.js';
import { type ServiceIntentionsEntry, serviceIntentionsSchema } from '../../src/config-entries/index.js';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import { authenticateCaller } from '../../src/dataplane/proxy/identities.js';
import type { ProxyConfig, ProxyLeaf } from '../../src/dataplane/proxy/index.js';
import { authorize } from '../../src/dataplane/proxy/intentions.js';
import { localServiceSni, peeredServiceSni } from '../../src/dataplane/sni.js';
import { baseProxyConfig, type TestCluster, testCluster } from '../../src/dataplane/testing/two-clusters.js';

export interface Caller {
  leaf: ProxyLeaf;
  /** The SNI name this caller sends. */
  sni: string;
}

export interface Issuer {
  certPem: string;
  keyPem: string;
}

/** The clusters, the api sidecar's configuration (allow by default) and its usual callers. */
export interface InboundScene {
  ours: TestCluster;
  p1: TestCluster;
  p2: TestCluster;
  /** api in dc1, exported to p1 (its leaf also carries p1's SNI name), p2's bundle known. */
  base: ProxyConfig;
  localSni: string;
  p1Sni: string;
  p2Sni: string;
  localWeb: Caller;
  localDb: Caller;
  p1Web: Caller;
  p2Web: Caller;
}

export async function inboundScene(): Promise<InboundScene> {
  const ours = await testCluster('self', 'cluster-01', 'dc1');
  const p1 = await testCluster('p1', 'cluster-p1', 'dc2');
  const p2 = await testCluster('p2', 'cluster-p2', 'dc3');
  const localSni = localServiceSni({ service: 'api', datacenter: 'dc1', trustDomain: ours.root.trustDomain });
  const p1Sni = peeredServiceSni({ service: 'api', peer: 'p1', trustDomain: ours.root.trustDomain });
  const p2Sni = peeredServiceSni({ service: 'api', peer: 'p2', trustDomain: ours.root.trustDomain });
  const issued = await issueLeaf(ours.root, { service: 'api', datacenter: 'dc1', sniNames: [p1Sni] });
  const base: ProxyConfig = {
    ...baseProxyConfig(ours, 'api', { certPem: issued.certPem, keyPem: issued.keyPem }),
    peerBundles: [p1.bundle, p2.bundle],
    inboundPeerBundles: [p1.bundle],
    defaultIntentionAction: 'allow',
  };
  return {
    ours,
    p1,
    p2,
    base,
    localSni,
    p1Sni,
    p2Sni,
    localWeb: { leaf: await leafOf(ours, 'web'), sni: localSni },
    localDb: { leaf: await leafOf(ours, 'db'), sni: localSni },
    p1Web: { leaf: await leafOf(p1, 'web'), sni: p1Sni },
    p2Web: { leaf: await leafOf(p2, 'web'), sni: p2Sni },
  };
}

/** A leaf of `service` from `cluster`'s CA, naming `trustDomain` (the CA's own unless told). */
export async function leafOf(
  cluster: TestCluster | { root: RootCa; datacenter: string },
  service: string,
  trustDomain = cluster.root.trustDomain,
  where: { namespace?: string; partition?: string } = {},
): Promise<ProxyLeaf> {
  const issued = await issueLeaf(
    { ...cluster.root, trustDomain },
    { service, datacenter: cluster.datacenter, ...where },
  );
  return { certPem: issued.certPem, keyPem: issued.keyPem };
}

/**
 * A certificate the CA's own issuing code would never make, signed by `root`'s key or by `issuer` (a CA
 * it issued): a CA flag, several URI SANs, any subject. With an issuer, the chain to send comes with it.
 */
export async function craft(
  root: RootCa,
  options: {
    uris: string[];
    ca?: boolean;
    issuer?: Issuer;
    subject?: x509.JsonName;
    /** Hex authority key ID to claim instead of the issuer's ('' for none). */
    authorityKeyId?: string;
    /** Hex subject key ID to claim instead of the key's own. */
    keyId?: string;
  },
): Promise<ProxyLeaf> {
  const signer = await signerFor(root);
  const issuerCert = options.issuer ? new x509.X509Certificate(options.issuer.certPem) : signer.cert;
  const issuerKey = options.issuer ? await importSigningKey(options.issuer.keyPem) : signer.key;
  const issuerKeyId = issuerCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? '';
  const keys = generateKeyPair();
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: `01${Date.now().toString(16)}`,
      subject: options.subject ?? [{ CN: [options.ca ? 'crafted CA' : 'crafted'] }],
      issuer: issuerCert.subjectName,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
      publicKey: keys.spkiDer,
      signingKey: issuerKey,
      signingAlgorithm: SIGNING_ALG,
      extensions: [
        new x509.BasicConstraintsExtension(options.ca ?? false, undefined, true),
        new x509.KeyUsagesExtension(
          options.ca
            ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature
            : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
          true,
        ),
        ...(options.ca
          ? []
          : [
              new x509.ExtendedKeyUsageExtension([
                x509.ExtendedKeyUsage.clientAuth,
                x509.ExtendedKeyUsage.serverAuth,
              ]),
            ]),
        new x509.SubjectKeyIdentifierExtension(options.keyId ?? keys.keyId),
        ...(options.authorityKeyId === ''
          ? []
          : [new x509.AuthorityKeyIdentifierExtension(options.authorityKeyId ?? issuerKeyId)]),
        new x509.SubjectAlternativeNameExtension(
          options.uris.map((value) => ({ type: 'url' as const, value })),
          false,
        ),
      ],
    },
    webCrypto,
  );
  const certPem = cert.toString('pem');
  return {
    certPem: options.issuer ? `${certPem.trim()}\n${options.issuer.certPem.trim()}\n` : certPem,
    keyPem: keys.privateKeyPem,
  };
}

/** A self-signed CA named `subject` (someone else's key under that name). */
export async function impostorCa(subject: x509.Name): Promise<Issuer> {
  const keys = generateKeyPair();
  const signingKey = await importSigningKey(keys.privateKeyPem);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: `02${Date.now().toString(16)}`,
      subject,
      issuer: subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
      publicKey: keys.spkiDer,
      signingKey,
      signingAlgorithm: SIGNING_ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature,
          true,
        ),
        new x509.SubjectKeyIdentifierExtension(keys.keyId),
      ],
    },
    webCrypto,
  );
  return { certPem: cert.toString('pem'), keyPem: keys.privateKeyPem };
}

/** The service-intentions entry of `destination` with these sources, parsed as the API would. */
export function intentionsOf(destination: string, ...sources: unknown[]): ServiceIntentionsEntry[] {
  return [serviceIntentionsSchema.parse({ Kind: 'service-intentions', Name: destination, Sources: sources })];
}

/** The intentions of api with these sources. */
export function intentions(...sources: unknown[]): ServiceIntentionsEntry[] {
  return intentionsOf('api', ...sources);
}

/** What the Node sidecar decides for the same caller and configuration. */
export function nodeVerdict(config: ProxyConfig, leaf: ProxyLeaf): boolean {
  try {
    const caller = authenticateCaller(leaf.certPem, config);
    return (
      authorize(caller, config.service, config.intentions, config.defaultIntentionAction).action === 'allow'
    );
  } catch {
    return false;
  }
}

export interface DialOptions {
  /** A TLS session to offer for resumption. */
  session?: Buffer;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  ciphers?: string;
}

/** What one dial saw. */
export interface Dialled {
  /** Whether the line sent came back. */
  echoed: boolean;
  /** Whether the TLS handshake completed. */
  handshake: boolean;
  /** Whether the connection resumed a session (as the socket says once the handshake is over or failed). */
  reused: boolean;
  /** The last session the server issued on this connection. */
  session?: Buffer;
  /** How many sessions (TLS 1.3 tickets) the server issued on this connection. */
  sessions: number;
  /** The caller's address (127.0.0.1:<port>), as the sidecar logs it; '' if it never connected. */
  from: string;
}

/**
 * Dials `listen` as `caller`, checking the server's chain against `roots` (not its names: a caller of a
 * peer the service is not exported to asks for a name the leaf does not carry), sends a line once the
 * handshake completes and waits for the connection to close.
 */
export async function dialInbound(
  listen: Endpoint,
  roots: string[],
  caller: Partial<Caller> & { sni: string },
  options: DialOptions = {},
): Promise<Dialled> {
  const socket = tls.connect({
    ...(options.session ? { session: options.session } : {}),
    ...(options.minVersion ? { minVersion: options.minVersion } : {}),
    ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
    ...(options.ciphers ? { ciphers: options.ciphers } : {}),
    host: listen.host,
    port: listen.port,
    servername: caller.sni,
    ca: roots,
    checkServerIdentity: () => undefined,
    ...(caller.leaf ? { cert: caller.leaf.certPem, key: caller.leaf.keyPem } : {}),
  });
  let received = '';
  let session: Buffer | undefined;
  let sessions = 0;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    received += chunk;
  });
  socket.on('error', () => {});
  socket.on('session', (s: Buffer) => {
    session = s;
    sessions++;
  });
  let from = '';
  // Read on TCP connect: a handshake that fails may close the socket before it can be asked.
  socket.once('connect', () => {
    from = `127.0.0.1:${socket.localPort}`;
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const handshake = await new Promise<boolean>((resolve) => {
    socket.once('secureConnect', () => resolve(true));
    socket.once('close', () => resolve(false));
  });
  const reused = socket.isSessionReused();
  if (handshake) socket.end('ping\n');
  await closed;
  return {
    echoed: received === 'ping\n',
    handshake,
    reused,
    from,
    sessions,
    ...(session ? { session } : {}),
  };
}

/**
 * Callers that differ in every way a verdict can turn on: local and p1's web and db, p2's web, p1's leaf
 * claiming our trust domain, a stranger's (`other`) leaf, and local and p1 callers in another namespace
 * or partition.
 */
export async function variedCallers(scene: InboundScene, other: TestCluster): Promise<Caller[]> {
  const { ours, p1, localSni, p1Sni } = scene;
  return [
    scene.localWeb,
    scene.localDb,
    scene.p1Web,
    { leaf: await leafOf(p1, 'db'), sni: p1Sni },
    scene.p2Web,
    { leaf: await leafOf(p1, 'web', ours.root.trustDomain), sni: p1Sni },
    { leaf: await leafOf(other, 'web'), sni: localSni },
    { leaf: await leafOf(ours, 'web', undefined, { namespace: 'team' }), sni: localSni },
    { leaf: await leafOf(ours, 'web', undefined, { partition: 'part1' }), sni: localSni },
    { leaf: await leafOf(p1, 'web', undefined, { partition: 'part1', namespace: 'team' }), sni: p1Sni },
  ];
}

/** Configurations whose intentions and defaults tell those callers apart by namespace, partition and peer. */
export function variedConfigs(base: ProxyConfig): ProxyConfig[] {
  return [
    {
      ...base,
      defaultIntentionAction: 'allow',
      intentions: intentions({ Name: '*', Namespace: 'team', Action: 'deny' }),
    },
    {
      ...base,
      defaultIntentionAction: 'deny',
      intentions: intentions(
        { Name: 'web', Partition: 'part1', Action: 'allow' },
        { Name: '*', Namespace: 'team', Peer: 'p1', Action: 'allow' },
      ),
    },
    { ...base, defaultIntentionAction: 'deny', intentions: intentions({ Name: 'web', Action: 'allow' }) },
    {
      ...base,
      defaultIntentionAction: 'deny',
      intentions: intentions(
        { Name: '*', Peer: 'p1', Action: 'allow' },
        { Name: 'db', Peer: 'p1', Action: 'deny' },
      ),
    },
  ];
}

/**
 * Applies each configuration in turn and dials every caller under it, expecting the engine to let in
 * exactly whom the Node sidecar would; and the verdicts to include both an allow and a refusal.
 */
export async function expectNodeVerdicts(
  configs: ProxyConfig[],
  callers: Caller[],
  apply: (config: ProxyConfig) => Promise<void>,
  dial: (caller: Caller) => Promise<{ allowed: boolean }>,
): Promise<void> {
  const verdicts = new Set<boolean>();
  for (const [c, config] of configs.entries()) {
    await apply(config);
    for (const [i, caller] of callers.entries()) {
      const outcome = await dial(caller);
      const expected = nodeVerdict(config, caller.leaf);
      verdicts.add(expected);
      expect({ config: c, caller: i, allowed: outcome.allowed }).toEqual({
        config: c,
        caller: i,
        allowed: expected,
      });
    }
  }
  expect(verdicts).toEqual(new Set([true, false]));
}
