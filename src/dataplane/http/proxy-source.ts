// A sidecar's configuration from the server's HTTP API: its leaf (re-asked when due for renewal), the
// roots and peers' trust bundles (all of them, and those of the peers its service is exported to), the
// intentions for its service, the server's ACL state (for the default intention), proxy-defaults,
// this cluster's mesh gateways, the service-resolver of each local upstream and the instances of each
// upstream and of its resolver's Redirect and Failover targets — local sidecars (counted while they
// and the instance they front pass their checks), or a peer's gateway with its SNI name (counted while
// the exporter's checks of the instance pass). All blocking queries: a check turning critical, a
// resolver written, an export withdrawn reach the sidecar as the server reports them.

import { parseSpiffeId, parseTrustBundle, renewAt, type TrustBundle } from '../../ca/index.js';
import { SNI_META_KEY } from '../../ca/sni.js';
import type { IntentionAction, MeshEntry, ServiceResolverEntry } from '../../config-entries/index.js';
import { evaluate, parseFilter } from '../../filter/filter.js';
import { type Logger, silentLogger } from '../../shared/logger.js';
import type { ProxyConfig, UpstreamInstances, UpstreamSpec } from '../proxy/config.js';
import { defaultIntention, type ServerAclState } from '../proxy/default-intention.js';
import { type MeshTls, meshTlsFrom } from '../proxy/mesh-tls.js';
import { localRedirect, resolveUpstream, sameTarget, type TargetSubset } from '../proxy/resolver-targets.js';
import type { ConsulApi } from './consul-api.js';
import {
  aclStateOf,
  caRootsSchema,
  type HealthService,
  healthServiceSchema,
  healthyEndpoints,
  type LeafResponse,
  leafSchema,
  passingConnectEndpoints,
  passingEndpoints,
  type TrustBundlesAnswer,
  trustBundlesSchema,
} from './responses.js';
import { configEntryWatch, instancesWatch, jsonWatch, type Watch, withPeer } from './watch.js';
import type { WatchSetOptions } from './watch-set.js';
import { WatchedSource } from './watched-source.js';

/** The Service.Meta key under which the exporting cluster gives the SNI name of an imported instance. */
export { SNI_META_KEY };

export interface HttpProxyConfigSourceOptions {
  api: ConsulApi;
  service: string;
  upstreams: readonly UpstreamSpec[];
  /** The name this cluster's mesh gateways are registered under. Default "mesh-gateway". */
  meshGatewayService?: string;
  /**
   * When no intention matches, overriding the server's ACL state. Without it, as in Consul: the ACL
   * default policy when the server has ACLs on, allow when off (read from /v1/agent/self).
   */
  defaultIntentionAction?: IntentionAction;
  logger?: Logger;
  watch?: WatchSetOptions;
  /** For tests: when to re-ask for the leaf. Default renewAt(). */
  renewAt?: (leaf: { validAfter: string; validBefore: string }) => Date;
}

// setTimeout keeps at most a signed 32-bit delay.
const MAX_TIMER_MS = 2_147_483_647;

export class HttpProxyConfigSource extends WatchedSource<ProxyConfig> {
  private readonly fixed: readonly Watch<unknown>[];
  private renewal: NodeJS.Timeout | undefined;
  private renewingSerial: string | undefined;
  private reportedCipherSuites = '';

  constructor(private readonly options: HttpProxyConfigSourceOptions) {
    super(options.api, options.logger ?? silentLogger(), options.watch);
    this.fixed = [
      rootsWatch,
      bundlesWatch,
      exportedToWatch(options.service),
      leafWatch(options.service),
      gatewaysWatch(this.gatewayService),
      configEntryWatch('service-intentions', options.service),
      configEntryWatch('service-intentions', '*'),
      configEntryWatch('proxy-defaults', 'global'),
      meshWatch,
      // The server's ACL state matters only when no flag overrides it.
      ...(options.defaultIntentionAction === undefined ? [aclStateWatch] : []),
    ];
  }

  private get gatewayService(): string {
    return this.options.meshGatewayService ?? 'mesh-gateway';
  }

  override stop(): void {
    clearTimeout(this.renewal);
    super.stop();
  }

  protected initialWatches(): Watch<unknown>[] {
    // The resolvers are not known yet: start with the upstreams themselves, as most have none.
    const services = this.targets(() => undefined);
    return [...this.base(), ...services.flatMap((t) => targetWatches(t.service, t.peer))];
  }

  /** What every snapshot needs: the fixed watches and the resolver of each local upstream. */
  private base(): Watch<unknown>[] {
    return [...this.fixed, ...this.resolverNames().map(resolverWatch)];
  }

