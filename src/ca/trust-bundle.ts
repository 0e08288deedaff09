import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import { z } from 'zod';
import { invalid, permissionDenied } from '../shared/errors.js';
import { describeZodError } from '../shared/zod-message.js';
import { parseCert, spiffeIdOf } from './inspect.js';
import { ownerOfTrustDomain } from './peer-identity.js';
import { parseSpiffeId, type SpiffeIdentity } from './spiffe.js';
import { assertTrustDomain } from './trust-domain.js';

/** The roots a peer signs with, as replicated over the peering stream. Never holds keys. */
export interface TrustBundle {
  peerName: string;
  trustDomain: string;
  rootPems: string[];
}

export const trustBundleSchema = z.object({
  peerName: z.string().min(1),
  trustDomain: z.string().refine(isTrustDomain, 'must be a lowercase DNS-like trust domain'),
  rootPems: z.array(z.string().refine(isCaPem, 'must be a PEM CA certificate')).min(1),
});

/** Validates a bundle received from a peer; throws `invalid` naming the bad field. */
export function parseTrustBundle(input: unknown): TrustBundle {
  const result = trustBundleSchema.safeParse(input);
  if (!result.success) throw invalid(`trust bundle: ${describeZodError(result.error)}`);
  return result.data;
}

/**
 * Verifies that `leafPem` is a current end-entity certificate signed directly by one of `rootPems`
 * (meshpeer CAs sign leaves with the root; there are no intermediates) and returns its SPIFFE ID.
 * Malformed input is `invalid`; a certificate that is untrusted, expired or not yet valid is
 * `permission-denied`, since that is an authentication failure, not a bad request.
 */
export function verifyChain(leafPem: string, rootPems: string[], now: Date = new Date()): string {
  const leafInfo = parseCert(leafPem);
  const leaf = toNode(leafPem, 'leaf certificate');
  if (leaf.ca) throw permissionDenied('a CA certificate cannot be used as a workload identity');
  if (now < leafInfo.notBefore) {
    throw permissionDenied(`certificate is not valid before ${leafInfo.notBefore.toISOString()}`);
  }
  if (now > leafInfo.notAfter) {
    throw permissionDenied(`certificate expired at ${leafInfo.notAfter.toISOString()}`);
  }
  const spiffeId = spiffeIdOf(leafInfo);
  for (const rootPem of rootPems) {
    const root = trustedRoot(rootPem);
    if (now < root.notBefore || now > root.notAfter) continue;
    // verify proves the signature; checkIssued also requires the issuer name, key identifier and the
    // root's keyCertSign usage to match, so a key is only trusted in the role its certificate grants.
    if (leaf.checkIssued(root.cert) && leaf.verify(root.cert.publicKey)) return spiffeId;
  }
  throw permissionDenied(`certificate for ${spiffeId} is not signed by any trusted root`);
}

interface ParsedRoot {
  cert: NodeX509Certificate;
  notBefore: Date;
  notAfter: Date;
}

// Verification runs per connection against the same few roots; parsing them each time would
// triple its cost. Bounded, since roots arrive from peers.
const MAX_ROOTS = 64;
const roots = new Map<string, ParsedRoot>();

function trustedRoot(pem: string): ParsedRoot {
  let root = roots.get(pem);
  if (!root) {
    const cert = toNode(pem, 'trusted root');
    if (!cert.ca) throw invalid('a trusted root must be a CA certificate');
    const info = parseCert(pem);
    root = { cert, notBefore: info.notBefore, notAfter: info.notAfter };
    if (roots.size >= MAX_ROOTS) roots.clear();
    roots.set(pem, root);
  }
  return root;
}

export interface VerifiedIdentity {
  spiffeId: string;
  identity: SpiffeIdentity;
  /** The peer whose roots vouched for it; absent for a local identity. */
  peerName?: string;
}

/**
 * Peering-aware verification: the leaf's own trust domain picks the roots it is checked against —
 * ours for our trust domain, a peer's bundle for that peer's (ownerOfTrustDomain). So a peer can
 * vouch only for identities in its own trust domain and can never mint one of ours or another
 * peer's; a trust domain claimed by two peers is refused rather than attributed to either.
 */
export function verifyIdentity(
  leafPem: string,
  local: { trustDomain: string; rootPems: string[] },
  bundles: readonly TrustBundle[],
  now: Date = new Date(),
): VerifiedIdentity {
  const identity = parseSpiffeId(spiffeIdOf(leafPem));
  const owner = ownerOfTrustDomain(identity.trustDomain, local.trustDomain, bundles);
  switch (owner.kind) {
    case 'local':
      return { spiffeId: verifyChain(leafPem, local.rootPems, now), identity };
    case 'peer':
      return {
        spiffeId: verifyChain(leafPem, owner.bundle.rootPems, now),
        identity,
        peerName: owner.bundle.peerName,
      };
    case 'ambiguous':
      throw permissionDenied(
        `trust domain ${identity.trustDomain} is claimed by several peers (${owner.peers.join(', ')}), so it identifies none`,
      );
    case 'unknown':
      throw permissionDenied(
        `trust domain ${identity.trustDomain} is neither ours nor that of any peer with a trust bundle`,
      );
  }
}

function toNode(pem: string, what: string): NodeX509Certificate {
  try {
    return new NodeX509Certificate(pem);
  } catch (err) {
    throw invalid(`${what} is not a readable PEM certificate: ${(err as Error).message}`);
  }
}

function isTrustDomain(value: string): boolean {
  try {
    assertTrustDomain(value);
    return true;
  } catch {
    return false;
  }
}

function isCaPem(value: string): boolean {
  try {
    return new NodeX509Certificate(value).ca;
  } catch {
    return false;
  }
}
