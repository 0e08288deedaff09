import { describe, expect, it } from 'vitest';
import { nanosecondsDurationSchema, parseGoDuration } from './duration.js';

describe('parseGoDuration', () => {
  it.each([
    ['0', 0],
    ['0s', 0],
    ['15s', 15_000],
    ['250ms', 250],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    ['2h45m', 9_900_000],
    ['500us', 0.5],
    ['500µs', 0.5],
    ['1000000ns', 1],
    ['.5s', 500],
    ['-1s', -1000],
    ['+2s', 2000],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseGoDuration(text)).toBeCloseTo(ms, 9);
  });

  it.each(['', '5', 's', '5 s', '5sec', '1d', '1h-5m', '--1s', 'abc'])('rejects %j', (text) => {
    expect(parseGoDuration(text)).toBeUndefined();
  });
});

describe('nanosecondsDurationSchema', () => {
  it('accepts integer nanoseconds (as Go clients send time.Duration) or a duration string, storing nanoseconds', () => {
    expect(nanosecondsDurationSchema.parse(20_000_000)).toBe(20_000_000);
    expect(nanosecondsDurationSchema.parse('20ms')).toBe(20_000_000);
    expect(nanosecondsDurationSchema.parse('1m30s')).toBe(90_000_000_000);
    expect(nanosecondsDurationSchema.safeParse(-1).success).toBe(false);
    expect(nanosecondsDurationSchema.safeParse(1.5).success).toBe(false);
    expect(nanosecondsDurationSchema.safeParse('soon').success).toBe(false);
  });
});
