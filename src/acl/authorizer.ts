// Decides one permission from the rules of a token's policies and the default policy, as Consul does:
// an exact rule beats any prefix rule, the longest prefix wins, and among rules of equal specificity
// (from different policies) deny beats write beats read. mesh and peering fall back to operator.
import type { Access, ParsedRules } from './rules.js';

export type Resource = 'service' | 'node' | 'peering' | 'mesh' | 'operator';
export type Level = 'read' | 'write';

export interface Authorizer {
  readonly management: boolean;
  allowed(resource: Resource, level: Level, name?: string): boolean;
}

const STRENGTH: Record<Access, number> = { read: 1, write: 2, deny: 3 };

function merge(a: Access | undefined, b: Access | undefined): Access | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return STRENGTH[a] >= STRENGTH[b] ? a : b;
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
    return access === undefined ? this.defaultAllow : grants(access, level);
  }

  private resolve(resource: Resource, name: string): Access | undefined {
    switch (resource) {
      case 'service':
        return this.named('service', 'servicePrefix', name);
      case 'node':
        return this.named('node', 'nodePrefix', name);
      case 'operator':
        return this.scalar('operator');
      default:
        return this.scalar(resource) ?? this.scalar('operator');
    }
  }

  private scalar(key: 'peering' | 'mesh' | 'operator'): Access | undefined {
    let out: Access | undefined;
    for (const r of this.rules) out = merge(out, r[key]);
    return out;
  }

  private named(exact: 'service' | 'node', prefix: 'servicePrefix' | 'nodePrefix', name: string) {
    let out: Access | undefined;
    for (const r of this.rules) if (Object.hasOwn(r[exact], name)) out = merge(out, r[exact][name]);
    if (out !== undefined) return out;
    let bestLength = -1;
    for (const r of this.rules) {
      for (const [p, access] of Object.entries(r[prefix])) {
        if (!name.startsWith(p) || p.length < bestLength) continue;
        out = p.length > bestLength ? access : merge(out, access);
        bestLength = p.length;
      }
    }
    return out;
  }
}
