// Request bodies of the catalog's write endpoints, validated with zod. Keys are matched ignoring case,
// `_` and `-` (as Consul's decoder does) and brought to their PascalCase spelling before validation;
// wrong types and values past the limits of src/config-entries/limits.ts are refused with the field
// named; unknown fields are ignored, as Consul's catalog endpoints do.
//
// The decoding rule, here and for config entries (src/config-entries/registry.ts): accept what Consul
// accepts — including the zero values Consul's own clients send for "not set" (Weights {0,0}, empty
// ServiceID/CheckID, Tags/Meta null) — store the normalized form (the defaults filled in), and refuse only
// what Consul refuses, with a message naming the field.
import { z } from 'zod';
import { metaSchema } from '../config-entries/common.js';
import { durationSchema, parseGoDuration } from '../config-entries/duration.js';
import { limitedId, limitedName, proxyConfigSchema, tagsSchema } from '../config-entries/limits.js';
import { canonicalize } from '../config-entries/shape.js';
import { invalid } from '../shared/errors.js';
import { describeZodError } from '../shared/zod-message.js';

const stringMap = z.record(z.string(), z.string());
const checkStatus = z.enum(['passing', 'warning', 'critical', 'maintenance']);
const name = limitedName;
const port = z.number().int('must be an integer').min(0).max(65535);
/** Check output is kept up to Consul's default check_output_max_size. */
const MAX_CHECK_OUTPUT = 4096;
const output = z
  .string()
  .transform((text) => (text.length > MAX_CHECK_OUTPUT ? text.slice(0, MAX_CHECK_OUTPUT) : text));

export const serviceDefinitionSchema = z.object({
  ID: limitedId.optional(),
  Service: name,
  Kind: z
    .enum([
      '',
      'typical',
      'connect-proxy',
      'mesh-gateway',
      'terminating-gateway',
      'ingress-gateway',
      'api-gateway',
    ])
    .optional(),
  Tags: tagsSchema.nullish(),
  Address: limitedId.optional(),
  // Consul documents these as {"address", "port"} and also accepts the capitalised spelling.
  TaggedAddresses: z
    .record(
      z.string(),
      z.preprocess(
        (v) =>
          v !== null && typeof v === 'object' && !Array.isArray(v)
            ? Object.fromEntries(
                Object.entries(v).map(([k, x]) => [k.charAt(0).toUpperCase() + k.slice(1), x]),
              )
            : v,
        z.object({ Address: z.string(), Port: port }),
      ),
    )
    .nullish(),
  Meta: metaSchema.nullish(),
  Port: port.optional(),
  // Consul's clients send {"Passing":0,"Warning":0} when no weights are set: zero means the default.
  Weights: z
    .object({ Passing: z.number().int().min(0), Warning: z.number().int().min(0) })
    .nullish()
    .transform((w) => (w == null || (w.Passing === 0 && w.Warning === 0) ? undefined : w))
    .refine((w) => w === undefined || w.Passing >= 1, {
      message: 'Passing must be at least 1 when Warning is set',
      path: ['Passing'],
    }),
  EnableTagOverride: z.boolean().optional(),
  // Opaque but for Config, whose `*_timeout_ms` values are checked (see limits.ts).
  Proxy: z.looseObject({ Config: proxyConfigSchema.nullish() }).nullish(),
  Connect: z.record(z.string(), z.unknown()).nullish(),
  Namespace: z.string().optional(),
  Locality: z.object({ Region: z.string().optional(), Zone: z.string().optional() }).nullish(),
});
export type ServiceDefinition = z.infer<typeof serviceDefinitionSchema>;

export const checkDefinitionSchema = z.object({
  Node: limitedId.optional(),
  CheckID: limitedId.optional(),
  Name: name,
  Notes: z.string().optional(),
  Output: output.optional(),
  Status: checkStatus.optional(),
  ServiceID: limitedId.optional(),
  Type: z.string().optional(),
  Definition: z.record(z.string(), z.unknown()).optional(),
});
/** A check to write; ttlMs is set by the agent endpoints only (the catalog's do not run checks). */
export type CheckDefinition = z.infer<typeof checkDefinitionSchema> & { ttlMs?: number };

