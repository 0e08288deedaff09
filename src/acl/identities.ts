// A token's service and node identities, as Consul has them: each stands for the policy Consul
// synthesizes for it.
//   service identity "web":  service "web" and "web-sidecar-proxy" write, every service and node read
//   node identity "n1":      node "n1" write, every service read
// A service identity limited to datacenters, and a node identity (always of one datacenter), grant
// nothing in any other datacenter.
import { invalid } from '../shared/errors.js';
import { emptyRules, type ParsedRules } from './rules.js';

export interface ServiceIdentity {
  ServiceName: string;
  Datacenters?: string[];
}

export interface NodeIdentity {
  NodeName: string;
  Datacenter: string;
}

const IDENTITY_NAME = /^[a-z0-9]([a-z0-9\-_]*[a-z0-9])?$/;

function list(value: unknown, field: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(`Invalid Token: ${field}: must be a list`);
  return value;
}

function field(item: unknown, name: string): unknown {
  return typeof item === 'object' && item !== null ? (item as Record<string, unknown>)[name] : undefined;
}

/** Checks and deduplicates ServiceIdentities (one per name; datacenters merged, none meaning all). */
export function decodeServiceIdentities(value: unknown): ServiceIdentity[] {
  const byName = new Map<string, ServiceIdentity>();
  for (const item of list(value, 'ServiceIdentities')) {
    const name = field(item, 'ServiceName');
    if (name === undefined || name === null || name === '') {
      throw invalid('Service identity is missing the service name field on this token');
    }
    if (typeof name !== 'string' || !IDENTITY_NAME.test(name)) {
      throw invalid(
        `Service identity ${JSON.stringify(name)} has an invalid name. Only lowercase alphanumeric characters, '-' and '_' are allowed`,
      );
    }
    const dcs = field(item, 'Datacenters') ?? [];
    if (!Array.isArray(dcs) || !dcs.every((d) => typeof d === 'string')) {
      throw invalid(`Invalid Token: ServiceIdentities: ${name}: Datacenters must be a list of strings`);
    }
    const seen = byName.get(name);
    if (seen === undefined) {
      byName.set(
        name,
        dcs.length > 0 ? { ServiceName: name, Datacenters: [...new Set(dcs)] } : { ServiceName: name },
      );
    } else if (seen.Datacenters !== undefined) {
      if (dcs.length === 0) delete seen.Datacenters;
      else seen.Datacenters = [...new Set([...seen.Datacenters, ...dcs])];
    }
  }
  return [...byName.values()];
}

/** Checks and deduplicates NodeIdentities. */
export function decodeNodeIdentities(value: unknown): NodeIdentity[] {
  const out = new Map<string, NodeIdentity>();
  for (const item of list(value, 'NodeIdentities')) {
    const name = field(item, 'NodeName');
    const dc = field(item, 'Datacenter');
    if (name === undefined || name === null || name === '') {
      throw invalid('Node identity is missing the node name field on this token');
    }
    if (dc === undefined || dc === null || dc === '') {
      throw invalid('Node identity is missing the datacenter field on this token');
    }
    if (typeof name !== 'string' || !IDENTITY_NAME.test(name) || typeof dc !== 'string') {
      throw invalid(
        "Node identity has an invalid name. Only lowercase alphanumeric characters, '-' and '_' are allowed",
      );
    }
    out.set(`${name}\n${dc}`, { NodeName: name, Datacenter: dc });
  }
  return [...out.values()];
}

/** The rules the identities grant in `datacenter` (all of them when it is not known). */
export function identityRules(
  services: readonly ServiceIdentity[],
  nodes: readonly NodeIdentity[],
  datacenter: string | undefined,
): ParsedRules[] {
  const out: ParsedRules[] = [];
  for (const s of services) {
    const dcs = s.Datacenters ?? [];
    if (datacenter !== undefined && dcs.length > 0 && !dcs.includes(datacenter)) continue;
    const rules = emptyRules();
    rules.service[s.ServiceName] = 'write';
    rules.service[`${s.ServiceName}-sidecar-proxy`] = 'write';
    rules.servicePrefix[''] = 'read';
    rules.nodePrefix[''] = 'read';
    out.push(rules);
  }
  for (const n of nodes) {
    if (datacenter !== undefined && n.Datacenter !== datacenter) continue;
    const rules = emptyRules();
    rules.node[n.NodeName] = 'write';
    rules.servicePrefix[''] = 'read';
    out.push(rules);
  }
  return out;
}
