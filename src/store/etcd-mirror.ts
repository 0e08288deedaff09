// The pieces of the etcd store's local mirror that do not need the store itself: loading every key under
// the prefix at one revision (paged), decoding a stored value, and waits for the mirror to reach a state
// (a write is acknowledged only once the mirror shows it; a conflicted batch runs again once the mirror
// shows the other replica's change).
import type { CallOptions } from '@grpc/grpc-js';
import type { Etcd3, IKeyValue } from 'etcd3';
import { BTree } from './btree.js';
import { type EtcdLayout, prefixRangeEnd } from './etcd-layout.js';
import type { StoredEntry } from './store.js';
import type { Table } from './table-reads.js';

const LOAD_PAGE = 500;

/** Every key under the prefix at one revision. */
export interface MirrorSnapshot {
  tables: Map<string, Table>;
  tableIndexes: Map<string, number>;
  revision: number;
}

/** A stored value: JSON as meshpeer writes it; anything else is served as the raw string, not dropped. */
export function decodeValue(kv: IKeyValue): unknown {
  const text = kv.value.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text; // not written by meshpeer; served as the raw string rather than dropped
  }
}

/** Loads every key under the prefix at one revision (paged), each range through `call`. */
export async function loadSnapshot(
  client: Etcd3,
  layout: EtcdLayout,
  prefixBytes: Buffer,
  call: <T>(what: string, fn: (opts: CallOptions) => Promise<T>) => Promise<T>,
): Promise<MirrorSnapshot> {
  const end = prefixRangeEnd(prefixBytes);
  const tables = new Map<string, Table>();
  const tableIndexes = new Map<string, number>();
  let from = prefixBytes;
  let revision: number | undefined;
  for (;;) {
    const res = await call('answer a read', (opts) =>
      client.kv.range(
        {
          key: from,
          range_end: end,
          limit: LOAD_PAGE,
          ...(revision === undefined ? {} : { revision: String(revision) }),
        },
        opts,
      ),
    );
    revision ??= Number(res.header.revision);
    for (const kv of res.kvs) {
      const parsed = layout.parse(kv.key.toString('utf8'));
      if (parsed.kind === 'entry') {
        let t = tables.get(parsed.table);
        if (t === undefined) {
          t = new BTree<string, StoredEntry>();
          tables.set(parsed.table, t);
        }
        t.set(parsed.key, {
          key: parsed.key,
          value: decodeValue(kv),
          createIndex: Number(kv.create_revision),
          modifyIndex: Number(kv.mod_revision),
        });
      } else if (parsed.kind === 'index') {
        tableIndexes.set(parsed.table, Number(kv.mod_revision));
      }
    }
    const lastKv = res.kvs.at(-1);
    if (!res.more || lastKv === undefined) break;
    from = Buffer.concat([lastKv.key, Buffer.from([0])]);
  }
  return { tables, tableIndexes, revision };
}

interface MirrorWait {
  check: () => boolean;
  resolve: (ok: boolean) => void;
}

/** Waits for the mirror to reach a state; the owner calls check() after every change to the mirror. */
export class MirrorWaits {
  private readonly waits = new Set<MirrorWait>();

  /** Resolves the waits whose condition now holds (true), or all of them (false) once closed. */
  check(closed: boolean): void {
    for (const w of [...this.waits]) {
      if (closed || w.check()) {
        this.waits.delete(w);
        w.resolve(!closed);
      }
    }
  }

  /** Resolves true once check() holds for the mirror, false after timeoutMs or on close. */
  wait(check: () => boolean, timeoutMs: number): Promise<boolean> {
    if (check()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const wait: MirrorWait = {
        check,
        resolve: (ok) => {
          clearTimeout(timer);
          resolve(ok);
        },
      };
      const timer = setTimeout(() => {
        this.waits.delete(wait);
        resolve(false);
      }, timeoutMs);
      this.waits.add(wait);
    });
  }
}
