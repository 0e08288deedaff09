// The acceptor's gRPC service: Exchange trades a token's establishment secret for a stream secret, and
// StreamResources authenticates a dialer's stream by its first (open) message before handing it to a
// replication session. The decisions are in auth.ts; this file maps them to gRPC status codes. A server
// that does not lead its cluster turns streams away, naming the leader; any server answers Exchange.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { MeshpeerError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import { type RefusalKind, streamRefusal } from './auth.js';
import type { ExchangeRequest, ReplicationMessage } from './gen/meshpeer/peering/v1/peering_pb.js';
import { type PeeringRecord, recordById, secretsOf } from './records.js';
import type { MessageStream } from './session.js';
import { EstablishmentRefused, exchangeEstablishment } from './state-machine.js';
import type { PeeringServiceImplementation } from './transport/protocol.js';

/** How long a new stream may take to send its open message. */
const OPEN_TIMEOUT_MS = 10_000;

/** The status code each refusal is answered with; the dialer treats NOT_FOUND on a stream as "deleted". */
const REFUSAL_CODES: Record<RefusalKind, grpc.status> = {
  'unknown-peering': grpc.status.NOT_FOUND,
  'secret-used': grpc.status.FAILED_PRECONDITION,
  'secret-replaced': grpc.status.FAILED_PRECONDITION,
  'secret-expired': grpc.status.FAILED_PRECONDITION,
  'secret-mismatch': grpc.status.PERMISSION_DENIED,
  'stream-secret-mismatch': grpc.status.PERMISSION_DENIED,
};

export interface AcceptorDeps {
  store: Store;
  logger: Logger;
  /** Runs a replication session on an authenticated stream. */
  accept(record: PeeringRecord, call: MessageStream): void;
  /** Ends the peering's current session (its stream secret was replaced). */
  endSession(name: string): void;
  /** Undefined while this server leads; otherwise why it turns streams away (leader-redirect.ts). */
  notLeader(): string | undefined;
}

export function acceptorService(d: AcceptorDeps): PeeringServiceImplementation {
  return {
    exchange: (call, callback) => {
      exchange(d, call.request).then(
        (streamSecret) => callback(null, { streamSecret }),
        (err: unknown) => callback(toGrpcError(err)),
      );
    },
    // grpc-js's duplex stream is the MessageStream a session uses; the cast stays here.
    streamResources: (call) => acceptStream(d, call as unknown as MessageStream),
  };
}

async function exchange(d: AcceptorDeps, request: ExchangeRequest): Promise<string> {
  const streamSecret = randomUUID();
  const { result: name } = await d.store.write((tx) =>
    exchangeEstablishment(tx, {
      peerId: request.peerId,
      establishmentSecret: request.establishmentSecret,
      streamSecret,
      dialerPeeringId: request.dialerPeeringId,
      remoteDatacenter: request.remoteDatacenter,
    }),
  );
  // A new stream secret replaces the old one: a stream opened with it must reconnect.
  d.endSession(name);
  d.logger.info({ peer: name }, 'peer exchanged its establishment secret');
  return streamSecret;
}

/** Waits for the stream's open message and accepts the stream only if it names a peering and its secret. */
function acceptStream(d: AcceptorDeps, call: MessageStream): void {
  const refuse = (code: grpc.status, details: string): void => {
    (call as unknown as grpc.ServerDuplexStream<unknown, unknown>).emit('error', { code, details });
  };
  // Only the leader runs streams; the dialer follows the address in the refusal.
  const notLeader = d.notLeader();
  if (notLeader !== undefined) {
    refuse(grpc.status.FAILED_PRECONDITION, notLeader);
    return;
  }
  const timer = setTimeout(
    () => refuse(grpc.status.DEADLINE_EXCEEDED, 'the stream must start with an open message'),
    OPEN_TIMEOUT_MS,
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
    const record = recordById(d.store, open.peerId);
    const refusal = streamRefusal(record, secretsOf(d.store, open.peerId), open.peerId, open.streamSecret);
    if (refusal !== undefined || record === undefined) {
      refuse(REFUSAL_CODES[refusal?.kind ?? 'unknown-peering'], refusal?.message ?? 'no such peering');
      return;
    }
    d.logger.info({ peer: record.Name }, 'accepted a peering stream');
    d.accept(record, call);
  };
  call.on('data', onFirst);
}

function toGrpcError(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof EstablishmentRefused)
    return { code: REFUSAL_CODES[err.refusal.kind], details: err.refusal.message };
  if (err instanceof MeshpeerError) return { code: grpc.status.INVALID_ARGUMENT, details: err.message };
  return { code: grpc.status.INTERNAL, details: 'internal error on the accepting server' };
}
