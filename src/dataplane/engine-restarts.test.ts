import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../shared/logger.js';
import { EngineRestarts } from './engine-restarts.js';
import { NewestFirst } from './newest-first.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('EngineRestarts', () => {
  it('retries after 1, 2, 4 … s while starting fails, and stops retrying once it works', async () => {
    vi.useFakeTimers();
    const line = new NewestFirst<void>(
      async () => {},
      () => {},
    );
    const attempts: number[] = [];
    const restarts = new EngineRestarts(
      line,
      silentLogger(),
      () => true,
      async () => {
        attempts.push(Date.now());
        if (attempts.length < 4) throw new Error('no');
        return 42;
      },
    );
    const start = Date.now();
    restarts.schedule();
    for (let i = 0; i < 40; i++) {
      await vi.advanceTimersByTimeAsync(1_000);
      await line.settled();
    }
    expect(attempts.map((t) => t - start)).toEqual([1_000, 3_000, 7_000, 15_000]);
  });

  it('does nothing once the engine stops, or after cancel', async () => {
    vi.useFakeTimers();
    const line = new NewestFirst<void>(
      async () => {},
      () => {},
    );
    let active = true;
    let attempts = 0;
    const restarts = new EngineRestarts(
      line,
      silentLogger(),
      () => active,
      async () => {
        attempts++;
        return 1;
      },
    );
    restarts.schedule();
    active = false;
    await vi.advanceTimersByTimeAsync(2_000);
    active = true;
    restarts.schedule();
    restarts.cancel();
    await vi.advanceTimersByTimeAsync(2_000);
    await line.settled();
    expect(attempts).toBe(0);
  });
});
