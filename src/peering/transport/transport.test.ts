import { webcrypto } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
// The project's entry point to @peculiar/x509 (it installs the Reflect shim the library needs first).
import * as x509 from '../../ca/x509.js';
import {
  Operation,
  type ReplicationMessage,
  ReplicationMessageSchema,
} from '../gen/meshpeer/peering/v1/peering_pb.js';
import {
  addService,
  createClient,
  createServer,
  grpcServiceDefinition,
  listen,
  shutdownServer,
} from './grpc-service.js';
import {
  isResourceUrl,
  PeeringService,
  type PeeringServiceClient,
  type PeeringServiceImplementation,
  ResourceUrl,
} from './protocol.js';
import { dialerCredentials, serverCredentials } from './tls.js';

// ---- fixture: a throwaway ECDSA P-256 CA and a server certificate it signs ----
// @peculiar/x509 finds no WebCrypto by itself in Node; every call is given node's.

interface TestCa {
  caPem: string;
  keys: webcrypto.CryptoKeyPair;
  cert: x509.X509Certificate;
}

interface ServerCert {
  certPem: string;
  keyPem: string;
}

const SERVER_NAME = 'server.dc1.peering.11111111-2222-3333-4444-555555555555.consul';
const ECDSA = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

async function makeCa(commonName: string): Promise<TestCa> {
  const keys = await webcrypto.subtle.generateKey(ECDSA, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: `CN=${commonName}`,
      keys,
      signingAlgorithm: SIGNING,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  return { caPem: cert.toString('pem'), keys, cert };
}

async function makeServerCert(ca: TestCa, dnsName: string): Promise<ServerCert> {
  const keys = await webcrypto.subtle.generateKey(ECDSA, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create(
    {
      subject: `CN=${dnsName}`,
      issuer: ca.cert.subject,
      publicKey: keys.publicKey,
      signingKey: ca.keys.privateKey,
      signingAlgorithm: SIGNING,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: dnsName }]),
        await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: cert.toString('pem'), keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}

// ---- a scripted acceptor ----

const PEER_ID = 'a3b1c2d4-0000-4000-8000-000000000001';
const ESTABLISHMENT_SECRET = 'establish-me';
const STREAM_SECRET = 'stream-secret-1';

interface AcceptorLog {
  opens: ReplicationMessage[];
  requests: ReplicationMessage[];
}

function scriptedAcceptor(log: AcceptorLog): PeeringServiceImplementation {
  return {
    exchange(call, callback) {
      const { peerId, establishmentSecret } = call.request;
      if (peerId !== PEER_ID || establishmentSecret !== ESTABLISHMENT_SECRET) {
        callback({ name: 'Error', message: 'bad secret', code: grpc.status.PERMISSION_DENIED });
        return;
      }
      callback(null, { streamSecret: STREAM_SECRET });
    },
    streamResources(call) {
      let opened = false;
      call.on('data', (message: ReplicationMessage) => {
        const { payload } = message;
        if (!opened) {
          if (payload.case !== 'open' || payload.value.streamSecret !== STREAM_SECRET) {
            call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: 'first message must open' });
            return;
          }
          opened = true;
          log.opens.push(message);
          call.write({
            payload: {
              case: 'response',
              value: {
                resourceUrl: ResourceUrl.ExportedService,
                resourceId: 'web',
                nonce: '1',
                operation: Operation.UPSERT,
                resource: new TextEncoder().encode(JSON.stringify({ Service: 'web', Port: 8080 })),
              },
            },
          });
          return;
        }
        if (payload.case === 'response') {
          // The dialer replicates too; acknowledge it.
          call.write({
            payload: {
              case: 'request',
              value: { resourceUrl: payload.value.resourceUrl, responseNonce: payload.value.nonce },
            },
          });
          return;
        }
        if (payload.case !== 'request') return;
        log.requests.push(message);
        if (payload.value.responseNonce === '1') {
          // An ACK for the upsert: follow with a delete the dialer will NACK.
          call.write(
            create(ReplicationMessageSchema, {
              payload: {
                case: 'response',
                value: {
                  resourceUrl: ResourceUrl.ExportedService,
                  resourceId: 'web',
                  nonce: '2',
                  operation: Operation.DELETE,
                },
              },
            }),
          );
        } else if (payload.value.responseNonce === '2') {
          call.write({ payload: { case: 'terminated', value: {} } });
          call.end();
        }
      });
      call.on('error', () => {});
    },
  };
}

// ---- harness ----

let caA: TestCa;
let caB: TestCa;
let serverCert: ServerCert;

const servers: grpc.Server[] = [];
const clients: PeeringServiceClient[] = [];

beforeAll(async () => {
  caA = await makeCa('meshpeer test CA A');
  caB = await makeCa('meshpeer test CA B');
  serverCert = await makeServerCert(caA, SERVER_NAME);
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(servers.splice(0).map((server) => shutdownServer(server, 100)));
});

