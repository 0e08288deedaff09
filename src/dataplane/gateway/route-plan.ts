// What a mesh gateway driving a proxy engine (HAProxy or nginx) must do, decided by routeFor exactly
// as the Node gateway decides it: every SNI name this gateway accepts, mapped to a backend (one per
// destination: a local service, the local peering servers, a peer's gateways or a peer's servers)
// with its endpoints. Names for local services are enumerated (each local service × each consumer
// peer, plus the local peering-server name) and kept only where routeFor routes them; names for peers
// are open-ended (any service of theirs), so each peer's names become one pattern that mirrors
// parseSni, and the destination is what routeFor answers for a name of that pattern. Pure: no engine,
// no files, no sockets.
import { consumerPeers } from '../../config-entries/index.js';
import type { Endpoint } from '../endpoint.js';
import { peeredServiceSni, peeringServerName } from '../sni.js';
import type { GatewayConfig } from './config.js';
import { type RouteKind, routeFor } from './routes.js';

export interface PlanBackend {
  /** A name for the destination (an HAProxy backend, an nginx upstream), stable across snapshots. */
  name: string;
  kind: RouteKind;
  endpoints: readonly Endpoint[];
}

export interface RoutePlan {
  backends: PlanBackend[];
  /** Exact SNI name (lower case) → backend name. */
  names: Map<string, string>;
  /** In match order: an anchored regular expression over the lower-cased SNI name → backend name. */
  patterns: { regex: string; backend: string }[];
  /** Dial timeout per destination (`Proxy.Config.connect_timeout_ms`, else the default). */
  connectTimeoutMs: number;
}

// One DNS label, as parseSni checks it.
const LABEL = '[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?';

export function planFor(config: GatewayConfig, defaultConnectTimeoutMs: number): RoutePlan {
  const backends = new Map<string, PlanBackend>();
  const names = new Map<string, string>();
  const patterns: { regex: string; backend: string }[] = [];
  const addBackend = (name: string, kind: RouteKind, endpoints: readonly Endpoint[]): string => {
    if (!backends.has(name)) backends.set(name, { name, kind, endpoints });
    return name;
  };
  const trustDomain = config.trustDomain.toLowerCase();

  // A backend for every local service, exported or not, so that exporting one later, or its instances
  // coming and going, is a runtime change and not a reload. Which names reach it is the map's business.
  for (const [service, endpoints] of config.localServices) {
    addBackend(`service.${safe(service.toLowerCase())}`, 'inbound', endpoints);
  }
  // Inbound: each local service for each peer something is exported to; routeFor keeps the allowed ones.
  for (const peer of consumerPeers(config.exportedServices)) {
    for (const service of config.localServices.keys()) {
      const name = sniOrUndefined(() =>
        peeredServiceSni({ service, partition: config.partition, peer, trustDomain }),
      );
      if (!name) continue;
      const route = routeFor(config, name);
      if (route.kind !== 'inbound') continue;
      names.set(name, addBackend(`service.${safe(service.toLowerCase())}`, route.kind, route.endpoints));
    }
  }
  // Inbound peering streams to this cluster's servers.
  const serverName = sniOrUndefined(() => peeringServerName(config.datacenter, trustDomain));
  if (serverName) {
    const route = routeFor(config, serverName);
    if (route.kind === 'peering-inbound') {
      names.set(serverName.toLowerCase(), addBackend('local.servers', route.kind, route.endpoints));
    }
  }

  // Outbound, per peer trust domain: its peering servers (server.<dc>.peering.<td>) first, since parseSni
  // reads those before service names, then any service name of theirs.
  const seen = new Set<string>();
  for (const peer of config.peers) {
    const td = peer.trustDomain.toLowerCase();
    if (seen.has(td) || td === trustDomain || !validTrustDomain(td)) continue;
    seen.add(td);
    const escaped = escapeRegex(td);
    const peering = routeFor(config, `server.dc.peering.${td}`);
    if (peering.kind === 'peering-outbound') {
      const backend = addBackend(`peer.${safe(peer.name)}.servers`, peering.kind, peering.endpoints);
      patterns.push({ regex: `^server\\.${LABEL}\\.peering\\.${escaped}$`, backend });
    }
    const service = routeFor(config, `service.default.default.peer.external.${td}`);
    if (service.kind === 'outbound') {
      const backend = addBackend(`peer.${safe(peer.name)}.gateways`, service.kind, service.endpoints);
      // A name starting server.<x>.peering. is a peering-server name to parseSni, never a service name.
      patterns.push({
        regex: `^(?!server\\.[^.]*\\.peering\\.)${LABEL}\\.${LABEL}\\.${LABEL}\\.${LABEL}\\.external\\.${escaped}$`,
        backend,
      });
    }
  }
  return {
    backends: [...backends.values()].sort((a, b) => a.name.localeCompare(b.name)),
    names: new Map([...names].sort(([a], [b]) => a.localeCompare(b))),
    patterns,
    connectTimeoutMs: connectTimeoutOf(config, defaultConnectTimeoutMs),
  };
}

/**
 * The kind of a destination, from the name planFor gives it: for an engine's connection log lines,
 * which name the destination and may come from a worker still running an earlier plan.
 */
export function routeKindOf(destination: string): RouteKind | undefined {
  if (destination.startsWith('service.')) return 'inbound';
  if (destination === 'local.servers') return 'peering-inbound';
  if (/^peer\..*\.servers$/.test(destination)) return 'peering-outbound';
  if (/^peer\..*\.gateways$/.test(destination)) return 'outbound';
  return undefined;
}

function connectTimeoutOf(config: GatewayConfig, fallbackMs: number): number {
  const value = config.proxyConfig.connect_timeout_ms;
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.ceil(value) : fallbackMs;
}

function sniOrUndefined(make: () => string): string | undefined {
  try {
    return make();
  } catch {
    return undefined; // a name that cannot be an SNI label is never routed
  }
}

/** Trust domains parseSni can produce: dot-separated non-empty labels, nothing HAProxy would misread. */
function validTrustDomain(td: string): boolean {
  return /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(td);
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
}

/** A proxy-name-safe rendering of a peer or service name (HAProxy allows [A-Za-z0-9_.:-]). */
function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_');
}
