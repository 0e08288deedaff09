// Establishing a peering, before any stream: the acceptor issues a token (an establishment secret and
// how to reach and verify its servers); the dialer checks the token, trades the secret for a stream
// secret at the acceptor over TLS, and records the peering. Record writes go through state-machine.ts.
import { randomUUID } from 'node:crypto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import type { CertificateAuthority } from '../ca/authority.js';
import type { Catalog } from '../catalog/catalog.js';
import type { ConfigEntries } from '../config-entries/config-store.js';
import { isValidPeerName, peerNameProblem } from '../config-entries/names.js';
import { conflict, invalid, isMeshpeerError, unavailable } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import { localMeshGateways, localMeshGatewaysInside } from './exporter.js';
import { type ExchangeRequestSchema, PeeringService } from './gen/meshpeer/peering/v1/peering_pb.js';
import { type PeeringRecord, recordByName } from './records.js';
import { clearPendingDial, issueEstablishment, notePendingDial, recordEstablished } from './state-machine.js';
import { decodePeeringToken, encodePeeringToken, type PeeringToken, tokenAddresses } from './token.js';
import { cleanGrpcDetails, createClient } from './transport/grpc-service.js';
import { dialerCredentials } from './transport/tls.js';

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

export interface EstablishmentDeps {
  store: Store;
  catalog: Catalog;
  config: ConfigEntries;
  ca: CertificateAuthority;
  logger: Logger;
  datacenter: string;
  grpcAddresses: () => string[];
  secretTtlMs: number;
  exchangeTimeoutMs: number;
}

export class Establishment {
  constructor(private readonly d: EstablishmentDeps) {}

