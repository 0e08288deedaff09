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

/**
 * The targets of an upstream. A peered upstream (`--upstream backend:peer=X`) names its target
 * exactly: the exporter's resolver applies on its side, ours does not. A local upstream follows the
 * resolver of its service, when there is one.
 */
export function resolveUpstream(
  upstream: { name: string; peer?: string },
  resolver: ServiceResolverEntry | undefined,
): ResolvedUpstream {
  const primary: UpstreamTarget = {
    service: upstream.name,
    ...(upstream.peer ? { peer: upstream.peer } : {}),
    namespace: DEFAULT_NAMESPACE,
    role: 'primary',
  };
  if (upstream.peer || !resolver || resolver.Name !== upstream.name) {
    return { targets: [primary], unsupported: [] };
  }
  const unsupported: string[] = [];
  const timeout = resolver.ConnectTimeout ? parseGoDuration(resolver.ConnectTimeout) : undefined;
  const connectTimeoutMs = timeout !== undefined && timeout > 0 ? timeout : undefined;
  const withTimeout = (r: Omit<ResolvedUpstream, 'connectTimeoutMs'>): ResolvedUpstream =>
    connectTimeoutMs === undefined ? r : { ...r, connectTimeoutMs };

  const subsets = new Subsets(resolver);
  if (resolver.Redirect) {
    const target = targetOf(resolver.Redirect, subsets, 'redirect', 'Redirect', unsupported);
    return withTimeout({ targets: target ? [target] : [], unsupported });
  }

  const defaultSubset = isSetString(resolver.DefaultSubset) ? subsets.get(resolver.DefaultSubset) : undefined;
  const targets: UpstreamTarget[] = [defaultSubset ? { ...primary, subset: defaultSubset } : primary];
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
