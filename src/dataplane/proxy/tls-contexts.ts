// The TLS material of one configuration snapshot: the inbound server's options and one client
// context per trust set (our roots, or one peer's). A new snapshot makes a new TlsMaterial; live
// connections keep the context they were made with, so a renewed leaf never cuts them.
import {
  createSecureContext,
  type PeerCertificate,
  type SecureContext,
  type SecureContextOptions,
} from 'node:tls';
import { parseSpiffeId } from '../../ca/index.js';
import type { ProxyConfig } from './config.js';
import { CallerVerifier, spiffeIdOfPeer } from './identities.js';
import type { ExpectedIdentity } from './upstream-plan.js';

// TLS 1.2 is the floor, as in Consul's default for mesh traffic.
const MIN_VERSION = 'TLSv1.2';

export class TlsMaterial {
  private readonly clientContexts = new Map<string, SecureContext>();
  /** Callers verified against this generation's roots and bundles. */
  readonly callers: CallerVerifier;

  constructor(private readonly config: ProxyConfig) {
    this.callers = new CallerVerifier(config);
  }

  /**
   * Options for the inbound listener: our leaf, and the roots a caller may chain to — ours and those
   * of the peers this service is exported to, no other peer's.
   */
  serverOptions(): SecureContextOptions {
    const peerRoots = this.config.inboundPeerBundles.flatMap((b) => b.rootPems);
    return {
      cert: this.config.leaf.certPem,
      key: this.config.leaf.keyPem,
      ca: [...this.config.roots, ...peerRoots],
      minVersion: MIN_VERSION,
    };
  }

  /** A client context that presents our leaf and trusts only `rootPems` (ours or one peer's). */
  clientContext(trustedPeer: string, rootPems: readonly string[]): SecureContext {
    let context = this.clientContexts.get(trustedPeer);
    if (!context) {
      context = createSecureContext({
        cert: this.config.leaf.certPem,
        key: this.config.leaf.keyPem,
        ca: [...rootPems],
        minVersion: MIN_VERSION,
      });
      this.clientContexts.set(trustedPeer, context);
    }
    return context;
  }
}

/** A value for tls.connect's checkServerIdentity: the server must be exactly the expected workload. */
export function expectServer(
  expected: ExpectedIdentity,
): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    try {
      const spiffeId = spiffeIdOfPeer(cert);
      const id = parseSpiffeId(spiffeId);
      if (
        id.kind === 'service' &&
        id.trustDomain === expected.trustDomain &&
        id.service === expected.service &&
        id.namespace === expected.namespace
      ) {
        return undefined;
      }
      return new Error(`the server is ${spiffeId}, not ${expected.service} of ${expected.trustDomain}`);
    } catch (err) {
      return err as Error;
    }
  };
}
