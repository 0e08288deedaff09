// Two etcd store instances (two replicas) on one real 3-member etcd cluster on loopback: writes through
// one wake blocking queries on the other, indexes agree, concurrent conflicting writes all apply, and the
// failure cases: a stopped member, a lost majority and its return, a compaction while a replica was cut off.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectEtcd } from '../../src/store/etcd-client.js';
import { type EtcdStore, openEtcdStore } from '../../src/store/etcd-store.js';
import { type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';

let etcd: EtcdCluster;
const stores: EtcdStore[] = [];
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  etcd = await startEtcdCluster({ members: 3 });
});

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const c of cleanups.splice(0)) await c();
});

afterAll(async () => {
  await etcd?.stop();
});

async function replica(
  prefix: string,
  endpoints = etcd.endpoints,
  requestTimeoutMs = 5_000,
): Promise<EtcdStore> {
  const s = await openEtcdStore({
    client: connectEtcd({ endpoints }),
    prefix,
    requestTimeoutMs,
    description: 'etcd (test cluster)',
  });
  stores.push(s);
  return s;
}

const newPrefix = (): string => `/meshpeer-test/${randomBytes(4).toString('hex')}/`;

/** Resolves once `store`'s mirror has reached `index` (blocking queries on the table); throws if it does not. */
async function caughtUp(store: EtcdStore, table: string, index: number): Promise<void> {
  for (let i = 0; i < 6 && store.tableIndex(table) < index; i++) {
    await store.waitForChange([table], store.maxIndex([table]), 5_000);
  }
  if (store.tableIndex(table) < index) {
    throw new Error(
      `mirror stuck at ${store.tableIndex(table)} < ${index}: ${JSON.stringify(store.status())}`,
    );
  }
}

/** A loopback TCP proxy to one etcd member that can cut every connection and refuse new ones. */
class CuttableProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly target: number) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

