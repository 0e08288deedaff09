// Go duration strings ("15s", "1m30s", "250ms", "1.5h"), as Consul writes timeouts in config entries.
import { z } from 'zod';
import { MAX_DURATION_MS } from './limits.js';

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 micro sign
  μs: 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const WHOLE = /^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;

/** Milliseconds in a Go duration string, or undefined when it is not one. "0" needs no unit. */
export function parseGoDuration(text: string): number | undefined {
  if (/^[-+]?0$/.test(text)) return 0;
  if (!WHOLE.test(text)) return undefined;
  const sign = text.startsWith('-') ? -1 : 1;
  let total = 0;
  for (const match of text.matchAll(PART)) {
    total += Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? 0);
  }
  return sign * total;
}

/** A non-negative Go duration string; the text is kept as written. */
export const durationSchema = z.string().superRefine((text, ctx) => {
  const ms = parseGoDuration(text);
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid duration ${JSON.stringify(text)}: use a number with a unit, like "5s", "250ms" or "1m30s"`,
    });
  } else if (ms < 0) {
    ctx.addIssue({ code: 'custom', message: `must not be negative (got ${JSON.stringify(text)})` });
  } else if (ms > MAX_DURATION_MS) {
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(text)} is longer than the longest duration (2562047h47m16.854775807s)`,
    });
  }
});

/**
 * A duration field Consul keeps as Go's time.Duration and serves as integer nanoseconds (no string form
 * in its API, e.g. a hash policy's CookieConfig.TTL): accepts that integer, as Consul's clients send it,
 * or a duration string; stores integer nanoseconds.
 */
export const nanosecondsDurationSchema = z
  .union([z.number().int('must be whole nanoseconds').min(0, 'must not be negative'), durationSchema])
  .transform((v) => (typeof v === 'number' ? v : Math.round((parseGoDuration(v) ?? 0) * 1e6)));
