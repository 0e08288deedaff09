// The peering domain's API: generate a token, establish with one, read, list and delete peerings, and
// run their streams (the acceptor's gRPC handlers and the dialer's loops).
import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import type { CertificateAuthority } from '../ca/authority.js';
import type { Catalog } from '../catalog/catalog.js';
import type { ConfigEntries } from '../config-entries/config-store.js';
import { isValidPeerName, peerNameProblem } from '../config-entries/names.js';
import type { ConfigEntry } from '../config-entries/registry.js';
import { conflict, invalid, MeshpeerError, notFound, unavailable } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Store, WriteTxn } from '../store/store.js';
import { DialerLoop } from './dialer-loop.js';
import { localMeshGateways } from './exporter.js';
import {
  type ExchangeRequest,
  type ExchangeRequestSchema,
  PeeringService,
  type ReplicationMessage,
} from './gen/meshpeer/peering/v1/peering_pb.js';
import {
  PEERING_SECRETS,
  PEERING_TABLES,
  PEERINGS,
  type PeeringRecord,
  type PeeringSecrets,
  peeringKey,
  STREAM_EVENTS,
  type StoredTrustBundle,
  type StreamEvent,
  TRUST_BUNDLES,
} from './records.js';
import { type MessageStream, ReplicationSession, type SessionDeps } from './session.js';
import { newStreamStatus, type StreamStatus } from './stream-status.js';
import { decodePeeringToken, encodePeeringToken, tokenAddresses } from './token.js';
import { cleanGrpcDetails, createClient } from './transport/grpc-service.js';
import type { PeeringServiceImplementation } from './transport/protocol.js';
import { dialerCredentials } from './transport/tls.js';
import { type PeeringView, toView } from './views.js';

export interface PeeringOptions {
  heartbeatMs: number;
  timeoutMs: number;
  redialBaseMs: number;
  redialMaxMs: number;
  /** How long an establishment secret stays valid. */
  secretTtlMs: number;
  maxMessageBytes: number;
  exchangeTimeoutMs: number;
}

export const DEFAULT_PEERING_OPTIONS: PeeringOptions = {
  heartbeatMs: 15_000,
  timeoutMs: 120_000,
  redialBaseMs: 200,
  redialMaxMs: 30_000,
  secretTtlMs: 24 * 3600_000,
  maxMessageBytes: 4 * 1024 * 1024,
  exchangeTimeoutMs: 10_000,
};

export interface PeeringDeps {
  store: Store;
  catalog: Catalog;
  config: ConfigEntries;
  ca: CertificateAuthority;
  logger: Logger;
  datacenter: string;
  /** The gRPC addresses this server is reachable at (for tokens and ServerAddresses). */
  grpcAddresses: () => string[];
  options: PeeringOptions;
  onMessage?: (peer: string, direction: 'sent' | 'received', type: string) => void;
}

interface Live {
  status: StreamStatus;
  session?: ReplicationSession;
  dialer?: DialerLoop;
}

export interface TokenRequest {
  PeerName: string;
  Meta?: Record<string, string> | undefined;
  ServerExternalAddresses?: string[] | undefined;
}

export interface EstablishRequest {
  PeerName: string;
  PeeringToken: string;
  Meta?: Record<string, string> | undefined;
}

export class Peerings {
  readonly tables = PEERING_TABLES;
  private readonly live = new Map<string, Live>();
  private stopped = false;

  constructor(private readonly d: PeeringDeps) {}

  /**
   * Mesh gateway mode `none` in proxy-defaults leaves peered upstreams without a way out: refused
   * while the cluster has a peering (Consul documents `none` as invalid for peered traffic).
   */
  readonly gatewayModeRule = (entry: ConfigEntry, tx: WriteTxn): void => {
    if (entry.Kind !== 'proxy-defaults' || entry.MeshGateway?.Mode !== 'none') return;
    const peerings = tx.list<PeeringRecord>(PEERINGS).filter((e) => e.value.State !== 'TERMINATED');
    if (peerings.length === 0) return;
    throw invalid(
      `MeshGateway.Mode: "none" is not valid while this cluster has peerings (${peerings
        .map((e) => e.value.Name)
        .join(', ')}): traffic to peers must go through mesh gateways; use "remote" or "local"`,
    );
  };