async function startAcceptor(
  log: AcceptorLog,
  options: { maxMessageBytes?: number; implementation?: PeeringServiceImplementation } = {},
): Promise<string> {
  const server = createServer({ maxMessageBytes: options.maxMessageBytes });
  servers.push(server);
  addService(server, PeeringService, options.implementation ?? scriptedAcceptor(log));
  const port = await listen(
    server,
    '127.0.0.1:0',
    serverCredentials({ certChainPem: serverCert.certPem, privateKeyPem: serverCert.keyPem }),
  );
  return `127.0.0.1:${port}`;
}

function dial(
  address: string,
  target: { caPems: string[]; serverName: string },
  maxMessageBytes?: number,
): PeeringServiceClient {
  const tls = dialerCredentials(target);
  const client = createClient(PeeringService, address, tls.credentials, {
    channelOptions: tls.channelOptions,
    maxMessageBytes,
  });
  clients.push(client);
  return client;
}

function soon(ms = 5000): Date {
  return new Date(Date.now() + ms);
}

function newLog(): AcceptorLog {
  return { opens: [], requests: [] };
}

/** Resolves with the status that ends a streaming call. */
function finalStatus<Req, Res>(call: grpc.ClientDuplexStream<Req, Res>): Promise<grpc.StatusObject> {
  return new Promise((resolve) => {
    call.on('error', () => {});
    call.on('status', resolve);
  });
}

// ---- tests ----

describe('grpcServiceDefinition', () => {
  it('maps methods to grpc paths and streaming flags', () => {
    const definition = grpcServiceDefinition(PeeringService);
    expect(definition.exchange.path).toBe('/meshpeer.peering.v1.PeeringService/Exchange');
    expect(definition.exchange.requestStream).toBe(false);
    expect(definition.exchange.responseStream).toBe(false);
    expect(definition.streamResources.path).toBe('/meshpeer.peering.v1.PeeringService/StreamResources');
    expect(definition.streamResources.requestStream).toBe(true);
    expect(definition.streamResources.responseStream).toBe(true);
    expect(definition.streamResources.originalName).toBe('StreamResources');
  });

  it('knows the resource URLs', () => {
    expect(isResourceUrl('type.meshpeer.io/PeeringTrustBundle')).toBe(true);
    expect(isResourceUrl('type.meshpeer.io/Nope')).toBe(false);
  });
});

