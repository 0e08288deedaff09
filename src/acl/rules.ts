// The ACL rule language, Consul's, in HCL 1 (src/acl/hcl1.ts) or JSON:
//   service "web" { policy = "write" }      service_prefix "" { policy = "read" intentions = "read" }
//   node "n1" { policy = "read" }           node_prefix "" { policy = "write" }
//   agent "n1" { policy = "read" }          agent_prefix "" { policy = "write" }
//   acl = "read" | "write" | "deny"         peering = ...   mesh = ...   operator = ...   keyring = ...
// Consul's rules for resources meshpeer does not have (key, key_prefix, event, event_prefix, query,
// query_prefix, session, session_prefix, keyring, and a service rule's `intentions`) are checked and
// stored like Consul's, and grant nothing here; anything else is refused naming the rule.
// Parsed once when a policy is written; the result is stored with the policy, so checks are synchronous.
import { invalid } from '../shared/errors.js';
import { parseHcl1 } from './hcl1.js';

export type Access = 'read' | 'write' | 'deny';

export interface ParsedRules {
  service: Record<string, Access>;
  servicePrefix: Record<string, Access>;
  node: Record<string, Access>;
  nodePrefix: Record<string, Access>;
  /** Absent in policies stored before agent rules were read (they had none). */
  agent?: Record<string, Access>;
  agentPrefix?: Record<string, Access>;
  peering?: Access;
  mesh?: Access;
  operator?: Access;
  acl?: Access;
}

export type NamedRule = 'service' | 'servicePrefix' | 'node' | 'nodePrefix' | 'agent' | 'agentPrefix';

const ACCESS: readonly string[] = ['read', 'write', 'deny'];
const SCALARS = ['peering', 'mesh', 'operator', 'acl'] as const;
/** Scalars Consul has for resources meshpeer does not: checked, not stored. */
const OTHER_SCALARS = new Set(['keyring']);
const BLOCKS: Record<string, NamedRule> = {
  service: 'service',
  service_prefix: 'servicePrefix',
  node: 'node',
  node_prefix: 'nodePrefix',
  agent: 'agent',
  agent_prefix: 'agentPrefix',
};
/** Blocks Consul has for resources meshpeer does not: checked, not stored. */
const OTHER_BLOCKS = new Set([
  'key',
  'key_prefix',
  'event',
  'event_prefix',
  'query',
  'query_prefix',
  'session',
  'session_prefix',
]);
const SUPPORTED = [...Object.keys(BLOCKS), ...OTHER_BLOCKS, ...SCALARS, ...OTHER_SCALARS].join(', ');

const STRENGTH: Record<Access, number> = { read: 1, write: 2, deny: 3 };

/** Of two grants for the same thing, the one that wins: deny over write over read. */
export function strongerAccess(a: Access | undefined, b: Access | undefined): Access | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return STRENGTH[a] >= STRENGTH[b] ? a : b;
}

export const emptyRules = (): ParsedRules => ({
  service: {},
  servicePrefix: {},
  node: {},
  nodePrefix: {},
  agent: {},
  agentPrefix: {},
});

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function access(value: unknown, where: string, allowed: readonly string[] = ACCESS): string {
  if (typeof value === 'string' && allowed.includes(value)) return value;
  const choices = allowed.map((a) => `"${a}"`);
  throw invalid(
    `Invalid rules: ${where}: policy must be ${choices.slice(0, -1).join(', ')} or ${choices.at(-1)} ` +
      `(got ${JSON.stringify(value) ?? 'nothing'})`,
  );
}

/** Parses rule text (HCL 1, or JSON when it starts with `{`); throws `invalid` naming the problem. */
export async function parseRules(text: string): Promise<ParsedRules> {
  return parseRulesSync(text);
}

export function parseRulesSync(text: string): ParsedRules {
  if (text.trim() === '') return emptyRules();
  if (text.trimStart().startsWith('{')) {
    let decoded: unknown;
    try {
      decoded = JSON.parse(text);
    } catch (err) {
      throw invalid(`Invalid rules: not valid JSON: ${(err as Error).message}`);
    }
    return normalizeRules(decoded);
  }
  return normalizeRules(parseHcl1(text));
}

/** The bodies of `key "name" { ... }`: one object (Consul's JSON), or a list of them (HCL blocks). */
function bodies(block: unknown, where: string): Record<string, unknown>[] {
  const list = Array.isArray(block) ? block : [block];
  if (list.length === 0 || !list.every(isObject)) {
    throw invalid(`Invalid rules: ${where}: expected a block with policy = ...`);
  }
  return list;
}

/** Checks decoded rules (HCL's or Consul's JSON shape) and brings them into ParsedRules. */
export function normalizeRules(decoded: unknown): ParsedRules {
  if (!isObject(decoded)) throw invalid('Invalid rules: expected an object of rules');
  const out = emptyRules();
  for (const [key, value] of Object.entries(decoded)) {
    if ((SCALARS as readonly string[]).includes(key)) {
      out[key as (typeof SCALARS)[number]] = access(value, key) as Access;
      continue;
    }
    if (OTHER_SCALARS.has(key)) {
      access(value, key);
      continue;
    }
    const field = BLOCKS[key];
    if (field !== undefined || OTHER_BLOCKS.has(key)) {
      if (!isObject(value))
        throw invalid(`Invalid rules: ${key}: expected ${key} "name" { policy = ... } blocks`);
      const isService = key === 'service' || key === 'service_prefix';
      const levels = key === 'key' || key === 'key_prefix' ? [...ACCESS, 'list'] : ACCESS;
      for (const [name, block] of Object.entries(value)) {
        const where = `${key} ${JSON.stringify(name)}`;
        for (const body of bodies(block, where)) {
          const unknownKeys = Object.keys(body).filter(
            (k) => k !== 'policy' && !(isService && k === 'intentions'),
          );
          if (unknownKeys.length > 0) {
            throw invalid(`Invalid rules: ${where}: unsupported field ${JSON.stringify(unknownKeys[0])}`);
          }
          if (body.intentions !== undefined) access(body.intentions, `${where} intentions`);
          // Consul allows a service rule with only `intentions`; it grants nothing on the service.
          if (body.policy === undefined && body.intentions !== undefined) continue;
          const level = access(body.policy, where, levels);
          if (field === undefined) continue;
          const rules = out[field] ?? {};
          out[field] = rules;
          rules[name] = strongerAccess(rules[name], level as Access) as Access;
        }
      }
      continue;
    }
    throw invalid(`Invalid rules: unknown rule ${JSON.stringify(key)}; supported: ${SUPPORTED}`);
  }
  return out;
}
