// The mesh config entry (name "mesh"): mesh-wide settings, including whether the peering control
// plane goes through mesh gateways.
import { z } from 'zod';
import { commonFields, fixedNameSchema } from './common.js';

export const MESH_KIND = 'mesh';
export const MESH_NAME = 'mesh';

/** In increasing order; "" and TLS_AUTO leave the choice to the proxy. */
export const TLS_VERSIONS = ['', 'TLS_AUTO', 'TLSv1_0', 'TLSv1_1', 'TLSv1_2', 'TLSv1_3'] as const;
export type TLSVersion = (typeof TLS_VERSIONS)[number];

const isAuto = (version: TLSVersion | undefined): boolean =>
  version === undefined || version === '' || version === 'TLS_AUTO';

const tlsDirectionSchema = z
  .strictObject({
    TLSMinVersion: z.enum(TLS_VERSIONS).optional(),
    TLSMaxVersion: z.enum(TLS_VERSIONS).optional(),
    CipherSuites: z.array(z.string().min(1)).optional(),
  })
  .superRefine((tls, ctx) => {
    const min = tls.TLSMinVersion;
    const max = tls.TLSMaxVersion;
    if (!isAuto(min) && !isAuto(max) && min && max && TLS_VERSIONS.indexOf(min) > TLS_VERSIONS.indexOf(max)) {
      ctx.addIssue({
        code: 'custom',
        path: ['TLSMinVersion'],
        message: `${min} is newer than TLSMaxVersion ${max}`,
      });
    }
    if (tls.CipherSuites && tls.CipherSuites.length > 0 && min === 'TLSv1_3') {
      ctx.addIssue({
        code: 'custom',
        path: ['CipherSuites'],
        message: 'cannot be set when TLSMinVersion is TLSv1_3: TLS 1.3 cipher suites are not configurable',
      });
    }
    const seen = new Set<string>();
    (tls.CipherSuites ?? []).forEach((suite, i) => {
      if (seen.has(suite)) {
        ctx.addIssue({
          code: 'custom',
          path: ['CipherSuites', i],
          message: `${suite} is listed more than once`,
        });
      }
      seen.add(suite);
    });
  });
export type MeshTLSDirection = z.output<typeof tlsDirectionSchema>;

export const meshSchema = z.strictObject({
  ...commonFields(MESH_KIND),
  Name: fixedNameSchema(MESH_KIND, MESH_NAME),
  TransparentProxy: z
    .strictObject({ MeshDestinationsOnly: z.boolean().default(false) })
    .default(() => ({ MeshDestinationsOnly: false })),
  AllowEnablingPermissiveMutualTLS: z.boolean().default(false),
  TLS: z
    .strictObject({
      Incoming: tlsDirectionSchema.optional(),
      Outgoing: tlsDirectionSchema.optional(),
    })
    .optional(),
  HTTP: z.strictObject({ SanitizeXForwardedClientCert: z.boolean().default(false) }).optional(),
  Peering: z.strictObject({ PeerThroughMeshGateways: z.boolean().default(false) }).optional(),
});
export type MeshEntry = z.output<typeof meshSchema>;

/** Whether the peering control-plane stream goes through mesh gateways (false when no entry). */
export function peerThroughMeshGateways(entry: MeshEntry | undefined): boolean {
  return entry?.Peering?.PeerThroughMeshGateways ?? false;
}
