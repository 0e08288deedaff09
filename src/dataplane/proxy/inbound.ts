// The sidecar's inbound listener: mutual TLS with its leaf; the caller authenticated by its
// certificate (a peer's caller only when this service is exported to that peer, against that peer's
// roots); intentions enforced with the peer so derived; then the bytes go to the local app.
import type { Socket } from 'node:net';
import * as tls from 'node:tls';
import type { VerifiedIdentity } from '../../ca/index.js';
import type { Logger } from '../../shared/logger.js';
import { connectTimeoutFrom, dialAny, plainDialer } from '../dial.js';
import type { Endpoint } from '../endpoint.js';
import { ConnectionSet, closeServer, listenOn } from '../listen.js';
import { splice } from '../splice.js';
import { CallerRefused } from './identities.js';
import { authorize } from './intentions.js';
import type { ProxyMetrics } from './metrics.js';
import type { ProxyState } from './state.js';
import type { TlsMaterial } from './tls-contexts.js';

export class InboundListener {
  private readonly connections = new ConnectionSet();
  private readonly server: tls.Server;
  /** The TLS material the server presents now. */
  private applied: TlsMaterial;

  constructor(
    private readonly state: () => ProxyState,
    private readonly app: Endpoint,
    private readonly metrics: ProxyMetrics,
    private readonly logger: Logger,
  ) {
    const { tls: material } = state();
    this.server = tls.createServer({
      ...material.serverOptions(),
      requestCert: true,
      rejectUnauthorized: true,
      allowHalfOpen: true,
      noDelay: true,
    });
    this.applied = material;
    this.server.on('connection', (socket: Socket) => this.connections.add(socket));
    this.server.on('secureConnection', (socket) => void this.handle(socket));
    this.server.on('tlsClientError', (err, socket) => {
      this.metrics.inboundRefused.inc({ reason: 'tls-handshake' });
      this.logger.info({ from: socket.remoteAddress, err: err.message }, 'refused inbound TLS handshake');
    });
  }

  listen(endpoint: Endpoint): Promise<Endpoint> {
    return listenOn(this.server, endpoint);
  }

  /** New handshakes use the new leaf and roots; established connections keep theirs. */
  refresh(): void {
    const { tls: material } = this.state();
    if (material === this.applied) return;
    this.applied = material;
    this.server.setSecureContext(material.serverOptions());
  }

  close(drainMs: number): Promise<void> {
    return closeServer(this.server, this.connections, drainMs);
  }

  private async handle(socket: tls.TLSSocket): Promise<void> {
    socket.on('error', () => {});
    const { config, tls: material } = this.state();
    const peerCert = socket.getPeerX509Certificate();
    if (!peerCert) return this.refuse(socket, 'no-client-certificate', 'the caller sent no certificate');
    let caller: VerifiedIdentity;
    try {
      caller = material.callers.verify(peerCert);
    } catch (err) {
      const reason = err instanceof CallerRefused ? err.reason : 'untrusted-identity';
      return this.refuse(socket, reason, (err as Error).message);
    }
    const decision = authorize(caller, config.service, config.intentions, config.defaultIntentionAction);
    if (decision.action === 'deny')
      return this.refuse(socket, 'intention-deny', decision.reason, caller.spiffeId);

    let app: Socket;
    try {
      app = await dialAny([this.app], plainDialer, connectTimeoutFrom(config.proxyConfig, 5_000));
    } catch (err) {
      return this.refuse(socket, 'app-unreachable', (err as Error).message, caller.spiffeId);
    }
    if (socket.destroyed) {
      app.destroy();
      return;
    }
    this.metrics.inboundAllowed.inc();
    this.metrics.active.inc({ direction: 'inbound' });
    this.logger.debug(
      { caller: caller.spiffeId, peer: caller.peerName, why: decision.reason },
      'inbound allowed',
    );
    await splice(socket, app);
    this.metrics.active.dec({ direction: 'inbound' });
  }

  private refuse(socket: tls.TLSSocket, reason: string, detail: string, caller?: string): void {
    this.metrics.inboundRefused.inc({ reason });
    this.logger.info({ reason, caller, from: socket.remoteAddress }, `refused inbound connection: ${detail}`);
    socket.destroy();
  }
}
