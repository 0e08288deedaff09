// Where one upstream's connections may go, in order of preference, under the service-resolver of its
// service: the service itself (its DefaultSubset, when the resolver names one), or the Redirect target;
// then the Failover targets for that subset (Failover[DefaultSubset], else Failover["*"]), each a
// service (this one unless named) here or in a peer, or a subset of this service. Pure: the HTTP
// source uses it to know what to watch, the upstream plan to know what to dial.
//
// What meshpeer follows: Redirect and Failover targets with Peer, Service and Namespace "default",
// Failover's older form (Service, Namespace), Subsets with their Filter, DefaultSubset, ServiceSubset
// of this service, ConnectTimeout. What it cannot (Datacenter, Partition, SamenessGroup, a subset of
// another service or of a peer's, other namespaces) is reported, never guessed at.
import {
  parseGoDuration,
  type ServiceResolverEntry,
  type ServiceResolverFailoverTarget,
} from '../../config-entries/index.js';

/** A named subset of a service's local instances: those its Filter selects. */
export interface TargetSubset {
  name: string;
  /** A filter expression over the instance (Service, Node, Checks); '' selects every instance. */
  filter: string;
}

import { upstreamLabel } from './config.js';

const DEFAULT_NAMESPACE = 'default';

export interface UpstreamTarget {
  service: string;
  /** Set for a service imported from a peer. */
  peer?: string;
  namespace: string;
  /** Only the instances of this subset (local targets of the resolver's own service). */
  subset?: TargetSubset;
  /** Why this target is in the list: the upstream itself, a Redirect, or the n-th Failover target. */
  role: 'primary' | 'redirect' | 'failover';
}

export interface ResolvedUpstream {
  /** In order of preference; empty when a Redirect cannot be followed. */
  targets: UpstreamTarget[];
  /** Parts of the resolver that are not followed, each with why. */
  unsupported: string[];
  /** The resolver's ConnectTimeout in milliseconds, when it sets one. */
  connectTimeoutMs?: number;
}

type TargetKey = { service: string; peer?: string; subset?: { name: string } };

export function targetLabel(target: TargetKey): string {
  const label = upstreamLabel({ name: target.service, peer: target.peer });
  return target.subset ? `${label} (subset ${target.subset.name})` : label;
}

export function sameTarget(a: TargetKey, b: TargetKey) {
  return a.service === b.service && (a.peer ?? '') === (b.peer ?? '') && a.subset?.name === b.subset?.name;
}

/** Looks up the service-resolver of a local service, if it has one. */
export type ResolverLookup = (service: string) => ServiceResolverEntry | undefined;

/** How many Redirects to other local services are followed before giving up (Consul's chains are short). */
const MAX_REDIRECTS = 8;

/**
 * The targets of an upstream. A peered upstream (`--upstream backend:peer=X`) names its target
 * exactly: the exporter's resolver applies on its side, ours does not. A local upstream follows the
 * resolver of its service, when there is one; a Redirect to another local service follows that
 * service's resolver in turn (its Redirect, DefaultSubset, Failover and ConnectTimeout), as Consul's
 * discovery chain does.
 */
export function resolveUpstream(
  upstream: { name: string; peer?: string },
  resolverOf: ResolverLookup,
): ResolvedUpstream {
  const primary: UpstreamTarget = {
    service: upstream.name,
    ...(upstream.peer ? { peer: upstream.peer } : {}),
    namespace: DEFAULT_NAMESPACE,
    role: 'primary',
  };
  let resolver = upstream.peer ? undefined : resolverOf(upstream.name);
  if (resolver === undefined || resolver.Name !== upstream.name) {
    return { targets: [primary], unsupported: [] };
  }
  const unsupported: string[] = [];
  // Follow Redirects to other local services: the resolver at the end of the chain decides.
  const chain = [resolver.Name];
  let requestedSubset: string | undefined;
  for (;;) {
    const r: ServiceResolverEntry['Redirect'] = resolver.Redirect;
    const next = r !== undefined && isSetString(r.Service) && localRedirect(r) ? r.Service : undefined;
    if (r === undefined || next === undefined || next === resolver.Name) break;
    if (chain.includes(next) || chain.length > MAX_REDIRECTS) {
      unsupported.push(`Redirect: the resolvers redirect in a loop (${[...chain, next].join(' → ')})`);
      return { targets: [], unsupported };
    }
    chain.push(next);
    const nextResolver = resolverOf(next);
    if (nextResolver === undefined) {
      // No resolver there: the redirect target is the whole service (a subset would need its resolver).
      if (isSetString(r.ServiceSubset)) {
        unsupported.push(
          `Redirect: ServiceSubset ${JSON.stringify(r.ServiceSubset)} of ${next}, which has no service-resolver`,
        );
        return { targets: [], unsupported };
      }
      return withConnectTimeout(resolver, {
        targets: [{ service: next, namespace: DEFAULT_NAMESPACE, role: 'redirect' }],
        unsupported,
      });
    }
    resolver = nextResolver;
    requestedSubset = isSetString(r.ServiceSubset) ? r.ServiceSubset : undefined;
  }
  const redirected = chain.length > 1;
  const withTimeout = (result: Omit<ResolvedUpstream, 'connectTimeoutMs'>): ResolvedUpstream =>
    withConnectTimeout(resolver, result);

  const subsets = new Subsets(resolver);
  if (resolver.Redirect) {
    const target = targetOf(resolver.Redirect, subsets, 'redirect', 'Redirect', unsupported);
    return withTimeout({ targets: target ? [target] : [], unsupported });
  }

  const base: UpstreamTarget = redirected
    ? { service: resolver.Name, namespace: DEFAULT_NAMESPACE, role: 'redirect' }
    : primary;
  const subsetName =
    requestedSubset ?? (isSetString(resolver.DefaultSubset) ? resolver.DefaultSubset : undefined);
  const defaultSubset = subsetName === undefined ? undefined : subsets.get(subsetName);
  if (subsetName !== undefined && defaultSubset === undefined) {
    unsupported.push(
      `Redirect: ServiceSubset ${JSON.stringify(subsetName)} is not one of ${resolver.Name}'s Subsets`,
    );
    return withTimeout({ targets: [], unsupported });
  }
  const targets: UpstreamTarget[] = [defaultSubset ? { ...base, subset: defaultSubset } : base];
  // The failover of the subset this upstream resolves to, else the one for every subset.
  const key =
    defaultSubset && resolver.Failover?.[defaultSubset.name] !== undefined ? defaultSubset.name : '*';
  const failover = resolver.Failover?.[key];
  const where = `Failover[${JSON.stringify(key)}]`;
  if (failover) {
    const legacy: ServiceResolverFailoverTarget[] = [];
    if (
      isSetString(failover.Service) ||
      isSetString(failover.Namespace) ||
      isSetString(failover.ServiceSubset)
    ) {
      legacy.push({
        ...(failover.Service ? { Service: failover.Service } : {}),
        ...(failover.Namespace ? { Namespace: failover.Namespace } : {}),
        ...(failover.ServiceSubset ? { ServiceSubset: failover.ServiceSubset } : {}),
      });
    }
    for (const dc of failover.Datacenters ?? []) {
      unsupported.push(`${where}.Datacenters ${JSON.stringify(dc)}: use a Target with Peer`);
    }
    if (isSetString(failover.SamenessGroup)) {
      unsupported.push(`${where}.SamenessGroup ${JSON.stringify(failover.SamenessGroup)}: not supported`);
    }
    const given = failover.Targets ?? legacy;
    given.forEach((t, i) => {
      const at = failover.Targets ? `${where}.Targets[${i}]` : where;
      const target = targetOf(t, subsets, 'failover', at, unsupported);
      if (target && !targets.some((known) => sameTarget(known, target))) targets.push(target);
    });
  }
  return withTimeout({ targets, unsupported });
}