  /** Acceptor: a token for `PeerName`, whose secret replaces any earlier token's. */
  async generateToken(req: TokenRequest): Promise<{ PeeringToken: string }> {
    checkPeerName(req.PeerName);
    // As Consul: ServerAddresses are this cluster's own (or its gateways'); external addresses the
    // operator gives travel as ManualServerAddresses, which a dialer uses instead when present.
    const addresses = this.advertisedAddresses();
    const secret = randomUUID();
    const expiresAt = new Date(Date.now() + this.d.secretTtlMs).toISOString();
    const { result: record } = await this.d.store.write((tx) =>
      issueEstablishment(tx, { name: req.PeerName, meta: req.Meta, secret, expiresAt }, this.d.catalog),
    );
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

  /**
   * Dialer: exchanges the token's secret at the acceptor and records the peering as ESTABLISHING.
   * `beforeRecord` runs between the exchange and the write (the caller stops a stream of the old record).
   */
  async establish(req: EstablishRequest, beforeRecord: () => void): Promise<void> {
    checkPeerName(req.PeerName);
    const token = decodePeeringToken(req.PeeringToken);
    const existing = recordByName(this.d.store, req.PeerName);
    const problem = establishProblem(req.PeerName, token, existing, {
      rootPem: this.d.ca.root.certPem,
      serverName: this.d.ca.serverName,
    });
    if (problem !== undefined) throw problem;

    // Our ID for this peering goes to the acceptor with the secret, so it is decided before the exchange.
    const dialerId = existing !== undefined && existing.PeerID === token.PeerID ? existing.ID : randomUUID();
    const request = {
      peerId: token.PeerID,
      establishmentSecret: token.EstablishmentSecret,
      remoteDatacenter: this.d.datacenter,
      dialerPeeringId: dialerId,
    };
    const acceptor = { addresses: tokenAddresses(token), ca: token.CA, serverName: token.ServerName };
    const streamSecret = this.throughGateways()
      ? await this.exchangeThroughGateways(req.PeerName, request, acceptor)
      : await exchangeAtAcceptor(request, acceptor, this.d.exchangeTimeoutMs, this.d.logger);
    beforeRecord();
    await this.d.store.write((tx) =>
      recordEstablished(
        tx,
        {
          name: req.PeerName,
          meta: req.Meta,
          id: dialerId,
          peerId: token.PeerID,
          peerServerName: token.ServerName,
          peerServerAddresses: tokenAddresses(token),
          peerCAPems: token.CA,
          remote: token.Remote,
          manualServerAddresses: (token.ManualServerAddresses?.length ?? 0) > 0,
          streamSecret,
        },
        this.d.catalog,
      ),
    );
    this.d.logger.info(
      { peer: req.PeerName, addresses: tokenAddresses(token) },
      'established a peering; opening the stream',
    );
  }

  /**
   * Where peers should dial this cluster's servers: the registered mesh gateways when the mesh entry
   * says peering goes through them (never the servers themselves then), the gRPC addresses otherwise.
   */
  peeringAddresses(): string[] {
    if (!this.throughGateways()) return this.d.grpcAddresses();
    return localMeshGateways(this.d.catalog).map((g) => `${g.Address}:${g.Port}`);
  }

  /** Whether Mesh.Peering.PeerThroughMeshGateways sends this cluster's peering traffic through its gateways. */
  private throughGateways(): boolean {
    return this.d.config.get('mesh', 'mesh')?.Peering?.PeerThroughMeshGateways === true;
  }

  /**
   * Where this cluster's servers dial a peer's: the peer's addresses, or this cluster's own mesh
   * gateways when the mesh entry says peering goes through them (they route by the TLS server name).
   */
  dialAddresses(peerAddresses: string[]): string[] {
    if (!this.throughGateways()) return peerAddresses;
    return localMeshGatewaysInside(this.d.catalog).map((g) => `${g.Address}:${g.Port}`);
  }

  /**
   * The exchange through this cluster's own gateways: they learn where the peer's servers are from a
   * pending dial, which the record replaces on success and which is removed on failure. A gateway
   * refuses the connection until its blocking watch has seen the pending dial, so refusals are retried
   * for a moment.
   */
  private async exchangeThroughGateways(
    name: string,
    request: MessageInitShape<typeof ExchangeRequestSchema>,
    acceptor: { addresses: string[]; ca: string[]; serverName: string },
  ): Promise<string> {
    const gateways = this.dialAddresses(acceptor.addresses);
    if (gateways.length === 0) {
      throw invalid(
        'the mesh config entry sets Peering.PeerThroughMeshGateways, so this cluster dials its peers through ' +
          'its own mesh gateways, but none is registered: start one (meshpeer gateway --register) and retry',
      );
    }
    await this.d.store.write((tx) =>
      notePendingDial(tx, {
        PeerName: name,
        PeerServerName: acceptor.serverName,
        Addresses: acceptor.addresses,
        Since: new Date().toISOString(),
      }),
    );
    let established = false;
    try {
      const deadline = Date.now() + this.d.exchangeTimeoutMs;
      for (;;) {
        try {
          const secret = await exchangeAtAcceptor(
            request,
            { ...acceptor, addresses: gateways },
            this.d.exchangeTimeoutMs,
            this.d.logger,
          );
          established = true;
          return secret;
        } catch (err) {
          // A refusal by the acceptor is final; an unreachable one may be our gateway not routing yet.
          const unreachable = isMeshpeerError(err) && err.kind === 'unavailable';
          if (!unreachable) throw err;
          if (Date.now() >= deadline) throw throughGatewaysUnavailable(acceptor, gateways);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    } finally {
      // On success the record written next removes the pending dial in the same transaction.
      if (!established) await this.d.store.write((tx) => clearPendingDial(tx, name)).catch(() => undefined);
    }
  }

  /** The addresses a token tells the dialer to use: the gateways when peering goes through them. */
  private advertisedAddresses(): string[] {
    const addresses = this.peeringAddresses();
    if (addresses.length === 0) {
      throw invalid(
        'the mesh config entry sets Peering.PeerThroughMeshGateways but no mesh gateway is registered: ' +
          'start a mesh gateway (meshpeer gateway --register) before generating the token (a registered ' +
          'gateway counts once it passes its health checks)',
      );
    }
    return addresses;
  }
}

/**
 * Why the dialer cannot establish `name` with `token`, before asking the acceptor anything: the token
 * is this cluster's own, the name belongs to a peering this cluster accepts, or it is being deleted.
 */
export function establishProblem(
  name: string,
  token: PeeringToken,
  existing: PeeringRecord | undefined,
  own: { rootPem: string; serverName: string },
): Error | undefined {
  if (token.CA.includes(own.rootPem) || token.ServerName === own.serverName)
    return invalid('PeeringToken: was generated by this cluster; establish with it on the other cluster');
  if (existing?.Role === 'acceptor' && existing.State !== 'TERMINATED')
    return invalid(
      `PeerName: a peering named ${JSON.stringify(name)} was generated on this cluster (it accepts ` +
        'connections); use another name for the peering you establish',
    );
  if (existing?.State === 'DELETING')
    return conflict(`peering ${JSON.stringify(name)} is being deleted; retry in a moment`);
  return undefined;
}

/**
 * Trades the establishment secret for a stream secret at the acceptor, trying each address in turn.
 * A refusal from the acceptor is the caller's to fix (`invalid`); an address that cannot be reached or
 * verified is tried no further, and why is logged at debug only.
 */
export async function exchangeAtAcceptor(
  request: MessageInitShape<typeof ExchangeRequestSchema>,
  acceptor: { addresses: string[]; ca: string[]; serverName: string },
  timeoutMs: number,
  logger: Logger,
): Promise<string> {
  const { addresses, serverName } = acceptor;
  const tls = dialerCredentials({ caPems: acceptor.ca, serverName });
  for (const address of addresses) {
    const client = createClient(PeeringService, address, tls.credentials, {
      channelOptions: tls.channelOptions,
    });
    try {
      const res = await client.exchange(request, { deadline: Date.now() + timeoutMs });
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
      // Echoed to the caller, why one address failed (refused, timed out, certificate not verified)
      // would make establish a port and TLS scanner for anyone allowed to write peerings.
      logger.debug(
        { address, serverName, error: cleanGrpcDetails(e.details || e.message) },
        'peering exchange failed',
      );
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

function throughGatewaysUnavailable(
  acceptor: { addresses: string[]; serverName: string },
  gateways: string[],
): Error {
  return unavailable(
    `could not reach the peer's servers (${acceptor.addresses.join(', ')}, as ${JSON.stringify(acceptor.serverName)}) ` +
      `through this cluster's mesh gateways at ${gateways.join(', ')} (Mesh.Peering.PeerThroughMeshGateways is on). ` +
      "Check that the gateways run and can reach those addresses; their logs and this server's debug log say why",
  );
}

export function checkPeerName(name: unknown): void {
  if (typeof name !== 'string' || name === '') throw invalid('PeerName: is required');
  if (!isValidPeerName(name))
    throw invalid(`PeerName: ${peerNameProblem(name) ?? 'is not a valid peer name'}`);
}
