// Verified workload identities, remembered per certificate. Verifying a caller (parsing its leaf,
// checking its chain against the roots of its own trust domain) costs milliseconds of event-loop
// time, and the same few leaves open most connections, so each is verified once per TLS generation:
// a new snapshot (new roots or bundles) starts a new cache, and an entry is only good until its
// certificate expires.
import type { X509Certificate } from 'node:crypto';
import { spiffeIdOf, type VerifiedIdentity, verifyIdentity } from '../../ca/index.js';
import type { ProxyConfig } from './config.js';

const MAX_ENTRIES = 4096;

type Verdict = { ok: true; identity: VerifiedIdentity } | { ok: false; error: Error };

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

  /** The caller's identity, checked against the roots of its own trust domain; throws if untrusted. */
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
      const identity = verifyIdentity(
        cert.toString(),
        { trustDomain: this.config.trustDomain, rootPems: [...this.config.roots] },
        this.config.peerBundles,
      );
      return { ok: true, identity };
    } catch (err) {
      return { ok: false, error: err as Error };
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
