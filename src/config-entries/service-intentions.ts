// The service-intentions config entry: who may call one destination service (Name, or "*"), from
// this cluster or from a peer, with L4 (Action) or L7 (Permissions) rules. Each source gets its
// Precedence computed, and sources are kept in evaluation order (highest precedence first).
import { z } from 'zod';
import { commonFields } from './common.js';
import { isSet, nonEmptyString, peerNameSchema, serviceNameSchema, WILDCARD } from './names.js';

export const SERVICE_INTENTIONS_KIND = 'service-intentions';

const DESCRIPTION_MAX_LENGTH = 512;
const HTTP_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
]);

export const intentionActionSchema = z.enum(['allow', 'deny']);
export type IntentionAction = z.output<typeof intentionActionSchema>;

const headerSchema = z
  .strictObject({
    Name: nonEmptyString,
    Present: z.boolean().optional(),
    Exact: z.string().optional(),
    Prefix: z.string().optional(),
    Suffix: z.string().optional(),
    Regex: z.string().optional(),
    Invert: z.boolean().optional(),
  })
  .superRefine((header, ctx) => {
    const matchers = [
      header.Present ? 'Present' : undefined,
      isSet(header.Exact) ? 'Exact' : undefined,
      isSet(header.Prefix) ? 'Prefix' : undefined,
      isSet(header.Suffix) ? 'Suffix' : undefined,
      isSet(header.Regex) ? 'Regex' : undefined,
    ].filter((m) => m !== undefined);
    if (matchers.length > 1) {
      ctx.addIssue({ code: 'custom', message: `set only one of ${matchers.join(', ')}` });
    }
  });

const httpSchema = z
  .strictObject({
    PathExact: z.string().optional(),
    PathPrefix: z.string().optional(),
    PathRegex: z.string().optional(),
    Methods: z.array(z.string()).optional(),
    Header: z.array(headerSchema).optional(),
  })
  .superRefine((http, ctx) => {
    const paths = (['PathExact', 'PathPrefix', 'PathRegex'] as const).filter((f) => isSet(http[f]));
    if (paths.length > 1) {
      ctx.addIssue({ code: 'custom', message: `set only one of ${paths.join(', ')}` });
    }
    for (const field of ['PathExact', 'PathPrefix'] as const) {
      const path = http[field];
      if (isSet(path) && !path.startsWith('/')) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `must begin with "/" (got ${JSON.stringify(path)})`,
        });
      }
    }
    const seen = new Set<string>();
    (http.Methods ?? []).forEach((method, i) => {
      if (!HTTP_METHODS.has(method)) {
        ctx.addIssue({
          code: 'custom',
          path: ['Methods', i],
          message: `${JSON.stringify(method)} is not an HTTP method (use upper case: ${[...HTTP_METHODS].join(', ')})`,
        });
      } else if (seen.has(method)) {
        ctx.addIssue({ code: 'custom', path: ['Methods', i], message: `${method} is listed more than once` });
      }
      seen.add(method);
    });
    if (paths.length === 0 && (http.Methods ?? []).length === 0 && (http.Header ?? []).length === 0) {
      ctx.addIssue({ code: 'custom', message: 'must match on at least one of a path, Methods or Header' });
    }
  });

const jwtSchema = z.strictObject({
  Providers: z.array(
    z.strictObject({
      Name: nonEmptyString,
      VerifyClaims: z.array(z.strictObject({ Path: z.array(z.string()), Value: z.string() })).optional(),
    }),
  ),
});

const permissionSchema = z
  .strictObject({
    Action: intentionActionSchema,
    HTTP: httpSchema.optional(),
    JWT: jwtSchema.optional(),
  })
  .superRefine((permission, ctx) => {
    if (!permission.HTTP && !permission.JWT) {
      ctx.addIssue({ code: 'custom', message: 'must set HTTP (or JWT) to say which requests it matches' });
    }
  });
export type IntentionPermission = z.output<typeof permissionSchema>;

