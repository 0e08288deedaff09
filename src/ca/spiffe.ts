import { invalid } from '../shared/errors.js';
import { assertDatacenter, assertTrustDomain } from './trust-domain.js';

// SPIFFE IDs as Consul lays them out, so identities and intentions read the same as in Consul:
//   service: spiffe://<td>[/ap/<partition>]/ns/<ns>/dc/<dc>/svc/<service>
//   server:  spiffe://<td>/agent/server/dc/<dc>
// The trust domain is what tells a peer's workload apart from a local one: each cluster has its own,
// and a peer's trust bundle names the trust domain it may sign for.

export interface ServiceIdentity {
  trustDomain: string;
  partition: string;
  namespace: string;
  datacenter: string;
  service: string;
}

export interface ServerIdentity {
  trustDomain: string;
  datacenter: string;
}

export type SpiffeIdentity = ({ kind: 'service' } & ServiceIdentity) | ({ kind: 'server' } & ServerIdentity);

const SCHEME = 'spiffe://';
const DEFAULT = 'default';
// The SPIFFE spec's path-segment alphabet; anything else would need escaping and could be spoofed.
const SEGMENT = /^[A-Za-z0-9._-]+$/;

function assertSegment(what: string, value: string): string {
  if (!SEGMENT.test(value) || value === '.' || value === '..') {
    throw invalid(`${what} "${value}" cannot be part of a SPIFFE ID: use letters, digits, '.', '-' or '_'`);
  }
  return value;
}

export function serviceSpiffeId(id: {
  trustDomain: string;
  datacenter: string;
  service: string;
  namespace?: string;
  partition?: string;
}): string {
  const td = assertTrustDomain(id.trustDomain);
  const partition = assertSegment('partition', id.partition ?? DEFAULT);
  const ns = assertSegment('namespace', id.namespace ?? DEFAULT);
  const dc = assertDatacenter(id.datacenter);
  const svc = assertSegment('service', id.service);
  // Consul omits the default partition; keeping that makes our IDs match Consul's byte for byte.
  const ap = partition === DEFAULT ? '' : `/ap/${partition}`;
  return `${SCHEME}${td}${ap}/ns/${ns}/dc/${dc}/svc/${svc}`;
}

export function serverSpiffeId(id: ServerIdentity): string {
  return `${SCHEME}${assertTrustDomain(id.trustDomain)}/agent/server/dc/${assertDatacenter(id.datacenter)}`;
}

/** The trust domain's own ID, carried as the root certificate's URI SAN. */
export function trustDomainSpiffeId(trustDomain: string): string {
  return `${SCHEME}${assertTrustDomain(trustDomain)}`;
}

/** Parses any SPIFFE ID meshpeer issues; throws `invalid` naming what is wrong. */
export function parseSpiffeId(uri: string): SpiffeIdentity {
  if (!uri.startsWith(SCHEME)) {
    throw invalid(`"${uri}" is not a SPIFFE ID: it must start with ${SCHEME}`);
  }
  const rest = uri.slice(SCHEME.length);
  if (/[?#%]/.test(rest)) {
    throw invalid(`SPIFFE ID "${uri}" must not contain a query, fragment or percent-encoding`);
  }
  const [trustDomain = '', ...path] = rest.split('/');
  assertTrustDomain(trustDomain);
  for (const segment of path) assertSegment('path segment', segment);

  if (path[0] === 'agent' && path[1] === 'server' && path[2] === 'dc' && path.length === 4) {
    return { kind: 'server', trustDomain, datacenter: assertDatacenter(path[3] ?? '') };
  }
  let partition = DEFAULT;
  let svcPath = path;
  if (path[0] === 'ap' && path.length === 8) {
    partition = path[1] ?? DEFAULT;
    svcPath = path.slice(2);
  }
  const [nsKey, namespace, dcKey, datacenter, svcKey, service] = svcPath;
  if (
    svcPath.length === 6 &&
    nsKey === 'ns' &&
    dcKey === 'dc' &&
    svcKey === 'svc' &&
    namespace &&
    datacenter &&
    service
  ) {
    return {
      kind: 'service',
      trustDomain,
      partition,
      namespace,
      datacenter: assertDatacenter(datacenter),
      service,
    };
  }
  throw invalid(
    `SPIFFE ID "${uri}" is neither a service (spiffe://<td>/ns/<ns>/dc/<dc>/svc/<svc>) ` +
      'nor a server (spiffe://<td>/agent/server/dc/<dc>) identity',
  );
}

/** Like parseSpiffeId, but only a workload identity is acceptable (e.g. an intention's source). */
export function parseServiceSpiffeId(uri: string): ServiceIdentity {
  const id = parseSpiffeId(uri);
  if (id.kind !== 'service') {
    throw invalid(`SPIFFE ID "${uri}" is a server identity, not a service identity`);
  }
  const { kind: _kind, ...identity } = id;
  return identity;
}
