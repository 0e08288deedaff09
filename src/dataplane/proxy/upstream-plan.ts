// How one upstream connection is made under the current snapshot: which targets may take it, in
// order (the service, or its resolver's Redirect, then its Failover targets), and for each the
// endpoints to dial, the SNI name to send, which roots to trust and which identity must answer. Pure,
// so every mode and every failover case is tested without sockets.

import { assertModeAllowsPeering } from '../../config-entries/index.js';
import { isMeshpeerError } from '../../shared/errors.js';
import type { Endpoint } from '../endpoint.js';
import { localServiceSni } from '../sni.js';
import { type ProxyConfig, type UpstreamSpec, upstreamLabel } from './config.js';
import { resolveUpstream, targetLabel, type UpstreamTarget } from './resolver-targets.js';

export interface ExpectedIdentity {
  trustDomain: string;
  service: string;
  namespace: string;
}

export type UpstreamPlanFailure =
  | 'mesh-gateway-mode'
  | 'unknown-peer'
  | 'no-instances'
  | 'unsupported-resolver';

export type UpstreamPlan =
  | {
      ok: true;
      /** The target this plan reaches, e.g. "backend" or "backend (peer cluster-01)". */
      target: string;
      role: UpstreamTarget['role'];
      endpoints: readonly Endpoint[];
      sni: string;
      /** '' for our own roots, else the peer whose bundle is trusted. */
      trustedPeer: string;
      rootPems: readonly string[];
      expect: ExpectedIdentity;
      route: 'direct' | 'remote-gateway' | 'local-gateway';
    }
  | { ok: false; target?: string; reason: UpstreamPlanFailure; detail: string };

export type UsablePlan = Extract<UpstreamPlan, { ok: true }>;
export type SkippedTarget = Extract<UpstreamPlan, { ok: false }> & { target: string };

/** Every way an upstream connection may go now: usable targets in order, and why the others are not. */
export interface UpstreamRoute {
  candidates: UsablePlan[];
  skipped: SkippedTarget[];
  /** Parts of the resolver that are not followed. */
  unsupported: string[];
  /** The resolver's ConnectTimeout, when set; else the caller's default applies. */
  connectTimeoutMs?: number;
}

const DEFAULT = 'default';

export function routeUpstream(spec: UpstreamSpec, config: ProxyConfig): UpstreamRoute {
  const resolved = resolveUpstream(spec, (name) => config.resolvers?.find((r) => r.Name === name));
  const candidates: UsablePlan[] = [];
  const skipped: SkippedTarget[] = [];
  for (const target of resolved.targets) {
    const plan = planTarget(target, spec, config);
    if (plan.ok) candidates.push(plan);
    else skipped.push({ ...plan, target: targetLabel(target) });
  }
  if (resolved.targets.length === 0) {
    skipped.push({
      ok: false,
      target: upstreamLabel(spec),
      reason: 'unsupported-resolver',
      detail: `the service-resolver of ${spec.name} redirects where meshpeer cannot follow (${resolved.unsupported.join('; ')})`,
    });
  }
  return {
    candidates,
    skipped,
    unsupported: resolved.unsupported,
    ...(resolved.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: resolved.connectTimeoutMs }),
  };
}

/** The first way the upstream's connections may go, or why none can. */
export function planUpstream(spec: UpstreamSpec, config: ProxyConfig): UpstreamPlan {
  const route = routeUpstream(spec, config);
  const first = route.candidates[0];
  if (first) return first;
  const [only, ...more] = route.skipped;
  if (only && more.length === 0) return only;
  return {
    ok: false,
    reason: only?.reason ?? 'no-instances',
    detail: `upstream ${upstreamLabel(spec)}: no target can take the connection: ${route.skipped
      .map((s) => `${s.target}: ${s.reason} (${s.detail})`)
      .join('; ')}`,
  };
}

function planTarget(target: UpstreamTarget, spec: UpstreamSpec, config: ProxyConfig): UpstreamPlan {
  const known = config.upstreams.find(
    (u) =>
      u.name === target.service &&
      (u.peer ?? '') === (target.peer ?? '') &&
      (u.subset ?? '') === (target.subset?.name ?? ''),
  );
  const label = targetLabel(target);
  const which = target.role === 'primary' ? `upstream ${label}` : `${target.role} target ${label}`;
  const base = { target: label, role: target.role };
  const unhealthy = (): string => {
    const listed = known?.listed ?? 0;
    return listed > 0 ? `, ${listed} listed, none passing` : '';
  };
  if (!target.peer) {
    if (!known || known.instances.length === 0) {
      return {
        ok: false,
        ...base,
        reason: 'no-instances',
        detail: `${which} has no passing instance${unhealthy()}`,
      };
    }
    return {
      ok: true,
      ...base,
      endpoints: known.instances,
      sni: localServiceSni({
        service: target.service,
        datacenter: config.datacenter,
        trustDomain: config.trustDomain,
      }),
      trustedPeer: '',
      rootPems: config.roots,
      expect: { trustDomain: config.trustDomain, service: target.service, namespace: DEFAULT },
      route: 'direct',
    };
  }
  let mode: 'remote' | 'local';
  try {
    mode = spec.meshGatewayMode
      ? assertModeAllowsPeering(spec.meshGatewayMode, `upstream ${upstreamLabel(spec)}`)
      : assertModeAllowsPeering(config.meshGatewayMode, 'proxy-defaults "global" MeshGateway.Mode');
  } catch (err) {
    if (!isMeshpeerError(err)) throw err;
    return { ok: false, ...base, reason: 'mesh-gateway-mode', detail: err.message };
  }
  const bundle = config.peerBundles.find((b) => b.peerName === target.peer);
  if (!bundle) {
    return {
      ok: false,
      ...base,
      reason: 'unknown-peer',
      detail:
        target.role === 'primary'
          ? `${which}: no trust bundle from peer ${target.peer} (is it a peering of this cluster?)`
          : `${target.role} target peer ${target.peer} is not a peering of this cluster (no trust bundle from it)`,
    };
  }
  if (!known?.sni || known.instances.length === 0) {
    return {
      ok: false,
      ...base,
      reason: 'no-instances',
      detail: `${which}: peer ${target.peer} exports no passing instance of ${target.service} to us${unhealthy()}`,
    };
  }
  const endpoints = mode === 'remote' ? known.instances : config.localGateways;
  if (endpoints.length === 0) {
    return {
      ok: false,
      ...base,
      reason: 'no-instances',
      detail: `${which}: mesh gateway mode "local" needs a mesh gateway registered in this cluster`,
    };
  }
  return {
    ok: true,
    ...base,
    endpoints,
    sni: known.sni,
    trustedPeer: bundle.peerName,
    rootPems: bundle.rootPems,
    expect: { trustDomain: bundle.trustDomain, service: target.service, namespace: target.namespace },
    route: mode === 'remote' ? 'remote-gateway' : 'local-gateway',
  };
}
