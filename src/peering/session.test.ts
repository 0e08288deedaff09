// Two replication sessions joined by an in-memory stream pair with a small write buffer (Node's own
// Duplex, so write() returns false and 'drain' fires as on a gRPC stream): the exporter churns and the
// importer must end up with exactly the export, the buffer full or not.
import { Duplex } from 'node:stream';
import { create } from '@bufbuild/protobuf';
import { afterEach, describe, expect, it } from 'vitest';
import { Catalog } from '../catalog/catalog.js';
import { registerRequestSchema } from '../catalog/requests.js';
import { ConfigEntries } from '../config-entries/config-store.js';
import { silentLogger } from '../shared/logger.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { type ReplicationMessage, ReplicationMessageSchema } from './gen/meshpeer/peering/v1/peering_pb.js';
import type { MessageStream } from './replication/outbox.js';
import { ReplicationSession, type SessionDeps } from './session.js';
import { StreamStatus } from './stream-status.js';

/** One end of an in-memory message stream; what it writes arrives at its partner, in order. */
class End extends Duplex {
  partner!: End;
  /** While set, writes are held (the peer is not reading), so the buffer fills up. */
  holding = false;
  private queued: Array<() => void> = [];

  constructor(highWaterMark: number) {
    super({ objectMode: true, highWaterMark });
  }

  override _write(chunk: unknown, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    const deliver = (): void => {
      // Delivery is asynchronous, as over a socket.
      setImmediate(() => {
        this.partner.push(create(ReplicationMessageSchema, chunk as never) as ReplicationMessage);
        callback();
      });
    };
    if (this.holding) this.queued.push(deliver);
    else deliver();
  }

  override _read(): void {}

  release(): void {
    this.holding = false;
    for (const d of this.queued.splice(0)) d();
  }
}

function pair(highWaterMark = 4): [End, End] {
  const a = new End(highWaterMark);
  const b = new End(highWaterMark);
  a.partner = b;
  b.partner = a;
  return [a, b];
}

interface Side {
  store: Store;
  catalog: Catalog;
  config: ConfigEntries;
  status: StreamStatus;
  session?: ReplicationSession;
}

const sides: Side[] = [];
afterEach(async () => {
  for (const s of sides.splice(0)) {
    s.session?.stop();
    await s.store.close();
  }
});

function side(): Side {
  const store = openStore({ backend: 'memory' });
  const s: Side = {
    store,
    catalog: new Catalog(store, 'dc'),
    config: new ConfigEntries(store),
    status: new StreamStatus(),
  };
  sides.push(s);
  return s;
}

function deps(s: Side, timeoutMs = 10_000): SessionDeps {
  return {
    store: s.store,
    catalog: s.catalog,
    config: s.config,
    logger: silentLogger(),
    trustDomain: 'td.consul',
    rootPems: () => ['root'],
    serverAddresses: () => ['127.0.0.1:1'],
    heartbeatMs: 1000,
    timeoutMs,
  };
}

function connect(exporter: Side, importer: Side, ends: [End, End], timeoutMs?: number): void {
  exporter.session = new ReplicationSession(
    'importer',
    ends[0] as unknown as MessageStream,
    exporter.status,
    deps(exporter, timeoutMs),
  );
  importer.session = new ReplicationSession(
    'exporter',
    ends[1] as unknown as MessageStream,
    importer.status,
    deps(importer, timeoutMs),
  );
  exporter.session.start();
  importer.session.start();
}

async function register(s: Side, id: string, service: string, port: number): Promise<void> {
  await s.catalog.register(
    registerRequestSchema.parse({
      Node: `node-${port % 5}`,
      Address: '10.0.0.1',
      Service: { ID: id, Service: service, Port: port },
    }),
  );
}

async function exportTo(s: Side, names: string[]): Promise<void> {
  await s.config.set({
    Kind: 'exported-services',
    Name: 'default',
    Services: names.map((Name) => ({ Name, Consumers: [{ Peer: 'importer' }] })),
  });
}

/** service → sorted "id:port" of what `s` holds for `peer` ('' for local), for exact comparison. */
function snapshot(s: Side, peer: string, names: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const n of names) {
    const list = s.catalog
      .healthService(n, peer === '' ? {} : { peer })
      .map((h) => `${h.Node.Node}/${h.Service.ID}:${h.Service.Port}`);
    if (list.length > 0) out[n] = list.sort();
  }
  return out;
}

