// Store benchmark, etcd next to SQLite in the same run: catalog registrations/s through the store
// (Catalog.register, the write behind PUT /v1/catalog/register) on SQLite (synchronous=FULL) and on a
// real 3-member etcd cluster on loopback with fsync on, through one replica and through two replicas at
// once; and the wake-up latency of 1,000 blocking queries on replica B after a write through replica A.
//   npm run build && node dist/bench/etcd-store.js [--registrations 3000] [--concurrency 64]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Catalog } from '../src/catalog/catalog.js';
import { registerRequestSchema } from '../src/catalog/requests.js';
import { connectEtcd } from '../src/store/etcd-client.js';
import { type EtcdStore, openEtcdStore } from '../src/store/etcd-store.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { startEtcdCluster } from './support/etcd-cluster.js';
import { percentile, runWhenInvokedDirectly } from './support/measure.js';

export interface EtcdStoreBenchOptions {
  registrations?: number;
  concurrency?: number;
  watchers?: number;
  wakeRounds?: number;
}

/** Registers `count` instances (one node each) from `catalogs` in turn, `concurrency` at a time. */
async function registrationsPerSec(
  catalogs: Catalog[],
  count: number,
  concurrency: number,
  tag: string,
): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      const catalog = catalogs[i % catalogs.length]!;
      // Parsed as the HTTP API parses a request body, defaults included.
      const req = registerRequestSchema.parse({
        Node: `${tag}-node-${i}`,
        Address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        Service: { ID: `web-${i}`, Service: `web-${i % 50}`, Port: 8080 },
        Check: { CheckID: `web-${i}-alive`, Name: 'alive', Status: 'passing', ServiceID: `web-${i}` },
      });
      await catalog.register(req);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  return count / ((performance.now() - t0) / 1000);
}

/** ms from the start of a write through `a` until each of `watchers` blocking queries on `b` returned. */
async function wakeLatencies(a: Store, b: EtcdStore, watchers: number, rounds: number): Promise<number[]> {
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const after = b.maxIndex(['wake']);
    let t0 = 0;
    const woken = Array.from({ length: watchers }, () =>
      b.waitForChange(['wake'], after, 30_000).then(() => performance.now() - t0),
    );
    t0 = performance.now();
    await a.write((tx) => tx.put('wake', 'k', r));
    samples.push(...(await Promise.all(woken)));
  }
  return samples;
}

export async function main(options: EtcdStoreBenchOptions = {}): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { registrations: { type: 'string' }, concurrency: { type: 'string' } },
    strict: false,
  });
  const count = options.registrations ?? Number(values.registrations ?? 3000);
  const concurrency = options.concurrency ?? Number(values.concurrency ?? 64);
  const watchers = options.watchers ?? 1000;
  const rounds = options.wakeRounds ?? 10;
  const rows: Array<[string, string]> = [];

  const dir = mkdtempSync(join(tmpdir(), 'meshpeer-bench-sqlite-'));
  const sqlite = openStore({ backend: 'sqlite', dataDir: dir });
  try {
    const rate = await registrationsPerSec([new Catalog(sqlite, 'dc1')], count, concurrency, 'sqlite');
    rows.push(['SQLite: registrations/s', rate.toFixed(0)]);
  } finally {
    await sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const etcd = await startEtcdCluster({ members: 3, fsync: true });
  const stores: EtcdStore[] = [];
  try {
    const replica = async (prefix: string): Promise<EtcdStore> => {
      const s = await openEtcdStore({ client: connectEtcd({ endpoints: etcd.endpoints }), prefix });
      stores.push(s);
      return s;
    };
    const one = await replica(`/bench/${randomBytes(4).toString('hex')}/`);
    const rate1 = await registrationsPerSec([new Catalog(one, 'dc1')], count, concurrency, 'one');
    rows.push(['etcd, 3 members, 1 replica: registrations/s', rate1.toFixed(0)]);

    const prefix = `/bench/${randomBytes(4).toString('hex')}/`;
    const a = await replica(prefix);
    const b = await replica(prefix);
    const rate2 = await registrationsPerSec(
      [new Catalog(a, 'dc1'), new Catalog(b, 'dc1')],
      count,
      concurrency,
      'two',
    );
    rows.push(['etcd, 3 members, 2 replicas writing: registrations/s', rate2.toFixed(0)]);

    const wake = await wakeLatencies(a, b, watchers, rounds);
    rows.push([
      `etcd: ${watchers} blocking queries on replica B woken by a write on A, p50 / p99 ms`,
      `${percentile(wake, 0.5).toFixed(1)} / ${percentile(wake, 0.99).toFixed(1)}`,
    ]);
  } finally {
    for (const s of stores) await s.close();
    await etcd.stop();
  }

  process.stdout.write(
    `registrations: ${count}, concurrency ${concurrency}, one node + service + check each\n`,
  );
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
}

runWhenInvokedDirectly(import.meta.url, main);
