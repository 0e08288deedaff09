// The ACL rule language (a subset of Consul's), HCL or JSON:
//   service "web" { policy = "write" }      service_prefix "" { policy = "read" }
//   node "n1" { policy = "read" }           node_prefix "" { policy = "write" }
//   peering = "read" | "write" | "deny"     mesh = ...     operator = ...     acl = ...
// `acl` is accepted and stored as Consul's; the /v1/acl routes still need the management token.
// Parsed once when a policy is written; the result is stored with the policy, so checks are synchronous.
import { invalid } from '../shared/errors.js';

export type Access = 'read' | 'write' | 'deny';

export interface ParsedRules {
  service: Record<string, Access>;
  servicePrefix: Record<string, Access>;
  node: Record<string, Access>;
  nodePrefix: Record<string, Access>;
  peering?: Access;
  mesh?: Access;
  operator?: Access;
  acl?: Access;
}

const ACCESS: readonly string[] = ['read', 'write', 'deny'];
const SCALARS = ['peering', 'mesh', 'operator', 'acl'] as const;
const BLOCKS = {
  service: 'service',
  service_prefix: 'servicePrefix',
  node: 'node',
  node_prefix: 'nodePrefix',
} as const;

export const emptyRules = (): ParsedRules => ({ service: {}, servicePrefix: {}, node: {}, nodePrefix: {} });

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function access(value: unknown, where: string): Access {
  if (typeof value === 'string' && ACCESS.includes(value)) return value as Access;
  throw invalid(
    `Invalid rules: ${where}: policy must be "read", "write" or "deny" (got ${JSON.stringify(value) ?? 'nothing'})`,
  );
}

/** Parses rule text (HCL, or JSON when it starts with `{`); throws `invalid` naming the problem. */
export async function parseRules(text: string): Promise<ParsedRules> {
  if (text.trim() === '') return emptyRules();
  let decoded: unknown;
  if (text.trimStart().startsWith('{')) {
    try {
      decoded = JSON.parse(text);
    } catch (err) {
      throw invalid(`Invalid rules: not valid JSON: ${(err as Error).message}`);
    }
  } else {
    const { parse } = await import('@cdktf/hcl2json');
    try {
      decoded = await parse('rules.hcl', text);
    } catch (err) {
      const message = (err as Error).message.replace(/^parse config: \[?/, '').replace(/\]$/, '');
      throw invalid(`Invalid rules: failed to parse HCL: ${message}`);
    }
  }
  return normalizeRules(decoded);
}

/** Checks decoded rules (hcl2json's or Consul's JSON shape) and brings them into ParsedRules. */
export function normalizeRules(decoded: unknown): ParsedRules {
  if (!isObject(decoded)) throw invalid('Invalid rules: expected an object of rules');
  const out = emptyRules();
  for (const [key, value] of Object.entries(decoded)) {
    if ((SCALARS as readonly string[]).includes(key)) {
      out[key as (typeof SCALARS)[number]] = access(value, key);
      continue;
    }
    if (key in BLOCKS) {
      const field = BLOCKS[key as keyof typeof BLOCKS];
      if (!isObject(value))
        throw invalid(`Invalid rules: ${key}: expected ${key} "name" { policy = ... } blocks`);
      for (const [name, block] of Object.entries(value)) {
        // hcl2json renders a block as a one-element list; Consul's JSON form has the object itself.
        const body = Array.isArray(block) && block.length === 1 ? block[0] : block;
        const where = `${key} ${JSON.stringify(name)}`;
        if (!isObject(body)) throw invalid(`Invalid rules: ${where}: expected a block with policy = ...`);
        const unknownKeys = Object.keys(body).filter((k) => k !== 'policy');
        if (unknownKeys.length > 0) {
          throw invalid(`Invalid rules: ${where}: unsupported field ${JSON.stringify(unknownKeys[0])}`);
        }
        out[field][name] = access(body.policy, where);
      }
      continue;
    }
    throw invalid(
      `Invalid rules: unknown rule ${JSON.stringify(key)}; supported: service, service_prefix, node, node_prefix, peering, mesh, operator, acl`,
    );
  }
  return out;
}
