// Which trust domain a peer may claim in the trust bundle it sends. A bundle decides which certificates
// this cluster's sidecars accept as that peer's, so a peer may never claim this cluster's own trust
// domain or another peer's, and may not switch to another trust domain in the middle of a peering.
import { parseSni } from '../../ca/sni.js';
import type { ReadView } from '../../store/store.js';
import { peeringKey, recordByName, type StoredTrustBundle, TRUST_BUNDLES } from '../records.js';

/** The trust domain an acceptor's token named: its gRPC server name ends in it. */
function trustDomainOfServerName(serverName: string): string | undefined {
  const sni = parseSni(serverName);
  return sni?.kind === 'peering-server' ? sni.trustDomain : undefined;
}

/**
 * Why `claimed` cannot be `peer`'s trust domain, or undefined when it can. The peer's trust domain is
 * the one established first: the acceptor's is in the token's server name (verified by TLS); the
 * dialer's is the one its first bundle carried.
 */
export function trustDomainProblem(
  view: ReadView,
  peer: string,
  claimed: string,
  ownTrustDomain: string,
): string | undefined {
  if (claimed === ownTrustDomain)
    return `the peer's trust bundle claims this cluster's own trust domain ${claimed}; refused`;
  for (const e of view.list<StoredTrustBundle>(TRUST_BUNDLES)) {
    if (e.value.PeerName !== peer && e.value.TrustDomain === claimed)
      return `the peer's trust bundle claims the trust domain of peer ${JSON.stringify(e.value.PeerName)} (${claimed}); refused`;
  }
  const record = recordByName(view, peer);
  const established =
    (record?.Role === 'dialer' ? trustDomainOfServerName(record.PeerServerName) : undefined) ??
    view.get<StoredTrustBundle>(TRUST_BUNDLES, peeringKey(peer))?.value.TrustDomain;
  if (established !== undefined && established !== claimed)
    return `the peer's trust domain was ${established} when the peering was established and its bundle now claims ${claimed}; refused (delete and establish the peering again to accept a new trust domain)`;
  return undefined;
}
