// Verified workload identities, remembered per certificate. A caller is authenticated by its
// certificate alone: its trust domain says whether it is local or which peer it belongs to (the one
// peer whose bundle carries that trust domain); a peer's caller is accepted only if this service is
// exported to that peer, and its chain is checked against that peer's bundle only. Verifying costs
// milliseconds of event-loop time, and the same few leaves open most connections, so each is
// verified once per TLS generation: a new snapshot (new roots, bundles or exports) starts a new
// cache, and an entry is only good until its certificate expires.
import type { X509Certificate } from 'node:crypto';
import {
  ownerOfTrustDomain,
  parseSpiffeId,
  spiffeIdOf,
  type VerifiedIdentity,
  verifyChain,
} from '../../ca/index.js';
import type { ProxyConfig } from './config.js';

const MAX_ENTRIES = 4096;

/** Why a caller was refused: the label of meshpeer_proxy_inbound_refused_total. */
export type CallerRefusal = 'untrusted-identity' | 'not-exported-to-peer';

export class CallerRefused extends Error {
  constructor(
    readonly reason: CallerRefusal,
    message: string,
  ) {
    super(message);
    this.name = 'CallerRefused';
  }
}

type Verdict = { ok: true; identity: VerifiedIdentity } | { ok: false; error: CallerRefused };

interface Entry {
  verdict: Verdict;
  notAfter: number;
}

/** A Map that forgets its oldest entries beyond `max`; enough for caches keyed by certificate. */
class BoundedMap<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, value: V): void {
    if (this.map.size >= this.max) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(key, value);
  }
}

export class CallerVerifier {
  private readonly verdicts = new BoundedMap<Entry>(MAX_ENTRIES);

  constructor(private readonly config: ProxyConfig) {}

  /** The caller's authenticated identity and peer; throws CallerRefused saying why not. */
  verify(cert: X509Certificate, now = Date.now()): VerifiedIdentity {
    const key = cert.fingerprint256;
    let entry = this.verdicts.get(key);
    if (!entry || now > entry.notAfter) {
      entry = { verdict: this.check(cert), notAfter: Date.parse(cert.validTo) };
      this.verdicts.set(key, entry);
    }
    if (!entry.verdict.ok) throw entry.verdict.error;
    return entry.verdict.identity;
  }

  private check(cert: X509Certificate): Verdict {
    try {
      return { ok: true, identity: authenticateCaller(cert.toString(), this.config) };
    } catch (err) {
      const error =
        err instanceof CallerRefused ? err : new CallerRefused('untrusted-identity', (err as Error).message);
      return { ok: false, error };
    }
  }
}

/**
 * Authenticates a caller of `config.service` from its certificate: local identities against our
 * roots; a peer's only if the service is exported to that peer (inboundPeerBundles), against that
 * peer's roots. The peer is looked up among every known bundle, so a trust domain two peers claim
 * is refused, whichever of them the service is exported to.
 */
export function authenticateCaller(
  leafPem: string,
  config: Pick<ProxyConfig, 'service' | 'trustDomain' | 'roots' | 'peerBundles' | 'inboundPeerBundles'>,
  now: Date = new Date(),
): VerifiedIdentity {
  const identity = parseSpiffeId(spiffeIdOf(leafPem));
  const known = [...config.peerBundles, ...config.inboundPeerBundles];
  const owner = ownerOfTrustDomain(identity.trustDomain, config.trustDomain, known);
  switch (owner.kind) {
    case 'local':
      return { spiffeId: verifyChain(leafPem, [...config.roots], now), identity };
    case 'unknown':
      throw new CallerRefused(
        'untrusted-identity',
        `trust domain ${identity.trustDomain} is neither ours nor that of any peer`,
      );
    case 'ambiguous':
      throw new CallerRefused(
        'untrusted-identity',
        `trust domain ${identity.trustDomain} is claimed by several peers (${owner.peers.join(', ')}), so it identifies none`,
      );
    case 'peer': {
      const peerName = owner.bundle.peerName;
      const bundle = config.inboundPeerBundles.find((b) => b.peerName === peerName);
      if (bundle === undefined || bundle.trustDomain !== identity.trustDomain) {
        throw new CallerRefused(
          'not-exported-to-peer',
          `${config.service} is not exported to peer ${peerName}, whose trust domain the caller's certificate names`,
        );
      }
      return { spiffeId: verifyChain(leafPem, bundle.rootPems, now), identity, peerName };
    }
  }
}

// A certificate's SPIFFE ID depends on its bytes alone, so one cache serves every generation.
const spiffeIds = new BoundedMap<string>(MAX_ENTRIES);

/** The SPIFFE ID of a certificate node:tls handed over; throws if it carries none. */
export function spiffeIdOfPeer(cert: { fingerprint256: string; raw: Buffer }): string {
  let id = spiffeIds.get(cert.fingerprint256);
  if (id === undefined) {
    id = spiffeIdOf(cert.raw);
    spiffeIds.set(cert.fingerprint256, id);
  }
  return id;
}
