// Brings a service definition written in HCL or snake_case JSON (`service { name = "web" check { ... } }`)
// into the PascalCase JSON shape of PUT /v1/agent/service/register, as `consul services register` accepts.
// Keys of user-data maps (Meta, Header, TaggedAddresses) are kept; opaque Config is left untouched.

const ACRONYMS: Record<string, string> = {
  id: 'ID',
  ttl: 'TTL',
  http: 'HTTP',
  tcp: 'TCP',
  udp: 'UDP',
  grpc: 'GRPC',
  tls: 'TLS',
  ip: 'IP',
  os: 'OS',
  h2ping: 'H2PING',
};

/** Fields whose value is one object: HCL blocks arrive as one-element lists and are unwrapped. */
const SINGLE_BLOCKS = new Set([
  'Check',
  'Connect',
  'Proxy',
  'SidecarService',
  'MeshGateway',
  'TransparentProxy',
  'Expose',
  'Weights',
  'Locality',
  'AccessLogs',
  'Meta',
  'TaggedAddresses',
  'Header',
  'Config',
]);

/** Maps whose keys are the user's: keep the keys, canonicalize the values. */
const USER_KEYED = new Set(['TaggedAddresses']);
/** Maps kept exactly as written. */
const OPAQUE = new Set(['Meta', 'NodeMeta', 'Header', 'Config']);

/** Whole keys the part-by-part rule gets wrong. */
const SPECIAL_KEYS: Record<string, string> = { h2ping_use_tls: 'H2PingUseTLS' };

export function pascalKey(key: string): string {
  const special = SPECIAL_KEYS[key.toLowerCase()];
  if (special) return special;
  if (/^[A-Z]/.test(key) && !key.includes('_')) return key;
  return key
    .split(/[_-]/)
    .filter((part) => part !== '')
    .map((part) => ACRONYMS[part.toLowerCase()] ?? part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

export function canonicalizeService(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalizeService);
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [rawKey, rawValue] of Object.entries(value)) {
    const key = pascalKey(rawKey);
    const single = SINGLE_BLOCKS.has(key) ? unwrapBlock(rawValue) : rawValue;
    if (OPAQUE.has(key)) out[key] = single;
    else if (USER_KEYED.has(key) && isObject(single)) {
      out[key] = Object.fromEntries(
        Object.entries(single).map(([k, v]) => [k, canonicalizeService(unwrapBlock(v))]),
      );
    } else out[key] = canonicalizeService(single);
  }
  return out;
}

function unwrapBlock(value: unknown): unknown {
  return Array.isArray(value) && value.length === 1 && isObject(value[0]) ? value[0] : value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