describe('peering transport over TLS', () => {
  it('exchanges the establishment secret for a stream secret', async () => {
    const address = await startAcceptor(newLog());
    const client = dial(address, { caPems: [caA.caPem], serverName: SERVER_NAME });

    const response = await client.exchange(
      { peerId: PEER_ID, establishmentSecret: ESTABLISHMENT_SECRET },
      { deadline: soon() },
    );
    expect(response.$typeName).toBe('meshpeer.peering.v1.ExchangeResponse');
    expect(response.streamSecret).toBe(STREAM_SECRET);

    const refused = client.exchange({ peerId: PEER_ID, establishmentSecret: 'wrong' }, { deadline: soon() });
    await expect(refused).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  });

  it('runs a bidirectional replication stream: open, responses, ACK and NACK', async () => {
    const log = newLog();
    const address = await startAcceptor(log);
    const client = dial(address, { caPems: [caA.caPem], serverName: SERVER_NAME });
    const { streamSecret } = await client.exchange(
      { peerId: PEER_ID, establishmentSecret: ESTABLISHMENT_SECRET },
      { deadline: soon() },
    );

    const stream = client.streamResources();
    const status = finalStatus(stream);
    const received: ReplicationMessage[] = [];
    stream.on('data', (message: ReplicationMessage) => {
      received.push(message);
      const { payload } = message;
      if (payload.case === 'response' && payload.value.nonce === '1') {
        stream.write({
          payload: { case: 'request', value: { resourceUrl: payload.value.resourceUrl, responseNonce: '1' } },
        });
      } else if (payload.case === 'response' && payload.value.nonce === '2') {
        stream.write({
          payload: {
            case: 'request',
            value: {
              resourceUrl: payload.value.resourceUrl,
              responseNonce: '2',
              error: { code: grpc.status.INVALID_ARGUMENT, message: 'unknown service web' },
            },
          },
        });
      } else if (payload.case === 'terminated') {
        stream.end();
      }
    });

    stream.write({
      payload: {
        case: 'open',
        value: { peerId: PEER_ID, streamSecret, remoteDatacenter: 'dc2', remotePartition: 'default' },
      },
    });

    expect((await status).code).toBe(grpc.status.OK);

    expect(log.opens).toHaveLength(1);
    const open = log.opens[0]!.payload;
    expect(open.case === 'open' && open.value).toMatchObject({
      peerId: PEER_ID,
      streamSecret: STREAM_SECRET,
      remoteDatacenter: 'dc2',
      remotePartition: 'default',
    });

    expect(received.map((m) => m.payload.case)).toEqual(['response', 'response', 'terminated']);
    const upsert = received[0]!.payload;
    expect(upsert.case).toBe('response');
    if (upsert.case === 'response') {
      expect(upsert.value.resourceUrl).toBe(ResourceUrl.ExportedService);
      expect(upsert.value.operation).toBe(Operation.UPSERT);
      expect(JSON.parse(new TextDecoder().decode(upsert.value.resource))).toEqual({
        Service: 'web',
        Port: 8080,
      });
    }
    const del = received[1]!.payload;
    expect(del.case === 'response' && del.value.operation).toBe(Operation.DELETE);

    const [ack, nack] = log.requests.map((m) => m.payload);
    expect(ack?.case === 'request' && ack.value.responseNonce).toBe('1');
    expect(ack?.case === 'request' && ack.value.error).toBeUndefined();
    expect(nack?.case === 'request' && nack.value.responseNonce).toBe('2');
    expect(nack?.case === 'request' && nack.value.error).toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      message: 'unknown service web',
    });
  });

  it('ends a stream that does not open with the stream secret', async () => {
    const address = await startAcceptor(newLog());
    const client = dial(address, { caPems: [caA.caPem], serverName: SERVER_NAME });
    const stream = client.streamResources({ deadline: soon() });
    const status = finalStatus(stream);
    stream.write({ payload: { case: 'heartbeat', value: {} } });
    expect((await status).code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('cancels a call when its signal aborts', async () => {
    const address = await startAcceptor(newLog());
    const client = dial(address, { caPems: [caA.caPem], serverName: SERVER_NAME });
    const controller = new AbortController();
    const stream = client.streamResources({ signal: controller.signal });
    const status = finalStatus(stream);
    controller.abort();
    expect((await status).code).toBe(grpc.status.CANCELLED);
  });

  it('fails the handshake when the dialer trusts a different CA', async () => {
    const address = await startAcceptor(newLog());
    const client = dial(address, { caPems: [caB.caPem], serverName: SERVER_NAME });
    const call = client.exchange(
      { peerId: PEER_ID, establishmentSecret: ESTABLISHMENT_SECRET },
      { deadline: soon() },
    );
    await expect(call).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it('fails the handshake when the certificate does not carry the server name', async () => {
    const address = await startAcceptor(newLog());
    const client = dial(address, { caPems: [caA.caPem], serverName: 'server.dc9.peering.other.consul' });
    const call = client.exchange(
      { peerId: PEER_ID, establishmentSecret: ESTABLISHMENT_SECRET },
      { deadline: soon() },
    );
    await expect(call).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it('verifies the token server name, not the dialed host', async () => {
    // Dialing by IP must still succeed: the identity check uses the server name.
    const address = await startAcceptor(newLog());
    const client = dial(address, { caPems: [caB.caPem, caA.caPem], serverName: SERVER_NAME });
    await client.waitForReady(soon());
    const response = await client.exchange({ peerId: PEER_ID, establishmentSecret: ESTABLISHMENT_SECRET });
    expect(response.streamSecret).toBe(STREAM_SECRET);
  });

  it('refuses a message over the server limit with RESOURCE_EXHAUSTED', async () => {
    const log = newLog();
    const address = await startAcceptor(log, { maxMessageBytes: 1024 });
    const client = dial(address, { caPems: [caA.caPem], serverName: SERVER_NAME });

    const unary = client.exchange(
      { peerId: PEER_ID, establishmentSecret: 'x'.repeat(2048) },
      { deadline: soon() },
    );
    await expect(unary).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });

    const stream = client.streamResources({ deadline: soon() });
    const status = finalStatus(stream);
    stream.write({
      payload: {
        case: 'open',
        value: {
          peerId: PEER_ID,
          streamSecret: 's'.repeat(4096),
          remoteDatacenter: 'dc2',
          remotePartition: '',
        },
      },
    });
    expect((await status).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(log.opens).toHaveLength(0);
  });

  it('refuses a message over the client limit with RESOURCE_EXHAUSTED, both ways', async () => {
    const address = await startAcceptor(newLog(), {
      implementation: {
        exchange: (_call, callback) => callback(null, { streamSecret: 'y'.repeat(4096) }),
        streamResources: (call) => call.end(),
      },
    });
    const client = dial(address, { caPems: [caA.caPem], serverName: SERVER_NAME }, 1024);

    // Receiving: the response is too large for the client.
    const tooLargeResponse = client.exchange(
      { peerId: PEER_ID, establishmentSecret: 's' },
      { deadline: soon() },
    );
    await expect(tooLargeResponse).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });

    // Sending: the request never leaves the client.
    const tooLargeRequest = client.exchange({ peerId: PEER_ID, establishmentSecret: 'z'.repeat(4096) });
    await expect(tooLargeRequest).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
  });
});

describe('TLS helpers', () => {
  it('refuses to dial without a CA or a server name', () => {
    expect(() => dialerCredentials({ caPems: [], serverName: SERVER_NAME })).toThrow(/no CA/);
    expect(() => dialerCredentials({ caPems: ['  '], serverName: SERVER_NAME })).toThrow(/no CA/);
    expect(() => dialerCredentials({ caPems: [caA.caPem], serverName: ' ' })).toThrow(/no server name/);
  });
});
