// A hand-driven peering client for tests that play a peer: exchanges a token's secret and opens
// replication streams over real gRPC + TLS, recording what arrives and the final status.
import type * as grpc from '@grpc/grpc-js';
import {
  Operation,
  type ReplicationMessage,
  type ReplicationMessage_Request,
} from '../../src/peering/gen/meshpeer/peering/v1/peering_pb.js';
import { createClient } from '../../src/peering/transport/grpc-service.js';
import { PeeringService, type PeeringServiceClient } from '../../src/peering/transport/protocol.js';
import { dialerCredentials } from '../../src/peering/transport/tls.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Clients and heartbeat timers opened by hand-made peers; a test file's afterEach calls closeHandPeers(). */
const clients: PeeringServiceClient[] = [];
const timers: NodeJS.Timeout[] = [];

export function closeHandPeers(): void {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const c of clients.splice(0)) c.close();
}

export interface Token {
  CA: string[];
  ServerAddresses: string[];
  ServerName: string;
  PeerID: string;
  EstablishmentSecret: string;
}

export function clientFor(token: Token): PeeringServiceClient {
  const tls = dialerCredentials({ caPems: token.CA, serverName: token.ServerName });
  const client = createClient(PeeringService, token.ServerAddresses[0] ?? '', tls.credentials, {
    channelOptions: tls.channelOptions,
    maxMessageBytes: 1024 * 1024,
  });
  clients.push(client);
  return client;
}

/** A hand-driven peering stream: records what arrives and the final status. */
export function openStream(client: PeeringServiceClient, peerId: string, streamSecret: string) {
  const call = client.streamResources();
  const received: ReplicationMessage[] = [];
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  call.on('data', (m: ReplicationMessage) => received.push(m));
  call.on('error', () => undefined);
  call.write({
    payload: {
      case: 'open',
      value: { peerId, streamSecret, remoteDatacenter: 'hand-dc', remotePartition: 'default' },
    },
  });
  // Keep the acceptor's silence watchdog (1.5 s here) happy.
  timers.push(setInterval(() => call.write({ payload: { case: 'heartbeat', value: {} } }), 200));
  let nonce = 0;
  const send = (
    resourceUrl: string,
    resourceId: string,
    doc: unknown,
    operation = Operation.UPSERT,
  ): string => {
    const n = `hand-${++nonce}`;
    const body = typeof doc === 'string' ? doc : JSON.stringify(doc);
    call.write({
      payload: {
        case: 'response',
        value: { resourceUrl, resourceId, nonce: n, operation, resource: Buffer.from(body) },
      },
    });
    return n;
  };
  const ackFor = async (n: string, timeoutMs = 5000): Promise<ReplicationMessage_Request> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const m of received) {
        if (m.payload.case === 'request' && m.payload.value.responseNonce === n) return m.payload.value;
      }
      await sleep(20);
    }
    throw new Error(`no ACK/NACK for ${n}`);
  };
  return { call, received, status, send, ackFor };
}

export async function exchange(client: PeeringServiceClient, token: Token): Promise<string> {
  const r = await client.exchange(
    { peerId: token.PeerID, establishmentSecret: token.EstablishmentSecret },
    { deadline: Date.now() + 5000 },
  );
  return r.streamSecret;
}

export const decode = (t: string): Token => JSON.parse(Buffer.from(t, 'base64').toString('utf8')) as Token;
