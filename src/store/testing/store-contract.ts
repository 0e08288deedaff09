// The store contract as a test suite, run against every backend: memory and SQLite beside the store
// (store.contract.test.ts), etcd on a real 3-member cluster (test/store/etcd-store.test.ts).
import { expect, it } from 'vitest';
import type { Store } from '../store.js';

/** Registers the contract's tests; `open` gives a fresh, empty store that the caller closes afterwards. */
export function storeContract(open: () => Store | Promise<Store>): void {
  it('raises the global index once per writing transaction and stamps entries', async () => {
    const s = await open();
    const a = await s.write((tx) => tx.put('t', 'a', { v: 1 }));
    const b = await s.write((tx) => {
      tx.put('t', 'b', { v: 2 });
      tx.put('u', 'x', { v: 3 });
    });
    expect(b.index).toBe(a.index + 1);
    expect(s.get('t', 'b')).toMatchObject({ createIndex: b.index, modifyIndex: b.index });
    const c = await s.write((tx) => tx.put('t', 'a', { v: 9 }));
    expect(s.get('t', 'a')).toMatchObject({ value: { v: 9 }, createIndex: a.index, modifyIndex: c.index });
    expect(s.tableIndex('u')).toBe(b.index);
    expect(s.maxIndex(['t', 'u'])).toBe(c.index);
  });

  it('does not raise the index for a transaction that writes nothing', async () => {
    const s = await open();
    await s.write((tx) => tx.put('t', 'a', 1));
    const before = s.lastIndex();
    const r = await s.write((tx) => tx.get('t', 'a'));
    expect(r.index).toBe(before);
    expect(s.lastIndex()).toBe(before);
  });

  it('lists by prefix in key order', async () => {
    const s = await open();
    await s.write((tx) => {
      for (const k of ['b/2', 'a/1', 'b/1', 'c/1', 'b']) tx.put('t', k, k);
    });
    expect(s.list('t', 'b/').map((e) => e.key)).toEqual(['b/1', 'b/2']);
    expect(s.count('t', 'b/')).toBe(2);
    expect(s.count('t')).toBe(5);
  });

  it('discards every write of a transaction that throws, and keeps concurrent ones', async () => {
    const s = await open();
    const ok1 = s.write((tx) => tx.put('t', 'k', 'first'));
    const bad = s.write((tx) => {
      tx.put('t', 'k', 'bad');
      tx.put('t', 'other', 'bad');
      throw new Error('boom');
    });
    const ok2 = s.write((tx) => tx.put('t', 'z', 'last'));
    await expect(bad).rejects.toThrow('boom');
    await ok1;
    await ok2;
    expect(s.get('t', 'k')?.value).toBe('first');
    expect(s.get('t', 'other')).toBeUndefined();
    expect(s.get('t', 'z')?.value).toBe('last');
  });

  it('deletes keys and prefixes and advances the table index on delete', async () => {
    const s = await open();
    await s.write((tx) => {
      tx.put('t', 'p/1', 1);
      tx.put('t', 'p/2', 2);
      tx.put('t', 'q', 3);
    });
    const d = await s.write((tx) => tx.deletePrefix('t', 'p/'));
    expect(d.result).toBe(2);
    expect(s.tableIndex('t')).toBe(d.index);
    expect(s.list('t').map((e) => e.key)).toEqual(['q']);
    const none = await s.write((tx) => tx.delete('t', 'missing'));
    expect(none.result).toBe(false);
  });

  it('wakes a waiter when its table passes the index, and not for other tables', async () => {
    const s = await open();
    await s.write((tx) => tx.put('t', 'a', 1));
    const start = s.tableIndex('t');
    let woke = false;
    const waiting = s.waitForChange(['t'], start, 5_000).then((i) => {
      woke = true;
      return i;
    });
    await s.write((tx) => tx.put('other', 'x', 1));
    await new Promise((r) => setTimeout(r, 20));
    expect(woke).toBe(false);
    expect(s.waitingCount()).toBe(1);
    const w = await s.write((tx) => tx.put('t', 'b', 2));
    expect(await waiting).toBe(w.index);
    expect(s.waitingCount()).toBe(0);
  });

  it('returns at once when the index has already passed, and on timeout otherwise', async () => {
    const s = await open();
    await s.write((tx) => tx.put('t', 'a', 1));
    expect(await s.waitForChange(['t'], 0, 10_000)).toBe(s.tableIndex('t'));
    const t0 = Date.now();
    expect(await s.waitForChange(['t'], s.tableIndex('t'), 50)).toBe(s.tableIndex('t'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
  });

  it('calls subscribers after each commit touching their tables', async () => {
    const s = await open();
    const seen: number[] = [];
    const off = s.subscribe(['t'], (i) => seen.push(i));
    const a = await s.write((tx) => tx.put('t', 'a', 1));
    await s.write((tx) => tx.put('u', 'a', 1));
    off();
    await s.write((tx) => tx.put('t', 'b', 1));
    expect(seen).toEqual([a.index]);
  });
}