describe('etcd store replicas', () => {
  it('a write through replica A wakes a blocking query on replica B, with the same indexes', async () => {
    const prefix = newPrefix();
    const a = await replica(prefix);
    const b = await replica(prefix);
    await a.write((tx) => tx.put('services', 'web', { port: 1 }));
    await caughtUp(b, 'services', a.tableIndex('services'));
    const seen = b.tableIndex('services');
    const woken = b.waitForChange(['services'], seen, 30_000);
    expect(b.waitingCount()).toBe(1);
    const w = await a.write((tx) => tx.put('services', 'api', { port: 2 }));
    expect(await woken).toBe(w.index);
    expect(b.get('services', 'api')).toEqual(a.get('services', 'api'));
    expect(b.get('services', 'api')).toMatchObject({ createIndex: w.index, modifyIndex: w.index });
    expect(b.tableIndex('services')).toBe(a.tableIndex('services'));
    expect(b.lastIndex()).toBe(w.index);
    // B's own write lands after A's on the one etcd revision counter.
    const wb = await b.write((tx) => tx.put('services', 'db', { port: 3 }));
    expect(wb.index).toBeGreaterThan(w.index);
    await caughtUp(a, 'services', wb.index);
    expect(a.list('services').map((e) => e.key)).toEqual(['api', 'db', 'web']);
  });

  it('concurrent read-modify-write transactions on both replicas lose no update', async () => {
    const prefix = newPrefix();
    const a = await replica(prefix);
    const b = await replica(prefix);
    const increment = (s: EtcdStore, counter: string) =>
      s.write((tx) => {
        const current = tx.get<number>('counters', counter)?.value ?? 0;
        tx.put('counters', counter, current + 1);
      });
    const writes = [];
    for (let i = 0; i < 200; i++) {
      for (const s of [a, b]) for (const c of ['x', 'y']) writes.push(increment(s, c));
    }
    const results = await Promise.all(writes);
    const last = Math.max(...results.map((r) => r.index));
    await caughtUp(a, 'counters', last);
    await caughtUp(b, 'counters', last);
    for (const s of [a, b]) {
      expect(s.get('counters', 'x')?.value).toBe(400);
      expect(s.get('counters', 'y')?.value).toBe(400);
    }
  });

  it('transactions that decide from a list (a table read) are checked at commit too', async () => {
    const prefix = newPrefix();
    const a = await replica(prefix);
    const b = await replica(prefix);
    // Each transaction takes the next free id = number of entries: a lost list conflict would reuse ids.
    const take = (s: EtcdStore, who: string) =>
      s.write((tx) => {
        const id = tx.list('ids').length;
        tx.put('ids', String(id).padStart(4, '0'), who);
        return id;
      });
    const writes = [];
    for (let i = 0; i < 50; i++) writes.push(take(a, 'a'), take(b, 'b'));
    const ids = (await Promise.all(writes)).map((r) => r.result);
    expect(new Set(ids).size).toBe(100);
    await caughtUp(a, 'ids', b.tableIndex('ids'));
    expect(a.count('ids')).toBe(100);
    expect(a.list('ids').filter((e) => e.value === 'b')).toHaveLength(50);
  });

  it("cuts batches to etcd's limits, and names the limit one oversized transaction hits", async () => {
    const s = await replica(newPrefix());
    // 300 one-key transactions queued at once: more than etcd's default 128 operations per transaction.
    const small = await Promise.all(
      Array.from({ length: 300 }, (_, i) => s.write((tx) => tx.put('t', `k${i}`, i))),
    );
    expect(new Set(small.map((r) => r.index)).size).toBeGreaterThan(2);
    // 40 transactions of 100 KB each: more than etcd's default 1.5 MiB per request.
    const blob = 'x'.repeat(100 * 1024);
    await Promise.all(Array.from({ length: 40 }, (_, i) => s.write((tx) => tx.put('big', `b${i}`, blob))));
    expect(s.count('t')).toBe(300);
    expect(s.count('big')).toBe(40);
    const tooMany = await s
      .write((tx) => {
        for (let i = 0; i < 200; i++) tx.put('u', `k${i}`, i);
      })
      .catch((err: Error) => err.message);
    expect(tooMany).toMatch(/too many operations.*raise etcd --max-txn-ops/);
    expect(s.count('u')).toBe(0);
  });

  it('keeps writing with one of three members stopped', async () => {
    const prefix = newPrefix();
    const a = await replica(prefix);
    const b = await replica(prefix);
    await a.write((tx) => tx.put('t', 'before', 1));
    await etcd.stopMember(0);
    cleanups.push(async () => {
      await etcd.startMember(0);
      await etcd.waitHealthy();
    });
    let index = 0;
    for (let i = 0; i < 20; i++) index = (await a.write((tx) => tx.put('t', `k${i}`, i))).index;
    await b.write((tx) => tx.put('t', 'from-b', true));
    await caughtUp(b, 't', index);
    expect(b.count('t')).toBe(22);
    expect(a.get('t', 'k19')?.value).toBe(19);
  });

  it('with the majority lost, rejects writes naming etcd, serves reads, and resumes when etcd returns', async () => {
    const prefix = newPrefix();
    const a = await replica(prefix, etcd.endpoints, 1_500);
    await a.write((tx) => tx.put('t', 'kept', 'yes'));
    await etcd.stopMember(1);
    await etcd.stopMember(2);
    let restarted = false;
    cleanups.push(async () => {
      if (restarted) return;
      await etcd.startMember(1);
      await etcd.startMember(2);
      await etcd.waitHealthy();
    });
    const failed = await a
      .write((tx) => tx.put('t', 'lost', 'no'))
      .then(
        () => undefined,
        (err: Error) => err,
      );
    expect(failed).toBeInstanceOf(Error);
    expect(failed?.message).toMatch(/^etcd \(test cluster\) did not commit the write/);
    // etcd may still commit a proposal it could not confirm in time, so the error says so.
    expect(failed?.message).toMatch(/may or may not have been applied/);
    expect((failed as { kind?: string }).kind).toBe('unavailable');
    // Reads keep serving the mirror.
    expect(a.get('t', 'kept')?.value).toBe('yes');
    const before = a.tableIndex('t');
    const waiting = a.waitForChange(['t'], before, 60_000);

    await etcd.startMember(1);
    await etcd.startMember(2);
    restarted = true;
    await etcd.waitHealthy();
    let written: number | undefined;
    for (let attempt = 0; attempt < 20 && written === undefined; attempt++) {
      written = await a
        .write((tx) => tx.put('t', 'after', 'back'))
        .then(
          (r) => r.index,
          () => undefined,
        );
    }
    expect(written).toBeDefined();
    expect(await waiting).toBeGreaterThan(before);
    expect(a.get('t', 'after')).toMatchObject({ value: 'back', modifyIndex: written });
    expect(a.get('t', 'kept')?.value).toBe('yes');
  });

  it('reloads everything when the revision it resumes from was compacted while it was cut off', async () => {
    const prefix = newPrefix();
    const proxy = new CuttableProxy(Number(new URL(etcd.endpoints[2]!).port));
    await proxy.listen();
    cleanups.push(() => proxy.cut());
    const a = await replica(prefix, etcd.endpoints.slice(0, 2));
    await a.write((tx) => {
      tx.put('t', 'stays', 1);
      tx.put('t', 'goes', 2);
      tx.put('u', 'x', 1);
    });
    const b = await replica(prefix, [proxy.endpoint]);
    expect(b.get('t', 'goes')?.value).toBe(2);
    const blocked = b.waitForChange(['t'], b.tableIndex('t'), 60_000);

    await proxy.cut();
    await a.write((tx) => tx.delete('t', 'goes'));
    await a.write((tx) => tx.put('t', 'new', 3));
    const last = await a.write((tx) => tx.put('t', 'stays', 10));
    const client = connectEtcd({ endpoints: [etcd.endpoints[2]!] });
    cleanups.push(async () => client.close());
    await client.kv.compact({ revision: String(last.index), physical: true });
    expect(b.get('t', 'goes')?.value).toBe(2); // B is cut off: its mirror is where it was

    await proxy.listen(); // same port
    expect(await blocked).toBe(last.index);
    await caughtUp(b, 't', last.index);
    expect(b.status().reloads).toBe(1);
    expect(b.list('t')).toEqual(a.list('t'));
    expect(b.get('t', 'goes')).toBeUndefined();
    expect(b.get('u', 'x')).toEqual(a.get('u', 'x'));
    expect(b.lastIndex()).toBeGreaterThanOrEqual(last.index);
  });
});
