// The policies every ACL-enabled Consul has from the start, with Consul's IDs, names, descriptions and
// rules: global-management (any token linked to it is management) and builtin/global-read-only (read
// on everything). They are listed and readable like any policy; they may be renamed, but their rules
// and datacenters cannot change and they cannot be deleted (src/acl/policy-store.ts).
import { type ParsedRules, parseRulesSync } from './rules.js';

export const GLOBAL_MANAGEMENT_ID = '00000000-0000-0000-0000-000000000001';
export const GLOBAL_MANAGEMENT_NAME = 'global-management';
export const GLOBAL_READ_ONLY_ID = '00000000-0000-0000-0000-000000000002';
export const GLOBAL_READ_ONLY_NAME = 'builtin/global-read-only';

export interface BuiltinPolicy {
  ID: string;
  Name: string;
  Description: string;
  Rules: string;
  parsed: ParsedRules;
}

/** Consul's rule text of a built-in policy: the same rules on every resource, at `level`. */
function everything(level: 'read' | 'write'): string {
  const prefixed = (kind: string, extra = '') => `${kind}_prefix "" {\n\tpolicy = "${level}"${extra}\n}`;
  return [
    '',
    `acl = "${level}"`,
    prefixed('agent'),
    prefixed('event'),
    prefixed('key'),
    `keyring = "${level}"`,
    prefixed('node'),
    `operator = "${level}"`,
    `mesh = "${level}"`,
    `peering = "${level}"`,
    prefixed('query'),
    prefixed('service', `\n\tintentions = "${level}"`),
    prefixed('session'),
  ].join('\n');
}

function builtin(ID: string, Name: string, Description: string, Rules: string): BuiltinPolicy {
  return { ID, Name, Description, Rules, parsed: parseRulesSync(Rules) };
}

export const BUILTIN_POLICIES: ReadonlyMap<string, BuiltinPolicy> = new Map(
  [
    builtin(
      GLOBAL_MANAGEMENT_ID,
      GLOBAL_MANAGEMENT_NAME,
      'Builtin Policy that grants unlimited access',
      everything('write'),
    ),
    builtin(
      GLOBAL_READ_ONLY_ID,
      GLOBAL_READ_ONLY_NAME,
      'Builtin Policy that grants unlimited read-only access to all components',
      everything('read'),
    ),
  ].map((p) => [p.ID, p]),
);
