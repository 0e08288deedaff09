// Which cluster a workload certificate speaks for, decided from the certificate alone: its SPIFFE
// trust domain is either ours, or names the one peer whose trust bundle carries that trust domain.
// Nothing a caller merely says (an SNI name, a header) takes part. A trust domain that no peer
// carries, or that several peers claim, belongs to nobody: the caller is refused, never guessed.
import type { TrustBundle } from './trust-bundle.js';

export type TrustDomainOwner =
  | { kind: 'local' }
  | { kind: 'peer'; bundle: TrustBundle }
  | { kind: 'unknown' }
  | { kind: 'ambiguous'; peers: string[] };

/**
 * The owner of `trustDomain`. Our own trust domain is always ours: a peer's bundle that claims it is
 * ignored, so a peer can never vouch for a local identity.
 */
export function ownerOfTrustDomain(
  trustDomain: string,
  localTrustDomain: string,
  bundles: readonly TrustBundle[],
): TrustDomainOwner {
  if (trustDomain === localTrustDomain) return { kind: 'local' };
  const claimants = bundles.filter((b) => b.trustDomain === trustDomain);
  const peers = [...new Set(claimants.map((b) => b.peerName))];
  const [only] = claimants;
  if (only === undefined) return { kind: 'unknown' };
  if (peers.length > 1) return { kind: 'ambiguous', peers };
  return { kind: 'peer', bundle: only };
}
