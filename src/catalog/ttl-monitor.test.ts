// The TTL monitor with a hand-driven clock: which checks expire when, and that one timer is kept.
import { describe, expect, it } from 'vitest';
import { fakeClock } from './testing/fake-clock.js';
import { TtlMonitor } from './ttl-monitor.js';

function monitor() {
  const f = fakeClock();
  const expired: string[] = [];
  const m = new TtlMonitor(async (node, id) => {
    expired.push(`${node}/${id}`);
  }, f.clock);
  return { f, m, expired };
}

describe('TtlMonitor', () => {
  it('expires a check not re-armed within its TTL, once', () => {
    const { f, m, expired } = monitor();
    m.arm('n1', 'a', 2_000);
    f.advance(1_999);
    expect(expired).toEqual([]);
    f.advance(1);
    expect(expired).toEqual(['n1/a']);
    f.advance(10_000);
    expect(expired).toEqual(['n1/a']);
    expect(f.pending()).toBe(0);
  });

  it('keeps a check re-armed before its deadline', () => {
    const { f, m, expired } = monitor();
    m.arm('n1', 'a', 2_000);
    for (let i = 0; i < 10; i++) {
      f.advance(1_500);
      m.arm('n1', 'a', 2_000);
    }
    expect(expired).toEqual([]);
    f.advance(2_000);
    expect(expired).toEqual(['n1/a']);
  });

  it('expires checks in deadline order with one timer', () => {
    const { f, m, expired } = monitor();
    m.arm('n1', 'slow', 5_000);
    m.arm('n1', 'fast', 1_000);
    m.arm('n2', 'mid', 3_000);
    expect(f.pending()).toBe(1);
    f.advance(1_000);
    expect(expired).toEqual(['n1/fast']);
    f.advance(2_000);
    expect(expired).toEqual(['n1/fast', 'n2/mid']);
    f.advance(2_000);
    expect(expired).toEqual(['n1/fast', 'n2/mid', 'n1/slow']);
  });

  it('forgets a disarmed check and stops entirely', () => {
    const { f, m, expired } = monitor();
    m.arm('n1', 'a', 1_000);
    m.arm('n1', 'b', 1_000);
    m.disarm('n1', 'a');
    expect(m.armedOn('n1')).toEqual(['b']);
    f.advance(1_000);
    expect(expired).toEqual(['n1/b']);
    m.arm('n1', 'c', 1_000);
    m.stop();
    expect(f.pending()).toBe(0);
    f.advance(5_000);
    m.arm('n1', 'd', 1_000);
    f.advance(5_000);
    expect(expired).toEqual(['n1/b']);
  });

  it('reports a failed expiry and goes on', async () => {
    const f = fakeClock();
    const errors: string[] = [];
    const m = new TtlMonitor(
      async (_node, id) => {
        if (id === 'bad') throw new Error('boom');
      },
      f.clock,
      (err, _node, id) => errors.push(`${id}: ${(err as Error).message}`),
    );
    m.arm('n', 'bad', 100);
    m.arm('n', 'good', 200);
    f.advance(300);
    await Promise.resolve();
    expect(errors).toEqual(['bad: boom']);
    expect(m.armedOn('n')).toEqual([]);
  });
});
