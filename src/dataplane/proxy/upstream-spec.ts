// Parses `--upstream` values: `backend:9191` (local) or `backend:peer=cluster-01:9191`, optionally
// with `mode=local|remote` and a bind address: `backend:peer=cluster-01:mode=local:127.0.0.2:9191`.
import {
  assertModeAllowsPeering,
  isValidPeerName,
  MESH_GATEWAY_MODES,
  type MeshGatewayMode,
} from '../../config-entries/index.js';
import { invalid } from '../../shared/errors.js';
import type { UpstreamSpec } from './config.js';

const SERVICE = /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/;
const USAGE = 'expected NAME[:peer=PEER][:mode=remote|local]:[HOST:]PORT, e.g. backend:peer=cluster-01:9191';

export function parseUpstreamSpec(text: string): UpstreamSpec {
  const parts = text.split(':');
  const [name = '', ...rest] = parts;
  if (!SERVICE.test(name)) throw invalid(`--upstream "${text}": "${name}" is not a service name; ${USAGE}`);
  const spec: UpstreamSpec = { name, bind: { host: '127.0.0.1', port: 0 } };
  while (rest[0]?.includes('=')) {
    const [key, value = ''] = (rest.shift() ?? '').split('=', 2);
    if (key === 'peer') {
      if (!isValidPeerName(value)) throw invalid(`--upstream "${text}": "${value}" is not a valid peer name`);
      spec.peer = value;
    } else if (key === 'mode') {
      if (!isMode(value))
        throw invalid(`--upstream "${text}": mode must be remote, local or none, got "${value}"`);
      spec.meshGatewayMode = value;
    } else {
      throw invalid(`--upstream "${text}": unknown option "${key}"; ${USAGE}`);
    }
  }
  const port = Number(rest.pop());
  const host = rest.length > 0 ? rest.join(':') : '127.0.0.1';
  if (!Number.isInteger(port) || port < 1 || port > 65535 || host === '') {
    throw invalid(`--upstream "${text}": no valid local port; ${USAGE}`);
  }
  spec.bind = { host, port };
  // Refused here, where the user wrote it, rather than on the first connection.
  if (spec.peer && spec.meshGatewayMode)
    assertModeAllowsPeering(spec.meshGatewayMode, `--upstream "${text}"`);
  return spec;
}

function isMode(value: string): value is MeshGatewayMode {
  return (MESH_GATEWAY_MODES as readonly string[]).includes(value);
}
