// The acceptor's gRPC surface under a hand-made client (src/peering/transport): streams opened with a
// wrong or replaced stream secret are refused, unknown resource types are NACKed, a peer cannot create or
// change local data, and oversized messages are refused.
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Operation } from '../../src/peering/gen/meshpeer/peering/v1/peering_pb.js';
import type { PeeringServiceClient } from '../../src/peering/transport/protocol.js';
import { clientFor, closeHandPeers, decode, exchange, openStream } from '../support/hand-peer.js';
import {
  api,
  Cluster,
  generateToken,
  health,
  instanceSet,
  readPeering,
  register,
  type ServerProcess,
  sleep,
} from './helpers.js';

const MAX_MESSAGE_BYTES = 16 * 1024;

const cluster = new Cluster();
afterAll(() => cluster.stopAll());
afterEach(closeHandPeers);

const instance = (node: string, id: string, service: string, port: number) => ({
  Node: { Node: node, Address: '10.9.9.9', Meta: {} },
  Service: { ID: id, Service: service, Kind: '', Tags: [], Address: '10.9.9.9', Port: port, Meta: {} },
  Checks: [{ CheckID: `c-${id}`, Name: 'c', Status: 'passing', Output: '' }],
});

describe('the acceptor refuses what it must', () => {
  let acc: ServerProcess;

  beforeAll(async () => {
    acc = await cluster.start('proto-acc', {
      extraArgs: ['--peering-max-message-bytes', String(MAX_MESSAGE_BYTES)],
    });
    await register(acc, { node: 'local-node', service: 'backend', id: 'backend-1', port: 7000 });
  });

  it('a wrong stream secret is PERMISSION_DENIED; an unknown peer ID NOT_FOUND; a first message that is not open INVALID_ARGUMENT', async () => {
    const token = decode(await generateToken(acc, 'hand-wrong'));
    const client = clientFor(token);
    await exchange(client, token);

    const wrong = openStream(client, token.PeerID, 'not-the-secret');
    const s1 = await wrong.status;
    expect(s1.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(s1.details).toMatch(/stream secret/);

    const unknown = openStream(client, '00000000-0000-0000-0000-000000000000', 'x');
    const s2 = await unknown.status;
    expect(s2.code).toBe(grpc.status.NOT_FOUND);

    const call = client.streamResources();
    call.on('error', () => undefined);
    const s3 = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.write({ payload: { case: 'heartbeat', value: {} } });
    expect((await s3).code).toBe(grpc.status.INVALID_ARGUMENT);

    // None of that made the peering look alive.
    expect((await readPeering(acc, 'hand-wrong'))?.State).not.toBe('ACTIVE');
  });

  it('an old stream secret (replaced by a new establishment) is PERMISSION_DENIED, and its stream is closed', async () => {
    const first = decode(await generateToken(acc, 'hand-old'));
    const client = clientFor(first);
    const oldSecret = await exchange(client, first);
    const live = openStream(client, first.PeerID, oldSecret);
    await expectEventually(() => live.received.length > 0);

    const second = decode(await generateToken(acc, 'hand-old'));
    expect(second.PeerID).toBe(first.PeerID);
    const newSecret = await exchange(client, second);
    expect(newSecret).not.toBe(oldSecret);

    // The stream opened with the old secret is ended by the acceptor.
    const liveStatus = await Promise.race([live.status, sleep(5000).then(() => undefined)]);
    expect(liveStatus, 'the old stream should be closed').toBeDefined();

    const stale = openStream(client, first.PeerID, oldSecret);
    const s = await stale.status;
    expect(s.code).toBe(grpc.status.PERMISSION_DENIED);

    const fresh = openStream(client, second.PeerID, newSecret);
    await expectEventually(() => fresh.received.some((m) => m.payload.case === 'response'));
  });

  it('NACKs an unknown resource type and malformed resources, ACKs good ones', async () => {
    const token = decode(await generateToken(acc, 'hand-nack'));
    const client = clientFor(token);
    const stream = openStream(client, token.PeerID, await exchange(client, token));

    const unknown = await stream.ackFor(stream.send('type.example.com/Nonsense', 'x', { a: 1 }));
    expect(unknown.error?.message).toMatch(/unknown resource type/);
    expect(unknown.resourceUrl).toBe('type.example.com/Nonsense');

    const notJson = await stream.ackFor(stream.send('type.meshpeer.io/ExportedService', 'svc', '{not json'));
    expect(notJson.error?.message).toMatch(/JSON/);

    const badShape = await stream.ackFor(
      stream.send('type.meshpeer.io/ExportedService', 'svc', { Name: 'svc', Instances: [{ Node: 1 }] }),
    );
    expect(badShape.error?.message).toMatch(/invalid exported service/);

    const idMismatch = await stream.ackFor(
      stream.send('type.meshpeer.io/ExportedService', 'other', { Name: 'svc', Instances: [] }),
    );
    expect(idMismatch.error?.message).toMatch(/does not match/);

    const good = await stream.ackFor(
      stream.send('type.meshpeer.io/ExportedService', 'svc', {
        Name: 'svc',
        Instances: [instance('remote-node', 'svc-1', 'svc', 1234)],
      }),
    );
    expect(good.error).toBeUndefined();
    expect(await instanceSet(acc, 'svc', 'hand-nack')).toEqual(['remote-node/svc-1:passing']);

    // The NACKs are visible in the peering's status; the stream stays up.
    const p = await readPeering(acc, 'hand-nack');
    expect(p?.State).toBe('ACTIVE');
  });

  it('a peer cannot create or change local data', async () => {
    const localBefore = await health(acc, 'backend', '');
    const nodesBefore = await api(`${acc.url}/v1/catalog/nodes`);
    const servicesBefore = await api(`${acc.url}/v1/catalog/services`);
    expect(localBefore.body.map((h) => h.Service.Port)).toEqual([7000]);

    const token = decode(await generateToken(acc, 'hand-evil'));
    const client = clientFor(token);
    const stream = openStream(client, token.PeerID, await exchange(client, token));

    // Same service name, same node name and service ID as the local instance, different port and health.
    const hijack = {
      Name: 'backend',
      Instances: [
        {
          ...instance('local-node', 'backend-1', 'backend', 6666),
          Checks: [{ CheckID: 'check:backend-1', Name: 'x', Status: 'critical', Output: 'pwned' }],
        },
        // A mesh gateway or proxy kind cannot be smuggled in either.
        {
          ...instance('local-node', 'gw', 'backend', 1),
          Service: { ...instance('local-node', 'gw', 'backend', 1).Service, Kind: 'mesh-gateway' },
        },
      ],
    };
    const ack = await stream.ackFor(stream.send('type.meshpeer.io/ExportedService', 'backend', hijack));
    expect(ack.error).toBeUndefined();
    // The authoritative list and a delete naming the local service.
    await stream.ackFor(stream.send('type.meshpeer.io/ExportedServiceList', 'all', { Names: [] }));
    await stream.ackFor(stream.send('type.meshpeer.io/ExportedService', 'backend', '', Operation.DELETE));
    await stream.ackFor(stream.send('type.meshpeer.io/ExportedService', 'backend', hijack));
    // Server addresses are only for dialers; an acceptor ignores them.
    await stream.ackFor(
      stream.send('type.meshpeer.io/ServerAddresses', 'servers', { Addresses: ['6.6.6.6:1'] }),
    );

    const localAfter = await health(acc, 'backend', '');
    expect(localAfter.body).toEqual(localBefore.body);
    expect((await api(`${acc.url}/v1/catalog/nodes`)).body).toEqual(nodesBefore.body);
    expect((await api(`${acc.url}/v1/catalog/services`)).body).toEqual(servicesBefore.body);

    // What the peer sent lives only under its name, as plain services.
    const imported = await health(acc, 'backend', 'hand-evil');
    expect(imported.body.map((h) => [h.Service.ID, h.Service.PeerName]).sort()).toEqual([
      ['backend-1', 'hand-evil'],
      ['gw', 'hand-evil'],
    ]);
    const kinds = await api<Array<{ ServiceKind: string }>>(
      `${acc.url}/v1/catalog/service/backend?peer=hand-evil`,
    );
    expect(kinds.body.map((s) => s.ServiceKind)).toEqual(['', '']);
    const p = await readPeering(acc, 'hand-evil');
    expect(p?.PeerServerAddresses).toEqual([]);
    // Nor can it touch another peer's imports: hand-nack's import is intact.
    expect(await instanceSet(acc, 'svc', 'hand-nack')).toEqual(['remote-node/svc-1:passing']);
  });

  it('an oversized message is refused with RESOURCE_EXHAUSTED and the server carries on', async () => {
    const token = decode(await generateToken(acc, 'hand-big'));
    const client = clientFor(token);
    const stream = openStream(client, token.PeerID, await exchange(client, token));
    await expectEventually(() => stream.received.length > 0);
    const big = {
      Name: 'big',
      Instances: Array.from({ length: 200 }, (_, i) => instance(`node-${i}`, `big-${i}`, 'big', 1000 + i)),
    };
    expect(JSON.stringify(big).length).toBeGreaterThan(MAX_MESSAGE_BYTES);
    stream.send('type.meshpeer.io/ExportedService', 'big', big);
    const s = await stream.status;
    expect(s.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(await instanceSet(acc, 'big', 'hand-big')).toEqual([]);
    const alive = await api(`${acc.url}/v1/peerings`);
    expect(alive.status).toBe(200);
    // The peer can reconnect with the same secret and carry on with messages that fit.
    const again = openStream(client, token.PeerID, (await readSecretAgain(acc, client, 'hand-big')) ?? '');
    await expectEventually(() => again.received.some((m) => m.payload.case === 'response'));
  });
});

/** A fresh establishment for `name` (the previous secret is still valid, but tests should not rely on it). */
async function readSecretAgain(
  acc: ServerProcess,
  client: PeeringServiceClient,
  name: string,
): Promise<string> {
  const token = decode(await generateToken(acc, name));
  return exchange(client, token);
}

async function expectEventually(fn: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (fn()) return;
    await sleep(20);
  }
  throw new Error('condition not met');
}