/** A Redirect that stays in this cluster and namespace: another service's resolver may continue it. */
export function localRedirect(r: NonNullable<ServiceResolverEntry['Redirect']>): boolean {
  return (
    !isSetString(r.Peer) &&
    !isSetString(r.Datacenter) &&
    !isSetString(r.Partition) &&
    !isSetString(r.SamenessGroup) &&
    (!isSetString(r.Namespace) || r.Namespace === DEFAULT_NAMESPACE)
  );
}

/** The result with the ConnectTimeout of the resolver that decided it, when it sets one. */
function withConnectTimeout(
  resolver: ServiceResolverEntry,
  result: Omit<ResolvedUpstream, 'connectTimeoutMs'>,
): ResolvedUpstream {
  const timeout = resolver.ConnectTimeout ? parseGoDuration(resolver.ConnectTimeout) : undefined;
  return timeout !== undefined && timeout > 0 ? { ...result, connectTimeoutMs: timeout } : result;
}

/** The resolver's own subsets, by name. */
class Subsets {
  constructor(private readonly resolver: ServiceResolverEntry) {}

  get service(): string {
    return this.resolver.Name;
  }

  get(name: string): TargetSubset | undefined {
    const subset = this.resolver.Subsets?.[name];
    return subset === undefined ? undefined : { name, filter: subset.Filter ?? '' };
  }
}

function targetOf(
  t: ServiceResolverFailoverTarget & { SamenessGroup?: string | undefined },
  subsets: Subsets,
  role: UpstreamTarget['role'],
  where: string,
  unsupported: string[],
): UpstreamTarget | undefined {
  const refuse = (what: string): undefined => {
    unsupported.push(`${where}: ${what}`);
    return undefined;
  };
  if (isSetString(t.Datacenter))
    return refuse(`Datacenter ${JSON.stringify(t.Datacenter)} is not supported; use Peer`);
  if (isSetString(t.Partition)) return refuse(`Partition ${JSON.stringify(t.Partition)} is not supported`);
  if (isSetString(t.SamenessGroup))
    return refuse(`SamenessGroup ${JSON.stringify(t.SamenessGroup)} is not supported`);
  const namespace = isSetString(t.Namespace) ? t.Namespace : DEFAULT_NAMESPACE;
  if (namespace !== DEFAULT_NAMESPACE) {
    return refuse(`Namespace ${JSON.stringify(namespace)}: only the "default" namespace exists here`);
  }
  const service = isSetString(t.Service) ? t.Service : subsets.service;
  let subset: TargetSubset | undefined;
  if (isSetString(t.ServiceSubset)) {
    // This resolver's subsets are known; another service's (or a peer's) are defined by a resolver
    // this upstream does not read.
    if (service !== subsets.service || isSetString(t.Peer)) {
      return refuse(
        `ServiceSubset ${JSON.stringify(t.ServiceSubset)} of ${isSetString(t.Peer) ? `peer ${t.Peer}'s ` : ''}` +
          `${service}: only subsets of ${subsets.service} itself are supported`,
      );
    }
    subset = subsets.get(t.ServiceSubset);
    if (subset === undefined)
      return refuse(`ServiceSubset ${JSON.stringify(t.ServiceSubset)} is not one of the Subsets`);
  }
  return {
    service,
    ...(isSetString(t.Peer) ? { peer: t.Peer } : {}),
    namespace,
    ...(subset ? { subset } : {}),
    role,
  };
}

function isSetString(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}