const sourceSchema = z
  .strictObject({
    Name: serviceNameSchema,
    Namespace: z.string().optional(),
    Partition: z.string().optional(),
    Peer: peerNameSchema.optional(),
    SamenessGroup: z.string().optional(),
    Action: intentionActionSchema.optional(),
    Permissions: z.array(permissionSchema).optional(),
    Description: z.string().max(DESCRIPTION_MAX_LENGTH).optional(),
    /** Computed; any value given is replaced. */
    Precedence: z.number().optional(),
    // Consul's clients send "" when no type is set; it means the default, "consul".
    Type: z.preprocess((v) => (v === '' || v === null || v === undefined ? 'consul' : v), z.enum(['consul'])),
  })
  .superRefine((source, ctx) => {
    const origins = (['Peer', 'Partition', 'SamenessGroup'] as const).filter((f) => isSet(source[f]));
    if (origins.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: [origins[1] ?? 'Peer'],
        message: `cannot be set together with ${origins[0]}: a source comes from one peer, partition or sameness group`,
      });
    }
    const hasPermissions = (source.Permissions ?? []).length > 0;
    if (hasPermissions && source.Action !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['Action'],
        message: 'must be omitted when Permissions are given (each permission has its own Action)',
      });
    }
    if (!hasPermissions && source.Action === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['Action'],
        message: 'is required ("allow" or "deny") unless Permissions are given',
      });
    }
  });

type ParsedSource = z.output<typeof sourceSchema>;
export type IntentionSource = ParsedSource & { Precedence: number };

const entryObjectSchema = z
  .strictObject({
    ...commonFields(SERVICE_INTENTIONS_KIND),
    /** The destination service, or "*" for every service. */
    Name: serviceNameSchema,
    JWT: jwtSchema.optional(),
    Sources: z.array(sourceSchema).default(() => []),
  })
  .superRefine((entry, ctx) => {
    if (entry.Sources.length === 0 && !entry.JWT) {
      ctx.addIssue({ code: 'custom', path: ['Sources'], message: 'must list at least one source' });
    }
    const seen = new Map<string, number>();
    entry.Sources.forEach((source, i) => {
      const key = sourceLabel(source);
      const first = seen.get(key);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['Sources', i],
          message: `source ${key} is already listed at Sources[${first}]; combine them into one`,
        });
      } else {
        seen.set(key, i);
      }
      if (entry.Name === WILDCARD && (source.Permissions ?? []).length > 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['Sources', i, 'Permissions'],
          message:
            'cannot be used when the destination is "*": L7 permissions need a known destination protocol',
        });
      }
    });
  });

/** How a source is named in messages and compared for duplicates: `peer:cluster-02/default/web`. */
function sourceLabel(source: ParsedSource): string {
  const origin = isSet(source.Peer)
    ? `peer:${source.Peer}`
    : isSet(source.SamenessGroup)
      ? `sameness-group:${source.SamenessGroup}`
      : `partition:${source.Partition || 'default'}`;
  return `${origin}/${source.Namespace || 'default'}/${source.Name}`;
}

/** 2 = exact namespace and name, 1 = exact namespace, any name, 0 = any namespace. */
function specificity(namespace: string | undefined, name: string): number {
  if (namespace === WILDCARD) return 0;
  return name === WILDCARD ? 1 : 2;
}

/**
 * Consul's intention precedence, 1 (any → any) to 9 (exact → exact): the destination's specificity
 * weighs more than the source's.
 */
export function intentionPrecedence(
  destination: { Name: string; Namespace?: string | undefined },
  source: { Name: string; Namespace?: string | undefined },
): number {
  return (
    specificity(destination.Namespace, destination.Name) * 3 + specificity(source.Namespace, source.Name) + 1
  );
}

export const serviceIntentionsSchema = entryObjectSchema.transform((entry) => {
  const sources: IntentionSource[] = entry.Sources.map((source) => ({
    ...source,
    Precedence: intentionPrecedence(entry, source),
  }));
  // Stable: sources of equal precedence keep the order they were written in.
  sources.sort((a, b) => b.Precedence - a.Precedence);
  return { ...entry, Sources: sources };
});
export type ServiceIntentionsEntry = z.output<typeof serviceIntentionsSchema>;
