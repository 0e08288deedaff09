// The mesh gateway's configuration from the server's HTTP API: exports, the sidecars of exported
// services, peers (trust domains from their bundles, gateways from what they export to us, servers
// from the peering) and the mesh and proxy-defaults entries, kept current with blocking queries.
import { exportedServicesFor, peerThroughMeshGateways } from '../../config-entries/index.js';
import { type Logger, silentLogger } from '../../shared/logger.js';
import type { Endpoint } from '../endpoint.js';
import type { GatewayConfig, GatewayPeer } from '../gateway/config.js';
import type { ConsulApi } from './consul-api.js';
import {
  caRootsSchema,
  catalogServicesSchema,
  dedupe,
  endpointsFrom,
  healthServiceSchema,
  healthyEndpoints,
  passingConnectEndpoints,
  peeringsSchema,
  trustBundlesSchema,
} from './responses.js';
import { configEntryWatch, instancesWatch, jsonWatch, type Watch, withPeer } from './watch.js';
import type { WatchSetOptions } from './watch-set.js';
import { WatchedSource } from './watched-source.js';

export interface HttpGatewayConfigSourceOptions {
  api: ConsulApi;
  /** This cluster's datacenter, for `server.<dc>.peering.<trust-domain>`. */
  datacenter: string;
  /** The local servers' gRPC addresses, for peering streams through the gateway. */
  localServers: readonly Endpoint[];
  logger?: Logger;
  watch?: WatchSetOptions;
}

const roots = jsonWatch('/v1/connect/ca/roots', caRootsSchema);
const bundles = jsonWatch('/v1/internal/meshpeer/trust-bundles', trustBundlesSchema);
const services = jsonWatch('/v1/catalog/services', catalogServicesSchema);
const peerings = jsonWatch('/v1/peerings', peeringsSchema);
const exported = configEntryWatch('exported-services', 'default');
const mesh = configEntryWatch('mesh', 'mesh');
const proxyDefaults = configEntryWatch('proxy-defaults', 'global');
const STATIC: readonly Watch<unknown>[] = [roots, bundles, services, peerings, exported, mesh, proxyDefaults];

const healthWatch = (service: string, peer?: string) =>
  jsonWatch(withPeer(`/v1/health/connect/${encodeURIComponent(service)}`, peer), healthServiceSchema);
const peerServicesWatch = (peer: string) =>
  jsonWatch(withPeer('/v1/catalog/services', peer), catalogServicesSchema);

export class HttpGatewayConfigSource extends WatchedSource<GatewayConfig> {
  constructor(private readonly options: HttpGatewayConfigSourceOptions) {
    super(options.api, options.logger ?? silentLogger(), options.watch);
  }

  protected initialWatches(): Watch<unknown>[] {
    return [...STATIC];
  }

  protected build(): GatewayConfig | undefined {
    const w = this.watches;
    if (!w.ready(STATIC)) return undefined;
    const exportedEntry = w.value(exported);
    const localNames = Object.keys(w.value(services) ?? {});
    const peerNames = (w.value(bundles) ?? []).map((b) => b.PeerName);
    const exportedNames = new Set(
      peerNames.flatMap((peer) => [...exportedServicesFor(exportedEntry, peer, localNames)]),
    );
    const local = [...exportedNames].map((name) => ({
      name,
      watch: healthWatch(name),
      instances: instancesWatch(name),
    }));
    const peerLists = peerNames.map((peer) => ({ peer, watch: peerServicesWatch(peer) }));
    const imported = peerLists.flatMap(({ peer, watch }) =>
      w.ready([watch])
        ? Object.keys(w.value(watch) ?? {}).map((name) => ({ peer, watch: healthWatch(name, peer) }))
        : [],
    );
    const dynamic = [
      ...local.flatMap((l) => [l.watch, l.instances]),
      ...[...peerLists, ...imported].map((d) => d.watch),
    ];
    w.keep([...STATIC, ...dynamic]);
    if (!w.ready(dynamic)) return undefined;

    // Inbound from peers goes only to sidecars that pass, in front of instances that pass.
    const localServices = new Map(
      local.map(({ name, watch, instances }) => [
        name,
        passingConnectEndpoints(w.value(watch) ?? [], w.value(instances) ?? []),
      ]),
    );
    const peers: GatewayPeer[] = (w.value(bundles) ?? []).map((bundle) => ({
      name: bundle.PeerName,
      trustDomain: bundle.TrustDomain,
      gateways: dedupe(
        imported
          .filter((i) => i.peer === bundle.PeerName)
          .flatMap((i) => healthyEndpoints(w.value(i.watch) ?? [])),
      ),
      servers: endpointsFrom(
        (w.value(peerings) ?? []).find((p) => p.Name === bundle.PeerName)?.PeerServerAddresses ?? [],
      ),
    }));
    return {
      trustDomain: w.value(roots).TrustDomain,
      datacenter: this.options.datacenter,
      exportedServices: exportedEntry,
      localServices,
      peers,
      peerThroughMeshGateways: peerThroughMeshGateways(w.value(mesh)),
      localServers: this.options.localServers,
      proxyConfig: w.value(proxyDefaults)?.Config ?? {},
    };
  }
}