export const registerRequestSchema = z
  .object({
    ID: limitedId.optional(),
    Node: name,
    // Required unless SkipNodeUpdate (checked below), as Consul's catalog endpoint does.
    Address: limitedId.optional(),
    Datacenter: z.string().optional(),
    TaggedAddresses: stringMap.nullish(),
    NodeMeta: metaSchema.nullish(),
    Service: serviceDefinitionSchema.nullish(),
    Check: checkDefinitionSchema.nullish(),
    Checks: z.array(checkDefinitionSchema).nullish(),
    SkipNodeUpdate: z.boolean().optional(),
    Locality: z.object({ Region: z.string().optional(), Zone: z.string().optional() }).nullish(),
  })
  .refine((r) => r.SkipNodeUpdate === true || (r.Address !== undefined && r.Address !== ''), {
    message: 'must be given unless SkipNodeUpdate is set',
    path: ['Address'],
  });
export type RegisterRequest = z.infer<typeof registerRequestSchema>;

// An empty ServiceID or CheckID is no ID (Consul's clients always send both): it removes the node.
const optionalId = limitedId.optional().transform((v) => (v === '' ? undefined : v));
export const deregisterRequestSchema = z.object({
  Node: name,
  Datacenter: z.string().optional(),
  ServiceID: optionalId,
  CheckID: optionalId,
});
export type DeregisterRequest = z.infer<typeof deregisterRequestSchema>;

/** Agent-style check: Consul's agent accepts TTL/HTTP/TCP definitions; meshpeer records, not runs, them. */
export const agentCheckSchema = z.object({
  CheckID: limitedId.optional(),
  ID: limitedId.optional(),
  Name: limitedId.optional(),
  Notes: z.string().optional(),
  Status: checkStatus.optional(),
  TTL: durationSchema.optional(),
  HTTP: z.string().optional(),
  TCP: z.string().optional(),
  Interval: durationSchema.optional(),
  Timeout: durationSchema.optional(),
  DeregisterCriticalServiceAfter: durationSchema.optional(),
});

export const agentServiceSchema = serviceDefinitionSchema.omit({ Service: true }).extend({
  Name: name,
  Check: agentCheckSchema.nullish(),
  Checks: z.array(agentCheckSchema).nullish(),
});
export type AgentServiceRequest = z.infer<typeof agentServiceSchema>;

/**
 * Decodes a request body with `schema`: keys brought to the schema's spelling (case, `_` and `-`
 * ignored; the parser has already refused bodies where two keys differ only so), then validated.
 */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalid(`Request decode failed: ${what} must be a JSON object`);
  }
  const r = schema.safeParse(canonicalize(schema, body));
  if (!r.success) throw invalid(`Request decode failed: ${describeZodError(r.error)}`);
  return r.data;
}

export const decodeRegisterRequest = (raw: unknown): RegisterRequest =>
  parseBody(registerRequestSchema, raw, 'the registration');

export const decodeDeregisterRequest = (raw: unknown): DeregisterRequest =>
  parseBody(deregisterRequestSchema, raw, 'the deregistration');

/** PUT /v1/agent/service/register, decoded into exactly what is written: the service and its checks. */
export interface AgentRegistration {
  service: ServiceDefinition & { ID: string };
  checks: CheckDefinition[];
}

export function decodeAgentRegistration(raw: unknown): AgentRegistration {
  const s = parseBody(agentServiceSchema, raw, 'the service definition');
  const id = s.ID && s.ID !== '' ? s.ID : s.Name;
  const { Name, Check, Checks, ...rest } = s;
  const checks: CheckDefinition[] = [...(Check ? [Check] : []), ...(Checks ?? [])].map((c, i, all) => ({
    CheckID: c.CheckID ?? c.ID ?? (all.length > 1 ? `service:${id}:${i + 1}` : `service:${id}`),
    Name: c.Name ?? `Service '${Name}' check`,
    Notes: c.Notes ?? '',
    // A TTL check starts critical until it is updated; a check meshpeer does not run is recorded
    // as its given Status, or passing (meshpeer does not probe HTTP/TCP endpoints).
    Status: c.Status ?? (c.TTL !== undefined ? 'critical' : 'passing'),
    ServiceID: id,
    Type: c.TTL !== undefined ? 'ttl' : c.HTTP !== undefined ? 'http' : c.TCP !== undefined ? 'tcp' : '',
    ...ttlOf(c.TTL),
  }));
  return { service: { ...rest, ID: id, Service: Name }, checks };
}

/** A TTL check's TTL in ms, to arm its expiry (a zero TTL is recorded but never expires). */
export function ttlOf(ttl: string | undefined): { ttlMs?: number } {
  const ms = ttl === undefined ? undefined : parseGoDuration(ttl);
  return ms !== undefined && ms > 0 ? { ttlMs: ms } : {};
}
