// The service-defaults config entry: defaults for every instance of one service — above all its
// Protocol, which Kubernetes users set for L7 (http, http2, grpc). meshpeer stores and serves the
// entry with Consul's fields; its sidecars do not act on them yet (they proxy TCP).
//
// Decoding follows the rule of every kind: accept what Consul accepts (its fields, zero values meaning
// the default), store the normalized form (Protocol lower-cased, as Consul does), refuse only what
// Consul refuses, naming the field.
import { z } from 'zod';
import { commonFields } from './common.js';
import { meshGatewayConfigSchema } from './mesh-gateway-mode.js';
import { serviceNameSchema } from './names.js';

export const SERVICE_DEFAULTS_KIND = 'service-defaults';

const nonNegativeInt = z.number().int('must be an integer').min(0);
const port = z.number().int('must be an integer').min(0).max(65535);
/** Nested structures meshpeer stores as given (Consul validates them for its Envoy config). */
const opaque = z.record(z.string(), z.unknown());

export const serviceDefaultsSchema = z.strictObject({
  ...commonFields(SERVICE_DEFAULTS_KIND),
  Name: serviceNameSchema,
  Protocol: z
    .string()
    .optional()
    .transform((p) => (p === undefined ? undefined : p.toLowerCase())),
  Mode: z.enum(['', 'direct', 'transparent']).optional(),
  TransparentProxy: z
    .strictObject({ OutboundListenerPort: port.optional(), DialedDirectly: z.boolean().optional() })
    .optional(),
  MutualTLSMode: z.enum(['', 'strict', 'permissive']).optional(),
  MeshGateway: meshGatewayConfigSchema.optional(),
  Expose: z
    .strictObject({
      Checks: z.boolean().optional(),
      Paths: z
        .array(
          z.strictObject({
            ListenerPort: port.optional(),
            Path: z.string().optional(),
            LocalPathPort: port.optional(),
            Protocol: z.string().optional(),
            ParsedFromCheck: z.boolean().optional(),
          }),
        )
        .nullish(),
    })
    .optional(),
  ExternalSNI: z.string().optional(),
  UpstreamConfig: opaque.nullish(),
  Destination: z.strictObject({ Addresses: z.array(z.string()).nullish(), Port: port.optional() }).nullish(),
  MaxInboundConnections: nonNegativeInt.optional(),
  LocalConnectTimeoutMs: nonNegativeInt.optional(),
  LocalRequestTimeoutMs: nonNegativeInt.optional(),
  BalanceInboundConnections: z.enum(['', 'exact_balance']).optional(),
  RateLimits: opaque.nullish(),
  EnvoyExtensions: z.array(opaque).nullish(),
});
export type ServiceDefaultsEntry = z.output<typeof serviceDefaultsSchema>;