  private resolverNames(): string[] {
    return [...new Set(this.options.upstreams.filter((u) => !u.peer).map((u) => u.name))];
  }

  /** Every service an upstream may reach under the given resolvers, each once. */
  private targets(resolverOf: (name: string) => ServiceResolverEntry | undefined) {
    const out: { service: string; peer?: string; subset?: TargetSubset }[] = [];
    for (const spec of this.options.upstreams) {
      const resolved = resolveUpstream(spec, resolverOf);
      for (const t of resolved.targets) {
        if (!out.some((o) => sameTarget(o, t)))
          out.push({
            service: t.service,
            ...(t.peer ? { peer: t.peer } : {}),
            ...(t.subset ? { subset: t.subset } : {}),
          });
      }
    }
    return out;
  }

  protected build(): ProxyConfig | undefined {
    const w = this.watches;
    const base = this.base();
    if (!w.ready(base)) return undefined;
    // The resolvers of the upstreams, and of the services their Redirects lead to (the chain goes on
    // there); a resolver not read yet is waited for.
    const names = this.resolverNames();
    const resolvers: ServiceResolverEntry[] = [];
    let chainReady = true;
    for (let i = 0; i < names.length && i < MAX_RESOLVERS; i++) {
      const watch = resolverWatch(names[i] ?? '');
      if (!w.ready([watch])) {
        chainReady = false;
        continue;
      }
      const resolver = w.value(watch);
      if (resolver === undefined) continue;
      resolvers.push(resolver);
      const redirect = resolver.Redirect;
      const next = redirect?.Service;
      if (redirect && next && localRedirect(redirect) && !names.includes(next)) names.push(next);
    }
    const chained = names.map(resolverWatch);
    const targets = this.targets((name) => resolvers.find((r) => r.Name === name));
    const dynamic = targets.flatMap((t) => targetWatches(t.service, t.peer));
    w.keep([...base, ...chained, ...dynamic]);
    if (!chainReady || !w.ready(dynamic)) return undefined;
    const rootsAnswer = w.value(rootsWatch);
    const leaf = w.value(leafWatch(this.options.service));
    this.scheduleRenewal(leaf);
    const identity = parseSpiffeId(leaf.ServiceURI);
    const defaults = w.value(configEntryWatch('proxy-defaults', 'global'));
    const override = this.options.defaultIntentionAction;
    const fallback = defaultIntention(override, override === undefined ? w.value(aclStateWatch) : undefined);
    return {
      service: this.options.service,
      datacenter: identity.datacenter,
      trustDomain: rootsAnswer.TrustDomain,
      leaf: {
        certPem: leaf.CertPEM,
        keyPem: leaf.PrivateKeyPEM,
        serialNumber: leaf.SerialNumber,
        validAfter: leaf.ValidAfter,
        validBefore: leaf.ValidBefore,
      },
      roots: (rootsAnswer.Roots ?? []).map((r) => r.RootCert),
      peerBundles: this.bundles(w.value(bundlesWatch)),
      inboundPeerBundles: this.bundles(w.value(exportedToWatch(this.options.service))),
      intentions: [
        w.value(configEntryWatch('service-intentions', this.options.service)),
        w.value(configEntryWatch('service-intentions', '*')),
      ].filter((e) => e !== undefined),
      defaultIntentionAction: fallback.action,
      defaultIntentionReason: fallback.reason,
      upstreams: targets.map((t) => this.instancesOf(t.service, t.peer, t.subset)),
      resolvers,
      // Gateways whose checks are not critical (a killed one's TTL check expires).
      localGateways: healthyEndpoints(
        (w.value(gatewaysWatch(this.gatewayService)) ?? []).filter(
          (g) => !g.Service.Kind || g.Service.Kind === 'mesh-gateway',
        ),
      ),
      meshGatewayMode: defaults?.MeshGateway.Mode ?? '',
      proxyConfig: defaults?.Config ?? {},
      tls: this.meshTls(w.value(meshWatch)),
    };
  }

  /** The mesh entry's TLS settings; cipher suites meshpeer cannot translate are reported once. */
  private meshTls(entry: MeshEntry | undefined): MeshTls {
    const tls = meshTlsFrom(entry);
    const unknown = tls.unknownCipherSuites.join(', ');
    if (unknown !== this.reportedCipherSuites) {
      this.reportedCipherSuites = unknown;
      if (unknown)
        this.logger.warn(
          { cipherSuites: tls.unknownCipherSuites },
          `the mesh config entry names cipher suites meshpeer does not know; they are left out: ${unknown}`,
        );
    }
    return tls;
  }

