// The mesh gateway's configuration from the server's HTTP API: exports, the sidecars of exported
// services, peers (trust domains from their bundles, gateways from what they export to us, servers of
// the peerings this cluster dials) and the mesh and proxy-defaults entries, kept current with blocking queries.
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
  peerServersSchema,
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
const peerServers = jsonWatch('/v1/internal/meshpeer/peer-servers', peerServersSchema);
const exported = configEntryWatch('exported-services', 'default');
const mesh = configEntryWatch('mesh', 'mesh');
const proxyDefaults = configEntryWatch('proxy-defaults', 'global');
const STATIC: readonly Watch<unknown>[] = [
  roots,
  bundles,
  services,
  peerServers,
  exported,
  mesh,
  proxyDefaults,
];

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
    // Peers we import from (their gateways) and peers this cluster dials (their servers, for peering
    // traffic through the gateways), including an establishment still in flight.
    const servers = w.value(peerServers) ?? [];
    const names = [
      ...new Set([...(w.value(bundles) ?? []).map((b) => b.PeerName), ...servers.map((s) => s.PeerName)]),
    ];
    const peers: GatewayPeer[] = names.map((name) => {
      const bundle = (w.value(bundles) ?? []).find((b) => b.PeerName === name);
      const dialed = servers.find((s) => s.PeerName === name);
      return {
        name,
        trustDomain: bundle?.TrustDomain ?? dialed?.TrustDomain ?? '',
        gateways: dedupe(
          imported.filter((i) => i.peer === name).flatMap((i) => healthyEndpoints(w.value(i.watch) ?? [])),
        ),
        servers: endpointsFrom(dialed?.Addresses ?? []),
      };
    });
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