  /** Resumes the streams of dialer peerings kept in the store (after a restart). */
  start(): void {
    for (const e of this.d.store.list<PeeringRecord>(PEERINGS)) {
      const r = e.value;
      if (r.Role === 'dialer' && (r.State === 'ACTIVE' || r.State === 'ESTABLISHING'))
        this.startDialer(r.Name);
      if (r.State === 'DELETING') void this.delete(r.Name).catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const waits: Promise<void>[] = [];
    for (const l of this.live.values()) {
      l.session?.stop();
      if (l.dialer) {
        l.dialer.stop();
        waits.push(l.dialer.finished);
      }
    }
    await Promise.all(waits);
    this.live.clear();
  }

  // ---- token and establishment ----

  async generateToken(req: TokenRequest): Promise<{ PeeringToken: string }> {
    checkName(req.PeerName);
    const addresses = req.ServerExternalAddresses?.length
      ? req.ServerExternalAddresses
      : this.advertisedAddresses();
    const secret = randomUUID();
    const expiresAt = new Date(Date.now() + this.d.options.secretTtlMs).toISOString();
    const { result: record } = await this.d.store.write((tx) => {
      const existing = tx.get<PeeringRecord>(PEERINGS, peeringKey(req.PeerName))?.value;
      if (existing?.Role === 'dialer' && existing.State !== 'TERMINATED') {
        throw invalid(
          `PeerName: a peering named ${JSON.stringify(req.PeerName)} was established from this cluster with a token ` +
            'from the peer; delete it first or choose another name',
        );
      }
      if (existing?.State === 'DELETING')
        throw conflict(`peering ${JSON.stringify(req.PeerName)} is being deleted; retry in a moment`);
      let rec: PeeringRecord;
      if (existing !== undefined && existing.Role === 'acceptor' && existing.State !== 'TERMINATED') {
        rec = { ...existing, Meta: req.Meta ?? existing.Meta };
      } else {
        if (existing !== undefined) this.removeAll(tx, existing);
        rec = newRecord(req.PeerName, 'acceptor', 'PENDING', req.Meta ?? {});
      }
      tx.put(PEERINGS, peeringKey(rec.Name), rec);
      const secrets = tx.get<PeeringSecrets>(PEERING_SECRETS, rec.ID)?.value ?? {
        PeeringID: rec.ID,
        UsedEstablishment: [],
        ReplacedEstablishment: [],
      };
      const replaced = secrets.Establishment
        ? [...secrets.ReplacedEstablishment, secrets.Establishment.Secret].slice(-20)
        : secrets.ReplacedEstablishment;
      tx.put<PeeringSecrets>(PEERING_SECRETS, rec.ID, {
        ...secrets,
        Establishment: { Secret: secret, ExpiresAt: expiresAt },
        ReplacedEstablishment: replaced,
      });
      return rec;
    });
    this.d.logger.info({ peer: req.PeerName, peeringId: record.ID, expiresAt }, 'generated a peering token');
    const token = encodePeeringToken({
      CA: [this.d.ca.root.certPem],
      ServerAddresses: addresses,
      ...(req.ServerExternalAddresses?.length ? { ManualServerAddresses: req.ServerExternalAddresses } : {}),
      ServerName: this.d.ca.serverName,
      PeerID: record.ID,
      EstablishmentSecret: secret,
      Remote: { Datacenter: this.d.datacenter, Partition: 'default' },
    });
    return { PeeringToken: token };
  }

  /** The addresses a token tells the dialer to use: the gateways when peering goes through them. */
  private advertisedAddresses(): string[] {
    const addresses = this.peeringAddresses();
    if (addresses.length === 0) {
      throw invalid(
        'the mesh config entry sets Peering.PeerThroughMeshGateways but no mesh gateway is registered: ' +
          'start a mesh gateway (meshpeer gateway --register) before generating the token',
      );
    }
    return addresses;
  }

  /**
   * Where peers should dial this cluster's servers: the registered mesh gateways when the mesh entry
   * says peering goes through them (never the servers themselves then), the gRPC addresses otherwise.
   */
  private peeringAddresses(): string[] {
    const mesh = this.d.config.get('mesh', 'mesh');
    if (!mesh?.Peering?.PeerThroughMeshGateways) return this.d.grpcAddresses();
    return localMeshGateways(this.d.catalog).map((g) => `${g.Address}:${g.Port}`);
  }

  async establish(req: EstablishRequest): Promise<void> {
    checkName(req.PeerName);
    const token = decodePeeringToken(req.PeeringToken);
    if (token.CA.includes(this.d.ca.root.certPem) || token.ServerName === this.d.ca.serverName) {
      throw invalid('PeeringToken: was generated by this cluster; establish with it on the other cluster');
    }
    const existing = this.d.store.get<PeeringRecord>(PEERINGS, peeringKey(req.PeerName))?.value;
    if (existing?.Role === 'acceptor' && existing.State !== 'TERMINATED') {
      throw invalid(
        `PeerName: a peering named ${JSON.stringify(req.PeerName)} was generated on this cluster (it accepts ` +
          'connections); use another name for the peering you establish',
      );
    }
    if (existing?.State === 'DELETING')
      throw conflict(`peering ${JSON.stringify(req.PeerName)} is being deleted; retry in a moment`);

    // Our ID for this peering goes to the acceptor with the secret, so it is decided before the exchange.
    const dialerId = existing !== undefined && existing.PeerID === token.PeerID ? existing.ID : randomUUID();
    const streamSecret = await this.exchange(
      {
        peerId: token.PeerID,
        establishmentSecret: token.EstablishmentSecret,
        remoteDatacenter: this.d.datacenter,
        dialerPeeringId: dialerId,
      },
      tokenAddresses(token),
      token.CA,
      token.ServerName,
    );
    this.stopLive(req.PeerName);
    await this.d.store.write((tx) => {
      const current = tx.get<PeeringRecord>(PEERINGS, peeringKey(req.PeerName))?.value;
      if (current !== undefined && current.PeerID !== token.PeerID) this.removeAll(tx, current);
      const rec: PeeringRecord = {
        ...newRecord(req.PeerName, 'dialer', 'ESTABLISHING', req.Meta ?? {}),
        ID: dialerId,
        PeerID: token.PeerID,
        PeerServerName: token.ServerName,
        PeerServerAddresses: tokenAddresses(token),
        PeerCAPems: token.CA,
        Remote: token.Remote,
        ...(token.ManualServerAddresses?.length ? { ManualServerAddresses: true } : {}),
        StreamSecret: streamSecret,
      };
      tx.put(PEERINGS, peeringKey(rec.Name), rec);
    });
    this.d.logger.info(
      { peer: req.PeerName, addresses: tokenAddresses(token) },
      'established a peering; opening the stream',
    );
    this.startDialer(req.PeerName);
  }

  /** Trades the establishment secret for a stream secret at the acceptor, trying each address. */
  private async exchange(
    request: MessageInitShape<typeof ExchangeRequestSchema>,
    addresses: string[],
    ca: string[],
    serverName: string,
  ): Promise<string> {
    const tls = dialerCredentials({ caPems: ca, serverName });
    for (const address of addresses) {
      const client = createClient(PeeringService, address, tls.credentials, {
        channelOptions: tls.channelOptions,
      });
      try {
        const res = await client.exchange(request, {
          deadline: Date.now() + this.d.options.exchangeTimeoutMs,
        });
        return res.streamSecret;
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (
          e.code === grpc.status.NOT_FOUND ||
          e.code === grpc.status.FAILED_PRECONDITION ||
          e.code === grpc.status.PERMISSION_DENIED
        ) {
          throw invalid(`PeeringToken: the peer refused it: ${e.details}`);
        }
        // Why one address failed (refused, timed out, certificate not verified) is for the operator's
        // debug log only: echoed to the caller, it would make establish a port and TLS scanner for
        // anyone allowed to write peerings.
        this.d.logger.debug({ address, serverName, error: grpcDetail(e) }, 'peering exchange failed');
      } finally {
        client.close();
      }
    }
    throw unavailable(
      `could not reach the peer's servers at ${addresses.join(', ')} over TLS as ${JSON.stringify(serverName)}. ` +
        'Check that this cluster can reach those addresses and that the token is the latest one generated ' +
        '(if the addresses are not reachable from here, generate it again with ServerExternalAddresses or ' +
        "through mesh gateways); this server's debug log says why each address failed",
    );
  }

  // ---- reads ----

  read(name: string): PeeringView | undefined {
    const e = this.d.store.get<PeeringRecord>(PEERINGS, peeringKey(name));
    return e === undefined ? undefined : this.view(e.value, e);
  }

  list(): PeeringView[] {
    return this.d.store.list<PeeringRecord>(PEERINGS).map((e) => this.view(e.value, e));
  }

  trustBundles(): StoredTrustBundle[] {
    return this.d.store.list<StoredTrustBundle>(TRUST_BUNDLES).map((e) => e.value);
  }

  private view(record: PeeringRecord, stamps: { createIndex: number; modifyIndex: number }): PeeringView {
    const live = this.live.get(record.Name);
    const bundle = this.d.store.get<StoredTrustBundle>(TRUST_BUNDLES, peeringKey(record.Name))?.value;
    const withRoots =
      record.Role === 'acceptor' && bundle ? { ...record, PeerCAPems: bundle.RootPEMs } : record;
    const view = toView(
      withRoots,
      stamps,
      live?.status,
      this.d.catalog.importedServiceNames(record.Name),
      live?.status.exported ?? [],
      this.d.options.timeoutMs,
    );
    view.StreamStatus.Warnings = [...view.StreamStatus.Warnings, ...this.exportWarnings(record.Name)];
    return view;
  }

  /**
   * Why a service named for this peer in exported-services may not show up (or not be usable) there:
   * nothing registered under that name, or no instance passing its checks.
   */
  private exportWarnings(peer: string): string[] {
    const entry = this.d.config.get('exported-services', 'default');
    const named = (entry?.Services ?? []).filter(
      (s) => s.Name !== '*' && s.Consumers.some((c) => 'Peer' in c && c.Peer === peer),
    );
    const warnings: string[] = [];
    for (const { Name } of named) {
      const instances = this.d.catalog.healthService(Name).filter((h) => h.Service.Kind === '');
      if (instances.length === 0) {
        warnings.push(
          `${Name} is exported to ${peer} but no instance of it is registered here, so ${peer} imports nothing`,
        );
      } else if (!instances.some((h) => h.Checks.every((c) => c.Status === 'passing'))) {
        warnings.push(
          `${Name} is exported to ${peer} but none of its ${instances.length} instances is passing its health checks`,
        );
      }
    }
    return warnings;
  }

  // ---- deletion ----

  async delete(name: string): Promise<void> {
    const existing = this.d.store.get<PeeringRecord>(PEERINGS, peeringKey(name))?.value;
    if (existing === undefined) throw notFound(`no peering named ${JSON.stringify(name)}`);
    await this.d.store.write((tx) => {
      const cur = tx.get<PeeringRecord>(PEERINGS, peeringKey(name))?.value;
      if (cur)
        tx.put(PEERINGS, peeringKey(name), {
          ...cur,
          State: 'DELETING',
          StateChangedAt: new Date().toISOString(),
        });
    });
    const live = this.live.get(name);
    if (live?.dialer) await live.dialer.terminate();
    else if (live?.session && !live.session.isEnded) await live.session.terminate();
    this.stopLive(name);
    await this.d.store.write((tx) => this.removeAll(tx, existing));
    this.d.logger.info(
      { peer: name },
      'deleted peering; told the peer and removed imported services and trust bundle',
    );
  }

  /** The peer deleted the peering: keep the record as TERMINATED, drop what it gave us. */
  private async terminatedByPeer(name: string, reason: string): Promise<void> {
    this.stopLive(name);
    await this.d.store.write((tx) => {
      const cur = tx.get<PeeringRecord>(PEERINGS, peeringKey(name))?.value;
      if (cur === undefined || cur.State === 'DELETING') return;
      tx.put(PEERINGS, peeringKey(name), {
        ...cur,
        State: 'TERMINATED',
        Reason: reason,
        StateChangedAt: new Date().toISOString(),
      });
      this.d.catalog.removeImported(tx, name);
      tx.delete(TRUST_BUNDLES, peeringKey(name));
    });
    this.d.logger.warn({ peer: name, reason }, 'peering terminated by the peer');
  }

  private removeAll(tx: WriteTxn, record: PeeringRecord): void {
    tx.delete(PEERINGS, peeringKey(record.Name));
    tx.delete(PEERING_SECRETS, record.ID);
    tx.delete(TRUST_BUNDLES, peeringKey(record.Name));
    tx.delete(STREAM_EVENTS, peeringKey(record.Name));
    this.d.catalog.removeImported(tx, record.Name);
  }

  // ---- streams ----

  private liveFor(name: string): Live {
    let l = this.live.get(name);
    if (l === undefined) {
      l = { status: newStreamStatus() };
      this.live.set(name, l);
    }
    return l;
  }

  private stopLive(name: string): void {
    const l = this.live.get(name);
    if (l === undefined) return;
    l.session?.stop();
    l.dialer?.stop();
    this.live.delete(name);
  }

  private sessionDeps(name: string): SessionDeps {
    return {
      store: this.d.store,
      catalog: this.d.catalog,
      config: this.d.config,
      logger: this.d.logger,
      trustDomain: this.d.ca.trustDomain,
      rootPems: () => [this.d.ca.root.certPem],
      serverAddresses: () => this.peeringAddresses(),
      heartbeatMs: this.d.options.heartbeatMs,
      timeoutMs: this.d.options.timeoutMs,
      onMessage: (direction, type) => this.d.onMessage?.(name, direction, type),
    };
  }

  private startDialer(name: string): void {
    if (this.stopped) return;
    const live = this.liveFor(name);
    live.dialer?.stop();
    live.status = newStreamStatus();
    const loop = new DialerLoop(
      name,
      live.status,
      this.sessionDeps(name),
      {
        record: () => this.d.store.get<PeeringRecord>(PEERINGS, peeringKey(name))?.value,
        onConnected: (session) => {
          live.session = session;
          this.d.logger.info({ peer: name }, 'peering stream connected');
          void this.markActive(name);
          this.noteStream(name, true);
        },
        onDisconnected: () => this.noteStream(name, false),
        onTerminated: (reason) => this.terminatedByPeer(name, reason),
      },
      {
        redialBaseMs: this.d.options.redialBaseMs,
        redialMaxMs: this.d.options.redialMaxMs,
        maxMessageBytes: this.d.options.maxMessageBytes,
        localDatacenter: this.d.datacenter,
      },
      this.d.logger,
    );
    live.dialer = loop;
  }

  /** Records a stream (dis)connection so blocking reads of the peering wake on the state change. */
  private noteStream(name: string, connected: boolean): void {
    if (this.stopped) return;
    void this.d.store
      .write((tx) => {
        if (tx.get(PEERINGS, peeringKey(name)) === undefined) return;
        const event: StreamEvent = { Connected: connected, At: new Date().toISOString() };
        tx.put(STREAM_EVENTS, peeringKey(name), event);
      })
      .catch((err: unknown) => this.d.logger.warn({ peer: name, err }, 'cannot record a stream event'));
  }

  private async markActive(name: string): Promise<void> {
    await this.d.store.write((tx) => {
      const cur = tx.get<PeeringRecord>(PEERINGS, peeringKey(name))?.value;
      if (cur && (cur.State === 'ESTABLISHING' || cur.State === 'PENDING')) {
        tx.put(PEERINGS, peeringKey(name), {
          ...cur,
          State: 'ACTIVE',
          StateChangedAt: new Date().toISOString(),
        });
      }
    });
  }

  // ---- the acceptor's gRPC handlers ----

  grpcImplementation(): PeeringServiceImplementation {
    return {
      exchange: (call, callback) => {
        this.handleExchange(call.request).then(
          (streamSecret) => callback(null, { streamSecret }),
          (err: unknown) => callback(toGrpcError(err)),
        );
      },
      streamResources: (call) =>
        this.handleStream(call as unknown as MessageStream & { on: MessageStream['on'] }),
    };
  }

  private async handleExchange(request: ExchangeRequest): Promise<string> {
    const { peerId, establishmentSecret: secret } = request;
    const streamSecret = randomUUID();
    const { result: name } = await this.d.store.write((tx) => {
      const secrets = tx.get<PeeringSecrets>(PEERING_SECRETS, peerId)?.value;
      const record = this.recordById(peerId);
      if (secrets === undefined || record === undefined || record.Role !== 'acceptor') {
        throw new GrpcFailure(
          grpc.status.NOT_FOUND,
          `no peering with ID ${peerId} here: it was deleted, or the token is from another cluster`,
        );
      }
      if (secrets.UsedEstablishment.includes(secret)) {
        throw new GrpcFailure(
          grpc.status.FAILED_PRECONDITION,
          'the establishment secret in this token was already used; generate a new token on the accepting cluster',
        );
      }
      if (secrets.ReplacedEstablishment.includes(secret)) {
        throw new GrpcFailure(
          grpc.status.FAILED_PRECONDITION,
          'this token was replaced by a newer one generated for the same peer; use the newest token',
        );
      }
      const est = secrets.Establishment;
      if (est === undefined || !sameSecret(est.Secret, secret)) {
        throw new GrpcFailure(
          grpc.status.PERMISSION_DENIED,
          'the establishment secret does not match (was the token altered?); generate a new token',
        );
      }
      if (Date.parse(est.ExpiresAt) < Date.now()) {
        throw new GrpcFailure(
          grpc.status.FAILED_PRECONDITION,
          `the token expired at ${est.ExpiresAt}; generate a new token on the accepting cluster`,
        );
      }
      tx.put<PeeringSecrets>(PEERING_SECRETS, peerId, {
        ...secrets,
        Establishment: undefined,
        UsedEstablishment: [...secrets.UsedEstablishment, secret].slice(-20),
        Stream: streamSecret,
      });
      // ACTIVE once the dialer opens the stream (acceptStream); until then it is being established.
      // Who the dialer is comes with the secret that authenticates it, and only from here.
      // Another dialer (a new token used elsewhere) brings its own trust domain: forget the old bundle.
      if (request.dialerPeeringId !== '' && request.dialerPeeringId !== record.PeerID)
        tx.delete(TRUST_BUNDLES, peeringKey(record.Name));
      tx.put(PEERINGS, peeringKey(record.Name), {
        ...record,
        ...(record.State === 'PENDING'
          ? { State: 'ESTABLISHING', StateChangedAt: new Date().toISOString() }
          : {}),
        PeerID: request.dialerPeeringId || record.PeerID,
        Remote: { ...record.Remote, Datacenter: request.remoteDatacenter || record.Remote.Datacenter },
      });
      return record.Name;
    });
    // A new stream secret replaces the old one: a stream opened with it must reconnect.
    this.live.get(name)?.session?.stop();
    this.d.logger.info({ peer: name }, 'peer exchanged its establishment secret');
    return streamSecret;
  }

  private recordById(id: string): PeeringRecord | undefined {
    return this.d.store.list<PeeringRecord>(PEERINGS).find((e) => e.value.ID === id)?.value;
  }

  private handleStream(call: MessageStream): void {
    const refuse = (code: grpc.status, details: string): void => {
      (call as unknown as grpc.ServerDuplexStream<unknown, unknown>).emit('error', { code, details });
    };
    const timer = setTimeout(
      () => refuse(grpc.status.DEADLINE_EXCEEDED, 'the stream must start with an open message'),
      10_000,
    );
    let opened = false;
    const onFirst = (m: ReplicationMessage): void => {
      if (opened) return;
      opened = true;
      clearTimeout(timer);
      if (m.payload.case !== 'open') {
        refuse(grpc.status.INVALID_ARGUMENT, 'the first message on a peering stream must be open');
        return;
      }
      const open = m.payload.value;
      const record = this.recordById(open.peerId);
      const secrets = this.d.store.get<PeeringSecrets>(PEERING_SECRETS, open.peerId)?.value;
      if (
        record === undefined ||
        secrets === undefined ||
        record.Role !== 'acceptor' ||
        record.State === 'DELETING' ||
        record.State === 'TERMINATED'
      ) {
        refuse(grpc.status.NOT_FOUND, `no peering with ID ${open.peerId} here (it was deleted)`);
        return;
      }
      if (secrets.Stream === undefined || !sameSecret(secrets.Stream, open.streamSecret)) {
        refuse(
          grpc.status.PERMISSION_DENIED,
          'the stream secret is wrong or was replaced; establish again with a new token',
        );
        return;
      }
      this.acceptStream(record, call);
    };
    call.on('data', onFirst);
  }

  private acceptStream(record: PeeringRecord, call: MessageStream): void {
    const name = record.Name;
    const live = this.liveFor(name);
    live.session?.stop();
    live.status = { ...newStreamStatus(), connected: true, connectedAt: new Date(), lastReceive: new Date() };
    const session = new ReplicationSession(name, call, live.status, this.sessionDeps(name));
    live.session = session;
    this.d.logger.info({ peer: name }, 'accepted a peering stream');
    session.start();
    void this.markActive(name);
    this.noteStream(name, true);
    void session.done.then((end) => {
      if (live.session === session) live.session = undefined;
      if (end.reason !== 'terminated') this.noteStream(name, false);
      if (end.reason === 'terminated')
        void this.terminatedByPeer(name, 'the peer deleted this peering (it sent Terminated)');
      else if (end.reason === 'closed')
        this.d.logger.warn({ peer: name, error: end.message }, 'peering stream ended');
    });
  }
}

class GrpcFailure extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

function toGrpcError(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof GrpcFailure) return { code: err.code, details: err.message };
  if (err instanceof MeshpeerError) return { code: grpc.status.INVALID_ARGUMENT, details: err.message };
  return { code: grpc.status.INTERNAL, details: 'internal error on the accepting server' };
}

/** A grpc-js error's details without its boilerplate. */
function grpcDetail(e: grpc.ServiceError): string {
  return cleanGrpcDetails(e.details || e.message);
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function checkName(name: unknown): void {
  if (typeof name !== 'string' || name === '') throw invalid('PeerName: is required');
  if (!isValidPeerName(name))
    throw invalid(`PeerName: ${peerNameProblem(name) ?? 'is not a valid peer name'}`);
}

function newRecord(
  name: string,
  role: 'acceptor' | 'dialer',
  state: PeeringRecord['State'],
  meta: Record<string, string>,
): PeeringRecord {
  return {
    ID: randomUUID(),
    Name: name,
    Role: role,
    State: state,
    PeerID: '',
    PeerServerName: '',
    PeerServerAddresses: [],
    PeerCAPems: [],
    Remote: { Datacenter: '', Partition: 'default' },
    Meta: meta,
    StateChangedAt: new Date().toISOString(),
  };
}