  private bundles(answer: TrustBundlesAnswer): TrustBundle[] {
    return (answer ?? []).flatMap((b) => {
      try {
        return [
          parseTrustBundle({ peerName: b.PeerName, trustDomain: b.TrustDomain, rootPems: b.RootPEMs ?? [] }),
        ];
      } catch (err) {
        this.logger.warn(
          { peer: b.PeerName, err: (err as Error).message },
          'ignoring an invalid trust bundle',
        );
        return [];
      }
    });
  }

  private instancesOf(name: string, peer: string | undefined, subset?: TargetSubset): UpstreamInstances {
    const entries: HealthService[] = this.watches.value(upstreamWatch(name, peer)) ?? [];
    if (!peer) {
      const fronted = this.watches.value(destinationWatch(name)) ?? [];
      const inSubset = subset === undefined ? undefined : this.subsetMatcher(name, subset);
      return {
        name,
        ...(subset ? { subset: subset.name } : {}),
        instances: passingConnectEndpoints(entries, fronted, inSubset),
        listed: entries.length,
      };
    }
    const instances = passingEndpoints(entries);
    const sni = entries.map((e) => e.Service.Meta?.[SNI_META_KEY]).find((s) => s !== undefined && s !== '');
    return { name, peer, instances, listed: entries.length, ...(sni ? { sni } : {}) };
  }

  /** Which instances a subset's Filter selects; a filter that does not parse selects none, and says so. */
  private subsetMatcher(service: string, subset: TargetSubset): (instance: HealthService) => boolean {
    if (subset.filter === '') return () => true;
    try {
      const node = parseFilter(subset.filter);
      return (instance) => evaluate(node, instance);
    } catch (err) {
      this.logger.warn(
        { service, subset: subset.name, err: (err as Error).message },
        'the subset filter of the service-resolver does not parse; no instance is in the subset',
      );
      return () => false;
    }
  }

  /** Asks for the leaf again once it is due for renewal, rather than waiting to be told. */
  private scheduleRenewal(leaf: LeafResponse): void {
    if (this.renewingSerial === leaf.SerialNumber) return;
    this.renewingSerial = leaf.SerialNumber;
    clearTimeout(this.renewal);
    const at = (this.options.renewAt ?? renewAt)({
      validAfter: leaf.ValidAfter,
      validBefore: leaf.ValidBefore,
    });
    this.renewal = setTimeout(
      () => {
        this.logger.info(
          { serial: leaf.SerialNumber },
          'leaf certificate due for renewal; asking for a new one',
        );
        this.renewingSerial = undefined;
        this.watches.refresh(leafWatch(this.options.service));
      },
      Math.min(Math.max(at.getTime() - Date.now(), 0), MAX_TIMER_MS),
    );
    this.renewal.unref();
  }
}

const rootsWatch = jsonWatch('/v1/connect/ca/roots', caRootsSchema);
const meshWatch = configEntryWatch('mesh', 'mesh');
const bundlesWatch = jsonWatch('/v1/internal/meshpeer/trust-bundles', trustBundlesSchema);
/** The bundles of the peers `service` is exported to (Consul's TrustBundleListByService). */
const exportedToWatch = (service: string) =>
  jsonWatch(`/v1/internal/meshpeer/trust-bundles/${encodeURIComponent(service)}`, trustBundlesSchema);
/** ACL state cannot block; it is server configuration, so reading it twice a minute is plenty. */
const aclStateWatch: Watch<ServerAclState> = {
  path: '/v1/agent/self',
  answerStatuses: [401, 403],
  pollMs: 30_000,
  read: (response) => {
    if (response.status === 401 || response.status === 403) {
      return { kind: 'refused', status: response.status, message: String(response.body ?? '') };
    }
    if (response.status === 404) return { kind: 'unreported' };
    return aclStateOf(response.body);
  },
};
const leafWatch = (service: string) =>
  jsonWatch(`/v1/agent/connect/ca/leaf/${encodeURIComponent(service)}`, leafSchema);
const gatewaysWatch = (name: string) =>
  jsonWatch(`/v1/health/service/${encodeURIComponent(name)}`, healthServiceSchema);
const upstreamWatch = (service: string, peer?: string) =>
  jsonWatch(withPeer(`/v1/health/connect/${encodeURIComponent(service)}`, peer), healthServiceSchema);
const destinationWatch = instancesWatch;
const resolverWatch = (name: string) => configEntryWatch('service-resolver', name);
/** At most this many resolvers are read for one sidecar's upstreams and their Redirect chains. */
const MAX_RESOLVERS = 64;
/** A local target: its sidecars and the instances they front; a peer's: the imported instances. */
const targetWatches = (service: string, peer?: string): Watch<unknown>[] =>
  peer ? [upstreamWatch(service, peer)] : [upstreamWatch(service), destinationWatch(service)];
