// Where one upstream's connections may go, in order of preference, under the service-resolver of its
// service: the service itself, or the Redirect target; then the Failover targets of the "*" subset,
// each a service (this one unless named) here or in a peer. Pure: the HTTP source uses it to know what
// to watch, the upstream plan to know what to dial.
//
// What meshpeer follows: Redirect and Failover targets with Peer, Service and Namespace "default",
// Failover's older form (Service, Namespace), ConnectTimeout. What it cannot (Datacenter, Partition,
// SamenessGroup, ServiceSubset, other namespaces, named subsets) is reported, never guessed at.
import {
  parseGoDuration,
  type ServiceResolverEntry,
  type ServiceResolverFailoverTarget,
} from '../../config-entries/index.js';
import { upstreamLabel } from './config.js';

const DEFAULT_NAMESPACE = 'default';

export interface UpstreamTarget {
  service: string;
  /** Set for a service imported from a peer. */
  peer?: string;
  namespace: string;
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

export function targetLabel(target: { service: string; peer?: string }): string {
  return upstreamLabel({ name: target.service, peer: target.peer });
}

export function sameTarget(a: { service: string; peer?: string }, b: { service: string; peer?: string }) {
  return a.service === b.service && (a.peer ?? '') === (b.peer ?? '');
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

  if (resolver.Redirect) {
    const target = targetOf(resolver.Redirect, upstream.name, 'redirect', 'Redirect', unsupported);
    return withTimeout({ targets: target ? [target] : [], unsupported });
  }

  const targets: UpstreamTarget[] = [primary];
  if (isSetString(resolver.DefaultSubset)) {
    unsupported.push(
      `DefaultSubset ${JSON.stringify(resolver.DefaultSubset)}: subsets are not applied; every instance is used`,
    );
  }
  for (const key of Object.keys(resolver.Failover ?? {})) {
    if (key !== '*') unsupported.push(`Failover[${JSON.stringify(key)}]: only the "*" subset is applied`);
  }
  const failover = resolver.Failover?.['*'];
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
      unsupported.push(`Failover["*"].Datacenters ${JSON.stringify(dc)}: use a Target with Peer`);
    }
    if (isSetString(failover.SamenessGroup)) {
      unsupported.push(
        `Failover["*"].SamenessGroup ${JSON.stringify(failover.SamenessGroup)}: not supported`,
      );
    }
    const given = failover.Targets ?? legacy;
    given.forEach((t, i) => {
      const where = failover.Targets ? `Failover["*"].Targets[${i}]` : 'Failover["*"]';
      const target = targetOf(t, upstream.name, 'failover', where, unsupported);
      if (target && !targets.some((known) => sameTarget(known, target))) targets.push(target);
    });
  }
  return withTimeout({ targets, unsupported });
}

function targetOf(
  t: ServiceResolverFailoverTarget & { SamenessGroup?: string | undefined },
  defaultService: string,
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
  if (isSetString(t.ServiceSubset))
    return refuse(`ServiceSubset ${JSON.stringify(t.ServiceSubset)} is not supported`);
  const namespace = isSetString(t.Namespace) ? t.Namespace : DEFAULT_NAMESPACE;
  if (namespace !== DEFAULT_NAMESPACE) {
    return refuse(`Namespace ${JSON.stringify(namespace)}: only the "default" namespace exists here`);
  }
  return {
    service: isSetString(t.Service) ? t.Service : defaultService,
    ...(isSetString(t.Peer) ? { peer: t.Peer } : {}),
    namespace,
    role,
  };
}

function isSetString(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}
