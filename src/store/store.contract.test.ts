import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from './open-store.js';
import type { Store } from './store.js';
import { storeContract } from './testing/store-contract.js';

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
  storeContract(() => {
    const s = make();
    stores.push(s);
    return s;
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
