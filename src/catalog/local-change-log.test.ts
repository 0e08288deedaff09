import { describe, expect, it } from 'vitest';
import { LocalChangeLog } from './local-change-log.js';

describe('LocalChangeLog', () => {
  it('answers which names changed after an index', () => {
    const log = new LocalChangeLog();
    log.record(1, 'a', false);
    log.record(2, 'b', false);
    log.record(3, 'gw', true);
    expect(log.since(0)).toEqual({ names: new Set(['a', 'b', 'gw']), gateway: true });
    expect(log.since(2)).toEqual({ names: new Set(['gw']), gateway: true });
    expect(log.since(3)).toEqual({ names: new Set(), gateway: false });
  });

  it('stays as large as the number of names, not of writes, and answers the same after compacting', () => {
    const log = new LocalChangeLog();
    const writes = 300_000;
    for (let i = 1; i <= writes; i++) log.record(i, `svc${i % 50}`, false);
    expect(log.size).toBeLessThanOrEqual(10_000);
    // Every name changed in the last 50 writes; none after the last.
    expect(log.since(writes - 50)?.names.size).toBe(50);
    expect(log.since(writes - 10)?.names).toEqual(
      new Set(Array.from({ length: 10 }, (_, k) => `svc${(writes - 9 + k) % 50}`)),
    );
    expect(log.since(writes)?.names.size).toBe(0);
    // An old reader still gets a (possibly larger) correct answer, not a gap.
    expect(log.since(1)?.names.size).toBe(50);
  });

  it('tells a reader older than what it still covers to recompute everything', () => {
    const log = new LocalChangeLog();
    for (let i = 1; i <= 250_000; i++) log.record(i, `svc${i}`, false);
    expect(log.size).toBeLessThanOrEqual(100_000);
    expect(log.since(1)).toBeUndefined();
    expect(log.since(249_990)?.names.size).toBe(10);
  });
});
