// Decides one permission from the rules of a token's policies and the default policy, as Consul does:
// an exact rule beats any prefix rule, the longest prefix wins, and among rules of equal specificity
// (from different policies) deny beats write beats read. mesh and peering fall back to operator. The
// acl resource has no default: without an acl rule only management may read or change ACLs, whatever
// the default policy (Consul's allow-all default does not reach ACLs either).
import { type Access, type NamedRule, type ParsedRules, strongerAccess } from './rules.js';

export type Resource = 'service' | 'node' | 'agent' | 'peering' | 'mesh' | 'operator' | 'acl';
export type Level = 'read' | 'write';

export interface Authorizer {
  readonly management: boolean;
  allowed(resource: Resource, level: Level, name?: string): boolean;
}

function grants(access: Access, level: Level): boolean {
  return access === 'write' || (access === 'read' && level === 'read');
}

export const managementAuthorizer: Authorizer = { management: true, allowed: () => true };

export class PolicyAuthorizer implements Authorizer {
  readonly management = false;

  constructor(
    private readonly rules: readonly ParsedRules[],
    private readonly defaultAllow: boolean,
  ) {}

  allowed(resource: Resource, level: Level, name = ''): boolean {
    const access = this.resolve(resource, name);
    if (access === undefined) return resource === 'acl' ? false : this.defaultAllow;
    return grants(access, level);
  }

  private resolve(resource: Resource, name: string): Access | undefined {
    switch (resource) {
      case 'service':
        return this.named('service', 'servicePrefix', name);
      case 'node':
        return this.named('node', 'nodePrefix', name);
      case 'agent':
        return this.named('agent', 'agentPrefix', name);
      case 'operator':
      case 'acl':
        return this.scalar(resource);
      default:
        return this.scalar(resource) ?? this.scalar('operator');
    }
  }

  private scalar(key: 'peering' | 'mesh' | 'operator' | 'acl'): Access | undefined {
    let out: Access | undefined;
    for (const r of this.rules) out = strongerAccess(out, r[key]);
    return out;
  }

  private named(exact: NamedRule, prefix: NamedRule, name: string) {
    let out: Access | undefined;
    for (const r of this.rules) {
      const rules = r[exact];
      if (rules !== undefined && Object.hasOwn(rules, name)) out = strongerAccess(out, rules[name]);
    }
    if (out !== undefined) return out;
    let bestLength = -1;
    for (const r of this.rules) {
      for (const [p, access] of Object.entries(r[prefix] ?? {})) {
        if (!name.startsWith(p) || p.length < bestLength) continue;
        out = p.length > bestLength ? access : strongerAccess(out, access);
        bestLength = p.length;
      }
    }
    return out;
  }
}
