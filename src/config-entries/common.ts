// Fields every config entry has: Kind, Name, Partition, Namespace, Meta (with Consul's Meta limits).
import { z } from 'zod';

const META_MAX_PAIRS = 64;
const META_MAX_KEY_LENGTH = 128;
const META_MAX_VALUE_LENGTH = 512;

export const metaSchema = z.record(z.string(), z.string()).superRefine((meta, ctx) => {
  const keys = Object.keys(meta);
  if (keys.length > META_MAX_PAIRS) {
    ctx.addIssue({
      code: 'custom',
      message: `has ${keys.length} keys; at most ${META_MAX_PAIRS} are allowed`,
    });
  }
  for (const key of keys) {
    if (key === '') ctx.addIssue({ code: 'custom', message: 'keys must not be empty' });
    if (key.length > META_MAX_KEY_LENGTH) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `key is longer than ${META_MAX_KEY_LENGTH} characters`,
      });
    }
    if ((meta[key] ?? '').length > META_MAX_VALUE_LENGTH) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `value is longer than ${META_MAX_VALUE_LENGTH} characters`,
      });
    }
  }
});

/** Kind, Partition, Namespace and Meta; each kind adds Name and its own fields. */
export function commonFields<K extends string>(kind: K) {
  return {
    Kind: z.literal(kind),
    Partition: z.string().optional(),
    Namespace: z.string().optional(),
    Meta: metaSchema.optional(),
  };
}

/**
 * The Name of a singleton kind (mesh → "mesh", proxy-defaults → "global", exported-services →
 * "default"): defaults to that name when omitted, and any other name is an error.
 */
export function fixedNameSchema(kind: string, name: string) {
  return z
    .string()
    .superRefine((given, ctx) => {
      if (given !== name) {
        ctx.addIssue({
          code: 'custom',
          message: `must be ${JSON.stringify(name)} for ${kind} (got ${JSON.stringify(given)})`,
        });
      }
    })
    .default(name);
}
