// Mesh gateway modes, and the rule that peered traffic must go through a mesh gateway.
import { z } from 'zod';
import { invalid } from '../shared/errors.js';

export const MESH_GATEWAY_MODES = ['', 'remote', 'local', 'none'] as const;
export type MeshGatewayMode = (typeof MESH_GATEWAY_MODES)[number];

/** The modes a peered upstream can use once defaults are applied. */
export type PeeredMeshGatewayMode = 'remote' | 'local';

export const meshGatewayModeSchema = z.enum(MESH_GATEWAY_MODES);

/** `MeshGateway { Mode }`, as in proxy-defaults, service-defaults and upstream configs. */
export const meshGatewayConfigSchema = z.strictObject({ Mode: meshGatewayModeSchema.default('') });
export type MeshGatewayConfig = z.output<typeof meshGatewayConfigSchema>;

/**
 * Checks the mesh gateway mode that applies to a peered upstream and returns the effective one:
 * unset ("") means "remote", the default for peering. `none` (a direct connection) cannot reach a
 * peer, so it is refused with an `invalid` error that names `where` the mode was set.
 */
export function assertModeAllowsPeering(mode: string | undefined, where: string): PeeredMeshGatewayMode {
  if (mode === undefined || mode === '' || mode === 'remote') return 'remote';
  if (mode === 'local') return 'local';
  if (mode === 'none') {
    throw invalid(
      `${where}: mesh gateway mode "none" cannot be used for traffic to a peer: peered services are only ` +
        'reachable through mesh gateways; set the mode to "remote" (the default) or "local"',
    );
  }
  throw invalid(
    `${where}: unknown mesh gateway mode ${JSON.stringify(mode)}: use "remote" (the default) or "local" for peered traffic`,
  );
}
