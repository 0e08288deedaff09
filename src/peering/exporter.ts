// What this cluster exports to one peer right now: the exported-services entry applied to the local
// catalog, with instance addresses pointing at the local mesh gateway and the SNI that routes to each.
import { peeredServiceSni, SNI_META_KEY } from '../ca/sni.js';
import type { Catalog } from '../catalog/catalog.js';
import type { ServiceHealth, ServiceInstance } from '../catalog/types.js';
import type { ConfigEntries } from '../config-entries/config-store.js';
import { type ExportedServicesEntry, exportedServicesFor } from '../config-entries/exported-services.js';
import type { ExportedInstance, ExportedServicePayload } from './payloads.js';

export const NO_GATEWAY_WARNING =
  'no mesh gateway is registered in this cluster: the peer sees the exported services but cannot reach ' +
  'them; register a service of Kind "mesh-gateway" (meshpeer gateway --register), or make a registered ' +
  'one pass its health checks';

export interface ExportContext {
  entry: ExportedServicesEntry | undefined;
  /** Where exported instances point: the local mesh gateway, when there is one. */
  gateway: { Address: string; Port: number } | undefined;
  peerName: string;
  trustDomain: string;
}

export function exportContext(
  catalog: Catalog,
  config: ConfigEntries,
  peerName: string,
  trustDomain: string,
  gateway = localMeshGateway(catalog),
): ExportContext {
  return { entry: config.get('exported-services', 'default'), gateway, peerName, trustDomain };
}

/**
 * Every service exported to the peer now, in name order, built one at a time as the caller consumes
 * them (a whole catalog's payloads never sit in memory together). One pass over the catalog.
 */
export function* exportAll(
  catalog: Catalog,
  config: ConfigEntries,
  peerName: string,
  trustDomain: string,
  gateway = localMeshGateway(catalog),
): Generator<[string, ExportedServicePayload]> {
  const ctx = exportContext(catalog, config, peerName, trustDomain, gateway);
  const health = catalog.localHealthByService();
  const names = exportedServicesFor(ctx.entry, peerName, [...health.keys()]);
  for (const name of [...names].sort()) {
    const all = health.get(name) ?? [];
    health.delete(name);
    const payload = computeServiceExport(catalog, ctx, name, all);
    if (payload !== undefined) yield [name, payload];
  }
}

/** What the peer gets of one service now, or undefined when it is not exported to the peer. */
export function computeServiceExport(
  catalog: Catalog,
  ctx: ExportContext,
  name: string,
  all: ServiceHealth[] = catalog.healthService(name),
): ExportedServicePayload | undefined {
  if (!exportedServicesFor(ctx.entry, ctx.peerName, all.length > 0 ? [name] : []).has(name)) return undefined;
  // Gateways and sidecars are plumbing, not exports, even under Name "*".
  if (all.length > 0 && all.every((h) => h.Service.Kind !== '')) return undefined;
  const sni = sniFor(name, ctx);
  const instances: ExportedInstance[] = [];
  for (const h of all) {
    if (h.Service.Kind !== '') continue;
    const target = ctx.gateway ?? { Address: h.Service.Address || h.Node.Address, Port: h.Service.Port };
    instances.push({
      Node: { Node: h.Node.Node, Address: h.Node.Address, Meta: h.Node.Meta },
      Service: {
        ID: h.Service.ID,
        Service: name,
        Kind: '',
        Tags: h.Service.Tags,
        Address: target.Address,
        Port: target.Port,
        Meta: sni === undefined ? h.Service.Meta : { ...h.Service.Meta, [SNI_META_KEY]: sni },
      },
      Checks: h.Checks.map((c) => ({
        CheckID: c.CheckID,
        Name: c.Name,
        Status: c.Status,
        Output: c.Output,
        ...(c.ServiceID === '' ? { ServiceID: '' } : {}),
      })),
    });
  }
  return { Name: name, Instances: instances };
}

/**
 * The SNI name peers use to reach the service through our gateway. A name that is not one DNS label
 * (e.g. with dots) cannot be routed by SNI: it is still exported for discovery, without a route.
 */
function sniFor(name: string, ctx: ExportContext): string | undefined {
  try {
    return peeredServiceSni({ service: name, peer: ctx.peerName, trustDomain: ctx.trustDomain });
  } catch {
    return undefined;
  }
}

type GatewayAddress = { Address: string; Port: number };

/**
 * Where peers reach this cluster's mesh gateways: each registered gateway's WAN tagged address, else
 * its LAN one, else its service (or node) address.
 */
export function localMeshGateways(catalog: Catalog): GatewayAddress[] {
  return gatewayAddresses(catalog, (s) => s.TaggedAddresses.wan ?? s.TaggedAddresses.lan);
}

/**
 * Where this cluster's servers reach their own mesh gateways (to dial a peer through them): each
 * gateway's LAN tagged address, else its service (or node) address; its WAN address is for peers.
 */
export function localMeshGatewaysInside(catalog: Catalog): GatewayAddress[] {
  return gatewayAddresses(catalog, (s) => s.TaggedAddresses.lan);
}

function gatewayAddresses(
  catalog: Catalog,
  tagged: (s: ServiceInstance) => GatewayAddress | undefined,
): GatewayAddress[] {
  const out: GatewayAddress[] = [];
  for (const name of catalog.localServiceNames()) {
    for (const h of catalog.healthService(name)) {
      const s: ServiceInstance = h.Service;
      if (s.Kind !== 'mesh-gateway') continue;
      // A gateway whose process died (its TTL check expired) or that is in maintenance gets no traffic;
      // a warning still serves, as Consul's endpoints count it healthy.
      if (h.Checks.some((c) => c.Status === 'critical' || c.Status === 'maintenance')) continue;
      out.push(tagged(s) ?? { Address: s.Address || h.Node.Address, Port: s.Port });
    }
  }
  return out;
}

/** The gateway exported instances point at: the first registered one. */
export function localMeshGateway(catalog: Catalog): { Address: string; Port: number } | undefined {
  return localMeshGateways(catalog)[0];
}
