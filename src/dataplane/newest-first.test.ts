import { describe, expect, it } from 'vitest';
import { NewestFirst } from './newest-first.js';

describe('NewestFirst', () => {
  it('applies one value at a time, and of those offered meanwhile only the newest', async () => {
    const applied: number[] = [];
    let release: () => void = () => {};
    const line = new NewestFirst<number>(
      async (n) => {
        applied.push(n);
        if (n === 1) await new Promise<void>((r) => (release = r));
      },
      () => {},
    );
    line.offer(1);
    await new Promise((r) => setImmediate(r));
    line.offer(2);
    line.offer(3);
    line.offer(4);
    expect(applied).toEqual([1]);
    release();
    await line.settled();
    expect(applied).toEqual([1, 4]);
  });

  it('reports a failed apply and goes on with the next value and queued work', async () => {
    const errors: string[] = [];
    const done: string[] = [];
    const line = new NewestFirst<string>(
      async (v) => {
        if (v === 'bad') throw new Error('no');
        done.push(v);
      },
      (err) => errors.push(err.message),
    );
    line.offer('bad');
    await line.settled();
    line.run(async () => {
      done.push('work');
    });
    line.offer('good');
    await line.settled();
    expect(errors).toEqual(['no']);
    expect(done).toEqual(['work', 'good']);
  });
});
