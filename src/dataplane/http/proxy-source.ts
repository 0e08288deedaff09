// A sidecar's configuration from the server's HTTP API: its leaf (re-asked when due for renewal), the
// roots and peers' trust bundles (all of them, and those of the peers its service is exported to), the
// intentions for its service, the server's ACL state (for the default intention), proxy-defaults,
// this cluster's mesh gateways and the instances of each upstream — local sidecars, or a peer's
// gateway with its SNI name.

import { parseSpiffeId, parseTrustBundle, renewAt, type TrustBundle } from '../../ca/index.js';
import { SNI_META_KEY } from '../../ca/sni.js';
import type { IntentionAction } from '../../config-entries/index.js';
import { type Logger, silentLogger } from '../../shared/logger.js';
import type { ProxyConfig, UpstreamInstances, UpstreamSpec } from '../proxy/config.js';
import { defaultIntention, type ServerAclState } from '../proxy/default-intention.js';
import type { ConsulApi } from './consul-api.js';
import {
  aclStateOf,
  caRootsSchema,
  catalogServiceSchema,
  dedupe,
  healthServiceSchema,
  healthyEndpoints,
  type LeafResponse,
  leafSchema,
  type TrustBundlesAnswer,
  trustBundlesSchema,
} from './responses.js';
import { configEntryWatch, jsonWatch, type Watch, withPeer } from './watch.js';
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
    return this.all();
  }

  private all(): Watch<unknown>[] {
    const upstreams = this.options.upstreams.map((spec) => upstreamWatch(spec.name, spec.peer));
    return [...this.fixed, ...upstreams];
  }

  protected build(): ProxyConfig | undefined {
    const w = this.watches;
    if (!w.ready(this.all())) return undefined;
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
      upstreams: this.options.upstreams.map((spec) => this.instancesOf(spec)),
      localGateways: dedupe(
        (w.value(gatewaysWatch(this.gatewayService)) ?? [])
          .filter((g) => !g.ServiceKind || g.ServiceKind === 'mesh-gateway')
          .map((g) => ({ host: g.ServiceAddress || g.Address || '', port: g.ServicePort }))
          .filter((g) => g.host !== '' && g.port > 0),
      ),
      meshGatewayMode: defaults?.MeshGateway.Mode ?? '',
      proxyConfig: defaults?.Config ?? {},
    };
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

  private instancesOf(spec: UpstreamSpec): UpstreamInstances {
    const entries = this.watches.value(upstreamWatch(spec.name, spec.peer)) ?? [];
    const instances = healthyEndpoints(entries);
    if (!spec.peer) return { name: spec.name, instances };
    const sni = entries.map((e) => e.Service.Meta?.[SNI_META_KEY]).find((s) => s !== undefined && s !== '');
    return { name: spec.name, peer: spec.peer, instances, ...(sni ? { sni } : {}) };
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
  jsonWatch(`/v1/catalog/service/${encodeURIComponent(name)}`, catalogServiceSchema);
const upstreamWatch = (service: string, peer?: string) =>
  jsonWatch(withPeer(`/v1/health/connect/${encodeURIComponent(service)}`, peer), healthServiceSchema);
