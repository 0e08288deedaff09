// Request bodies of the catalog's write endpoints, validated with zod. Wrong types are refused with the
// field named; unknown fields are ignored, as Consul's catalog endpoints do.
import { z } from 'zod';
import { invalid } from '../shared/errors.js';
import { describeZodError } from '../shared/zod-message.js';

const stringMap = z.record(z.string(), z.string());
const checkStatus = z.enum(['passing', 'warning', 'critical', 'maintenance']);
const name = z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters');
const port = z.number().int('must be an integer').min(0).max(65535);

export const serviceDefinitionSchema = z.object({
  ID: z.string().max(256).optional(),
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
  Tags: z.array(z.string()).nullish(),
  Address: z.string().optional(),
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
  Meta: stringMap.nullish(),
  Port: port.optional(),
  Weights: z.object({ Passing: z.number().int().min(1), Warning: z.number().int().min(0) }).nullish(),
  EnableTagOverride: z.boolean().optional(),
  Proxy: z.record(z.string(), z.unknown()).nullish(),
  Connect: z.record(z.string(), z.unknown()).nullish(),
  Namespace: z.string().optional(),
});
export type ServiceDefinition = z.infer<typeof serviceDefinitionSchema>;

export const checkDefinitionSchema = z.object({
  Node: z.string().optional(),
  CheckID: z.string().optional(),
  Name: name,
  Notes: z.string().optional(),
  Output: z.string().optional(),
  Status: checkStatus.optional(),
  ServiceID: z.string().optional(),
  Type: z.string().optional(),
  Definition: z.record(z.string(), z.unknown()).optional(),
});
export type CheckDefinition = z.infer<typeof checkDefinitionSchema>;

export const registerRequestSchema = z.object({
  ID: z.string().optional(),
  Node: name,
  Address: z.string().min(1, 'must not be empty'),
  Datacenter: z.string().optional(),
  TaggedAddresses: stringMap.nullish(),
  NodeMeta: stringMap.nullish(),
  Service: serviceDefinitionSchema.nullish(),
  Check: checkDefinitionSchema.nullish(),
  Checks: z.array(checkDefinitionSchema).nullish(),
  SkipNodeUpdate: z.boolean().optional(),
});
export type RegisterRequest = z.infer<typeof registerRequestSchema>;

export const deregisterRequestSchema = z.object({
  Node: name,
  Datacenter: z.string().optional(),
  ServiceID: z.string().optional(),
  CheckID: z.string().optional(),
});
export type DeregisterRequest = z.infer<typeof deregisterRequestSchema>;

/** Agent-style check: Consul's agent accepts TTL/HTTP/TCP definitions; meshpeer records, not runs, them. */
export const agentCheckSchema = z.object({
  CheckID: z.string().optional(),
  ID: z.string().optional(),
  Name: z.string().optional(),
  Notes: z.string().optional(),
  Status: checkStatus.optional(),
  TTL: z.string().optional(),
  HTTP: z.string().optional(),
  TCP: z.string().optional(),
  Interval: z.string().optional(),
  Timeout: z.string().optional(),
  DeregisterCriticalServiceAfter: z.string().optional(),
});

export const agentServiceSchema = serviceDefinitionSchema.omit({ Service: true }).extend({
  Name: name,
  Check: agentCheckSchema.nullish(),
  Checks: z.array(agentCheckSchema).nullish(),
});
export type AgentServiceRequest = z.infer<typeof agentServiceSchema>;

export function parseBody<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalid(`Request decode failed: ${what} must be a JSON object`);
  }
  const r = schema.safeParse(body);
  if (!r.success) throw invalid(`Request decode failed: ${describeZodError(r.error)}`);
  return r.data;
}
