import { describe, expect, it } from 'vitest';
import { EtcdLayout, prefixRangeEnd } from './etcd-layout.js';

describe('etcd key layout', () => {
  const layout = new EtcdLayout('/meshpeer/dc1/');

  it('round-trips entry keys, with table names that contain slashes and keys that contain anything', () => {
    for (const [table, key] of [
      ['services', 'web/1'],
      ['a/b', '/x//y/'],
      ['t', ''],
      ['t', 'ünïcode ✓'],
    ] as const) {
      expect(layout.parse(layout.entryKey(table, key))).toEqual({ kind: 'entry', table, key });
    }
    expect(layout.parse(layout.indexKey('a/b'))).toEqual({ kind: 'index', table: 'a/b' });
  });

  it('ignores keys outside the layout', () => {
    expect(layout.parse('/meshpeer/dc2/kv/t/k')).toEqual({ kind: 'other' });
    expect(layout.parse('/meshpeer/dc1/leader')).toEqual({ kind: 'other' });
    expect(layout.parse('/meshpeer/dc1/kv/no-slash')).toEqual({ kind: 'other' });
  });

  it('refuses a prefix that does not end with a slash', () => {
    expect(() => new EtcdLayout('/meshpeer')).toThrow('must be non-empty and end with /');
  });

  it('computes the range end of a prefix', () => {
    expect(prefixRangeEnd(Buffer.from('/a/')).toString()).toBe('/a0');
    expect([...prefixRangeEnd(Buffer.from([0x61, 0xff]))]).toEqual([0x62]);
    expect([...prefixRangeEnd(Buffer.from([0xff]))]).toEqual([0]);
  });
});
