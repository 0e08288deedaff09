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
import { DEFAULT_MESH_TLS, type TlsDirection } from './mesh-tls.js';
import type { ExpectedIdentity } from './upstream-plan.js';

// Upstream servers (a service's instances, a peer's gateway-routed service) whose sessions are kept.
const MAX_SESSIONS = 1024;

export class TlsMaterial {
  private readonly clientContexts = new Map<string, SecureContext>();
  /**
   * TLS sessions to resume, by trust set and server name: a resumed handshake skips the key exchange
   * and certificate signatures, most of a new connection's cost. Only sessions of servers verified in
   * this generation are kept, so new roots or a renewed leaf start over with full handshakes.
   */
  private readonly sessions = new Map<string, Buffer>();
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
      ...versions(this.config.tls?.incoming ?? DEFAULT_MESH_TLS.incoming),
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
        ...versions(this.config.tls?.outgoing ?? DEFAULT_MESH_TLS.outgoing),
      });
      this.clientContexts.set(trustedPeer, context);
    }
    return context;
  }

  /** The session last issued by `serverName` (trusted as `trustedPeer`), to resume, if any. */
  session(trustedPeer: string, serverName: string): Buffer | undefined {
    return this.sessions.get(sessionKey(trustedPeer, serverName));
  }

  /** Keeps a session a verified server issued; the oldest server's is dropped past the bound. */
  rememberSession(trustedPeer: string, serverName: string, session: Buffer): void {
    const key = sessionKey(trustedPeer, serverName);
    this.sessions.delete(key);
    this.sessions.set(key, session);
    if (this.sessions.size > MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
  }
}

/** The versions (and TLS 1.2 ciphers, when configured) of one direction, as node:tls takes them. */
function versions(direction: TlsDirection): SecureContextOptions {
  return {
    minVersion: direction.minVersion,
    maxVersion: direction.maxVersion,
    ...(direction.ciphers ? { ciphers: direction.ciphers } : {}),
  };
}

function sessionKey(trustedPeer: string, serverName: string): string {
  return `${trustedPeer}\u0000${serverName}`;
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
