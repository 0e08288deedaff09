// Limits on what the API accepts, close to Consul's: names and IDs of at most 256 characters, at most
// 256 tags per instance, Meta as Consul limits it (64 pairs, keys up to 128 and values up to 512
// characters), durations no longer than Go's time.Duration can hold, and the proxy Config timeouts
// (`*_timeout_ms`) whole non-negative numbers. Each is refused with a 400 naming the field.
import { z } from 'zod';

export const MAX_NAME_LENGTH = 256;
export const MAX_TAGS = 256;
export const MAX_TAG_LENGTH = 256;
/** Go's time.Duration is an int64 of nanoseconds: about 292 years (2562047h47m16.854775807s). */
export const MAX_DURATION_MS = 9_223_372_036_854.775;

/** A name or ID: non-empty, at most MAX_NAME_LENGTH characters. */
export const limitedName = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_NAME_LENGTH, `must be at most ${MAX_NAME_LENGTH} characters`);

/** An optional identifier (may be empty, meaning "not set"), at most MAX_NAME_LENGTH characters. */
export const limitedId = z.string().max(MAX_NAME_LENGTH, `must be at most ${MAX_NAME_LENGTH} characters`);

export const tagsSchema = z
  .array(z.string().max(MAX_TAG_LENGTH, `must be at most ${MAX_TAG_LENGTH} characters`))
  .max(MAX_TAGS, `must hold at most ${MAX_TAGS} tags`);

/** Proxy Config keys ending in `_timeout_ms` are durations in milliseconds: whole, non-negative, bounded. */
const TIMEOUT_MS_KEY = /_timeout_ms$/;

/** Opaque proxy Config (proxy-defaults, a sidecar's Proxy.Config), with its timeouts checked. */
export const proxyConfigSchema = z.record(z.string(), z.unknown()).superRefine((config, ctx) => {
  for (const [key, value] of Object.entries(config)) {
    if (!TIMEOUT_MS_KEY.test(key) || value === undefined || value === null) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_DURATION_MS) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `must be a whole number of milliseconds from 0 to ${Math.floor(MAX_DURATION_MS)} (got ${JSON.stringify(value)})`,
      });
    }
  }
});
