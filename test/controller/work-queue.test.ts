// The controller's work queue and backoff, with fake timers: a key is queued at most once, never
// handed to two workers at a time, retried after 200 ms doubling to 5 s, and shutdown releases
// every waiting worker.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExponentialBackoff, WorkQueue } from '../../src/kubernetes/work-queue.js';

describe('ExponentialBackoff', () => {
  it('doubles from 200 ms per failure of a key and caps at 5 s', () => {
    const backoff = new ExponentialBackoff();
    const delays = Array.from({ length: 8 }, () => backoff.next('a'));
    expect(delays).toEqual([200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  });

  it('keeps keys apart and starts over after forget', () => {
    const backoff = new ExponentialBackoff();
    backoff.next('a');
    backoff.next('a');
    expect(backoff.next('b')).toBe(200);
    backoff.forget('a');
    expect(backoff.failuresOf('a')).toBe(0);
    expect(backoff.next('a')).toBe(200);
  });
});

describe('WorkQueue', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('hands out each key once however often it is added while waiting', async () => {
    const queue = new WorkQueue();
    queue.add('ns/a');
    queue.add('ns/b');
    queue.add('ns/a');
    expect(queue.depth).toBe(2);
    expect(await queue.get()).toBe('ns/a');
    expect(await queue.get()).toBe('ns/b');
    expect(queue.depth).toBe(0);
  });

  it('does not give a key being processed to a second worker; it comes back once done', async () => {
    const queue = new WorkQueue();
    queue.add('k');
    const key = await queue.get();
    queue.add('k'); // changed again while a worker holds it
    expect(queue.depth).toBe(0);
    let second: string | undefined;
    void queue.get().then((k) => {
      second = k;
    });
    await Promise.resolve();
    expect(second).toBeUndefined();
    queue.done(key ?? '');
    await Promise.resolve();
    expect(second).toBe('k');
  });

  it('wakes a waiting worker when a key arrives', async () => {
    const queue = new WorkQueue();
    const waiting = queue.get();
    queue.add('late');
    expect(await waiting).toBe('late');
  });

  it('adds after a delay, and the earliest of several delayed adds wins', async () => {
    const queue = new WorkQueue();
    queue.addAfter('k', 1_000);
    queue.addAfter('k', 300);
    queue.addAfter('k', 5_000);
    vi.advanceTimersByTime(299);
    expect(queue.depth).toBe(0);
    vi.advanceTimersByTime(1);
    expect(queue.depth).toBe(1);
    expect(await queue.get()).toBe('k');
    queue.done('k');
    vi.advanceTimersByTime(10_000);
    expect(queue.depth).toBe(0);
  });

  it('retries a failing key after its backoff, and forget resets it', async () => {
    const queue = new WorkQueue();
    expect(queue.addRateLimited('k')).toBe(200);
    vi.advanceTimersByTime(200);
    expect(await queue.get()).toBe('k');
    queue.done('k');
    expect(queue.addRateLimited('k')).toBe(400);
    expect(queue.numRequeues('k')).toBe(2);
    queue.forget('k');
    expect(queue.numRequeues('k')).toBe(0);
  });

  it('reports its depth as it changes', async () => {
    const depths: number[] = [];
    const queue = new WorkQueue({ onDepthChange: (d) => depths.push(d) });
    queue.add('a');
    queue.add('b');
    await queue.get();
    expect(depths).toEqual([1, 2, 1]);
  });

  it('releases waiting workers and drops pending work on shutdown', async () => {
    const queue = new WorkQueue();
    const waiting = queue.get();
    queue.addAfter('later', 1_000);
    queue.shutDown();
    expect(await waiting).toBeUndefined();
    vi.advanceTimersByTime(2_000);
    queue.add('after');
    expect(await queue.get()).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });
});
