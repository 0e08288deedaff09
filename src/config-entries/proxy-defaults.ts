// The proxy-defaults config entry (name "global"): defaults for every sidecar and gateway, including
// the mesh gateway mode and the opaque proxy `Config` passed through to the data plane.
import { z } from 'zod';
import { commonFields, fixedNameSchema } from './common.js';
import { proxyConfigSchema } from './limits.js';
import { meshGatewayConfigSchema } from './mesh-gateway-mode.js';

export const PROXY_DEFAULTS_KIND = 'proxy-defaults';
export const PROXY_DEFAULTS_NAME = 'global';

const portSchema = z.int().min(0).max(65535);
const optionalPortSchema = z.int().min(0).max(65535).optional();

const exposePathSchema = z
  .strictObject({
    Path: z.string().optional(),
    LocalPathPort: optionalPortSchema,
    ListenerPort: optionalPortSchema,
    Protocol: z.enum(['', 'http', 'http2']).optional(),
  })
  .superRefine((path, ctx) => {
    if (path.Path !== undefined && path.Path !== '' && !path.Path.startsWith('/')) {
      ctx.addIssue({
        code: 'custom',
        path: ['Path'],
        message: `must begin with "/" (got ${JSON.stringify(path.Path)})`,
      });
    }
  });

const accessLogsSchema = z
  .strictObject({
    Enabled: z.boolean().optional(),
    DisableListenerLogs: z.boolean().optional(),
    Type: z.enum(['', 'stdout', 'stderr', 'file']).optional(),
    Path: z.string().optional(),
    JSONFormat: z.string().optional(),
    TextFormat: z.string().optional(),
  })
  .superRefine((logs, ctx) => {
    if (logs.Type === 'file' && !logs.Path) {
      ctx.addIssue({ code: 'custom', path: ['Path'], message: 'is required when Type is "file"' });
    }
    if (logs.Type !== 'file' && logs.Path) {
      ctx.addIssue({ code: 'custom', path: ['Path'], message: 'can only be set when Type is "file"' });
    }
    if (logs.JSONFormat && logs.TextFormat) {
      ctx.addIssue({
        code: 'custom',
        path: ['TextFormat'],
        message: 'cannot be set together with JSONFormat',
      });
    }
  });

const envoyExtensionSchema = z.strictObject({
  Name: z.string().min(1),
  Required: z.boolean().optional(),
  Arguments: z.record(z.string(), z.unknown()).optional(),
  ConsulVersion: z.string().optional(),
  EnvoyVersion: z.string().optional(),
});

export const proxyDefaultsSchema = z.strictObject({
  ...commonFields(PROXY_DEFAULTS_KIND),
  Name: fixedNameSchema(PROXY_DEFAULTS_KIND, PROXY_DEFAULTS_NAME),
  /** Opaque proxy parameters (protocol, envoy_* settings, ...): kept exactly as given. */
  Config: proxyConfigSchema.optional(),
  Mode: z.enum(['', 'direct', 'transparent']).optional(),
  TransparentProxy: z
    .strictObject({
      OutboundListenerPort: portSchema.optional(),
      DialedDirectly: z.boolean().optional(),
    })
    .optional(),
  MutualTLSMode: z.enum(['', 'strict', 'permissive']).optional(),
  MeshGateway: meshGatewayConfigSchema.default(() => ({ Mode: '' as const })),
  Expose: z
    .strictObject({
      Checks: z.boolean().optional(),
      Paths: z.array(exposePathSchema).optional(),
    })
    .optional(),
  AccessLogs: accessLogsSchema.optional(),
  EnvoyExtensions: z.array(envoyExtensionSchema).optional(),
  PrioritizeByLocality: z.strictObject({ Mode: z.enum(['', 'none', 'failover']).optional() }).optional(),
});
export type ProxyDefaultsEntry = z.output<typeof proxyDefaultsSchema>;

/** Things that are valid but probably not what the writer wants, phrased for a person. */
export function proxyDefaultsWarnings(entry: ProxyDefaultsEntry): string[] {
  const warnings: string[] = [];
  if (entry.MeshGateway.Mode === 'none') {
    warnings.push(
      'MeshGateway.Mode is "none": upstreams in peered clusters cannot be reached without a mesh gateway; ' +
        'override the mode with "remote" or "local" for peered upstreams',
    );
  }
  return warnings;
}
