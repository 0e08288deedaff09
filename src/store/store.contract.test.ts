import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from './open-store.js';
import type { Store } from './store.js';

const dirs: string[] = [];
const stores: Store[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'meshpeer-store-'));
  dirs.push(d);
  return d;
}

const backends: Array<[string, () => Store]> = [
  ['memory', () => openStore({ backend: 'memory' })],
  ['sqlite', () => openStore({ backend: 'sqlite', dataDir: tempDir() })],
];

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe.each(backends)('store contract (%s)', (_name, make) => {
  const open = (): Store => {
    const s = make();
    stores.push(s);
    return s;
  };

  it('raises the global index once per writing transaction and stamps entries', async () => {
    const s = open();
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
    const s = open();
    await s.write((tx) => tx.put('t', 'a', 1));
    const before = s.lastIndex();
    const r = await s.write((tx) => tx.get('t', 'a'));
    expect(r.index).toBe(before);
    expect(s.lastIndex()).toBe(before);
  });

  it('lists by prefix in key order', async () => {
    const s = open();
    await s.write((tx) => {
      for (const k of ['b/2', 'a/1', 'b/1', 'c/1', 'b']) tx.put('t', k, k);
    });
    expect(s.list('t', 'b/').map((e) => e.key)).toEqual(['b/1', 'b/2']);
    expect(s.count('t', 'b/')).toBe(2);
    expect(s.count('t')).toBe(5);
  });

  it('discards every write of a transaction that throws, and keeps concurrent ones', async () => {
    const s = open();
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
    const s = open();
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
    const s = open();
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
    const s = open();
    await s.write((tx) => tx.put('t', 'a', 1));
    expect(await s.waitForChange(['t'], 0, 10_000)).toBe(s.tableIndex('t'));
    const t0 = Date.now();
    expect(await s.waitForChange(['t'], s.tableIndex('t'), 50)).toBe(s.tableIndex('t'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
  });

  it('calls subscribers after each commit touching their tables', async () => {
    const s = open();
    const seen: number[] = [];
    const off = s.subscribe(['t'], (i) => seen.push(i));
    const a = await s.write((tx) => tx.put('t', 'a', 1));
    await s.write((tx) => tx.put('u', 'a', 1));
    off();
    await s.write((tx) => tx.put('t', 'b', 1));
    expect(seen).toEqual([a.index]);
  });
});

describe('sqlite store durability', () => {
  it('keeps every committed write, entry indexes and table indexes across a reopen', async () => {
    const dir = tempDir();
    const s1 = openStore({ backend: 'sqlite', dataDir: dir });
    const writes = [];
    for (let i = 0; i < 200; i++) writes.push(s1.write((tx) => tx.put('t', `k${i}`, { i })));
    await Promise.all(writes);
    await s1.write((tx) => tx.delete('t', 'k5'));
    const last = s1.lastIndex();
    const entry = s1.get('t', 'k7');
    await s1.close();

    const s2 = openStore({ backend: 'sqlite', dataDir: dir });
    stores.push(s2);
    expect(s2.count('t')).toBe(199);
    expect(s2.get('t', 'k5')).toBeUndefined();
    expect(s2.get('t', 'k7')).toEqual(entry);
    expect(s2.lastIndex()).toBe(last);
    expect(s2.tableIndex('t')).toBe(last);
    const next = await s2.write((tx) => tx.put('t', 'new', 1));
    expect(next.index).toBe(last + 1);
  });
});