async function until(fn: () => boolean, ms = 5000, explain = (): unknown => ''): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`condition not met in time ${JSON.stringify(explain())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const NAMES = Array.from({ length: 20 }, (_, i) => `svc${i}`);

describe('replication session', () => {
  it('keeps exporting after its write buffer filled and drained between runs', async () => {
    const [exporter, importer] = [side(), side()];
    for (let i = 0; i < 100; i++) await register(exporter, `i${i}`, NAMES[i % 20] as string, 1000 + i);
    connect(exporter, importer, pair(2));
    // Back-to-back export-list changes, each filling the small buffer.
    let last: string[] = [];
    for (let round = 0; round < 8; round++) {
      last = NAMES.filter((_, i) => (i + round) % 3 !== 0);
      await exportTo(exporter, last);
      await new Promise((r) => setTimeout(r, 15));
    }
    const want = snapshot(exporter, '', last);
    await until(
      () => JSON.stringify(snapshot(importer, 'exporter', NAMES)) === JSON.stringify(want),
      5000,
      () => ({
        want: Object.keys(want),
        got: Object.keys(snapshot(importer, 'exporter', NAMES)),
        e: exporter.status,
        i: importer.status,
      }),
    );
    // A change long after the buffer drained still arrives.
    await register(exporter, 'late', last[0] as string, 5000);
    await until(() =>
      (snapshot(importer, 'exporter', NAMES)[last[0] as string] ?? []).some((x) => x.includes('/late:')),
    );
  });

  it('sends nothing faster than the peer reads, and catches up exactly once it reads again', async () => {
    const [exporter, importer] = [side(), side()];
    const ends = pair(4);
    await exportTo(exporter, NAMES);
    connect(exporter, importer, ends);
    await until(() => exporter.status.exported.length === 0 && exporter.status.lastSend !== undefined);
    ends[0].holding = true;
    for (let i = 0; i < 300; i++) await register(exporter, `i${i}`, NAMES[i % 20] as string, 1000 + i);
    await new Promise((r) => setTimeout(r, 200));
    // The exporter waits on the full buffer instead of queueing every change.
    // (heartbeats and ACKs are not held back, and one export message may pass the mark)
    expect(ends[0].writableLength).toBeLessThan(20);
    expect(exporter.status.sendBlockedSince).toBeInstanceOf(Date);
    ends[0].release();
    const want = snapshot(exporter, '', NAMES);
    await until(
      () => JSON.stringify(snapshot(importer, 'exporter', NAMES)) === JSON.stringify(want),
      5000,
      () => ({ got: snapshot(importer, 'exporter', NAMES), st: exporter.status, ist: importer.status }),
    );
    expect(exporter.status.sendBlockedSince).toBeUndefined();
  });

  it('ends the stream when the peer takes nothing for the timeout', async () => {
    const [exporter, importer] = [side(), side()];
    const ends = pair(2);
    await exportTo(exporter, NAMES);
    for (let i = 0; i < 40; i++) await register(exporter, `i${i}`, NAMES[i % 20] as string, 1000 + i);
    ends[0].holding = true;
    connect(exporter, importer, ends, 600);
    const end = await exporter.session?.done;
    expect(end).toMatchObject({ reason: 'closed' });
    expect(exporter.status.lastError).toMatch(/took no messages|nothing received/);
  });

  it('a checkpoint that differs from the import makes the exporter send everything again', async () => {
    const [exporter, importer] = [side(), side()];
    for (let i = 0; i < 40; i++) await register(exporter, `i${i}`, NAMES[i % 20] as string, 1000 + i);
    await exportTo(exporter, NAMES);
    connect(exporter, importer, pair(8));
    const want = snapshot(exporter, '', NAMES);
    await until(() => JSON.stringify(snapshot(importer, 'exporter', NAMES)) === JSON.stringify(want));
    // The importer's disk fails while the next change to svc3 arrives: the apply is lost (and NACKed).
    // It keeps failing until the next checkpoint has shown the gap, so no later message about svc3 (how
    // changes coalesce into messages depends on timing) can repair the import before the checkpoint does.
    const write = importer.store.write.bind(importer.store);
    let failing = true;
    importer.store.write = ((fn) =>
      failing ? Promise.reject(new Error('disk full')) : write(fn)) as Store['write'];
    await register(exporter, 'extra', 'svc3', 9999);
    await until(() => exporter.status.lastNack !== undefined);
    expect(snapshot(importer, 'exporter', NAMES).svc3?.some((x) => x.includes('/extra:'))).toBeFalsy();
    await until(() => importer.status.outOfSyncSince !== undefined, 5000);
    failing = false;
    // The next checkpoint shows the gap; the importer asks for a resync and ends up exact.
    await until(
      () =>
        JSON.stringify(snapshot(importer, 'exporter', NAMES)) ===
        JSON.stringify(snapshot(exporter, '', NAMES)),
      5000,
      () => ({
        got: Object.keys(snapshot(importer, 'exporter', NAMES)),
        e: exporter.status,
        i: importer.status,
      }),
    );
    expect(importer.status.resyncsRequested).toBeGreaterThanOrEqual(1);
    await until(
      () => importer.status.outOfSyncSince === undefined && importer.status.lastCheckpointAt !== undefined,
    );
  });
});
