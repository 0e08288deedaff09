// The sidecar: one inbound mTLS listener in front of the app and one plain listener per upstream,
// all driven by the latest ProxyConfig snapshot. A new snapshot (a renewed leaf, new roots, moved
// instances, changed intentions, an upstream failing over to a peer) applies to new connections; live
// ones carry on untouched.
import { type Logger, silentLogger } from '../../shared/logger.js';
import { subscribeFromFirst, type Unsubscribe } from '../config-source.js';
import type { Endpoint } from '../endpoint.js';
import type { ProxyConfig, ProxyConfigSource, UpstreamSpec } from './config.js';
import { InboundListener } from './inbound.js';
import { ProxyMetrics } from './metrics.js';
import { type ProxyState, stateOf } from './state.js';
import { UpstreamListener } from './upstream-listener.js';

export interface SidecarOptions {
  config: ProxyConfigSource;
  /** The mTLS listener and the app it fronts; omit for a sidecar whose app takes no connections. */
  inbound?: { listen: Endpoint; app: Endpoint };
  upstreams?: readonly UpstreamSpec[];
  logger?: Logger;
  metrics?: ProxyMetrics;
  /** How long start() waits for the first configuration. Default 30 s. */
  configTimeoutMs?: number;
}

export interface SidecarAddresses {
  inbound?: Endpoint;
  upstreams: { spec: UpstreamSpec; address: Endpoint }[];
}

/** The local address of the upstream listener for `name` (and `peer`) among a sidecar's addresses. */
export function upstreamAddressIn(addresses: SidecarAddresses, name: string, peer?: string): Endpoint {
  const found = addresses.upstreams.find((u) => u.spec.name === name && u.spec.peer === peer);
  if (!found) throw new Error(`no upstream listener for ${name}${peer ? ` (peer ${peer})` : ''}`);
  return found.address;
}

export class Sidecar {
  readonly metrics: ProxyMetrics;
  private readonly logger: Logger;
  private state: ProxyState | undefined;
  private inbound: InboundListener | undefined;
  private upstreams: UpstreamListener[] = [];
  private unsubscribe: Unsubscribe | undefined;
  private bound: SidecarAddresses | undefined;

  constructor(private readonly options: SidecarOptions) {
    this.metrics = options.metrics ?? new ProxyMetrics();
    this.logger = options.logger ?? silentLogger();
  }

  async start(): Promise<SidecarAddresses> {
    const { unsubscribe } = await subscribeFromFirst(
      this.options.config,
      (snapshot) => this.apply(snapshot),
      {
        timeoutMs: this.options.configTimeoutMs ?? 30_000,
        what: 'sidecar',
      },
    );
    this.unsubscribe = unsubscribe;
    const current = (): ProxyState => this.current;
    try {
      const addresses: SidecarAddresses = { upstreams: [] };
      if (this.options.inbound) {
        this.inbound = new InboundListener(current, this.options.inbound.app, this.metrics, this.logger);
        addresses.inbound = await this.inbound.listen(this.options.inbound.listen);
      }
      for (const spec of this.options.upstreams ?? []) {
        const listener = new UpstreamListener(spec, current, this.metrics, this.logger);
        this.upstreams.push(listener);
        addresses.upstreams.push({ spec, address: await listener.listen() });
      }
      this.bound = addresses;
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.logger.info({ service: this.current.config.service, addresses: this.bound }, 'sidecar listening');
    return this.bound;
  }

  get addresses(): SidecarAddresses {
    if (!this.bound) throw new Error('the sidecar is not listening');
    return this.bound;
  }

  /** The local address of the upstream listener for `name` (and `peer`). */
  upstreamAddress(name: string, peer?: string): Endpoint {
    return upstreamAddressIn(this.addresses, name, peer);
  }

  /** The serial number of the leaf new connections use. */
  get leafSerial(): string | undefined {
    return this.state?.config.leaf.serialNumber;
  }

  async stop(drainMs = 0): Promise<void> {
    this.unsubscribe?.();
    await Promise.all([this.inbound?.close(drainMs), ...this.upstreams.map((u) => u.close(drainMs))]);
  }

  private get current(): ProxyState {
    if (!this.state) throw new Error('the sidecar has no configuration yet');
    return this.state;
  }

  /** Says which default intention action is in force and why, at start and whenever it changes. */
  private logDefaultIntention(config: ProxyConfig, previous: ProxyConfig | undefined): void {
    if (
      previous &&
      previous.defaultIntentionAction === config.defaultIntentionAction &&
      previous.defaultIntentionReason === config.defaultIntentionReason
    ) {
      return;
    }
    const why = config.defaultIntentionReason ?? 'given in the configuration';
    this.logger.info(
      { service: config.service, defaultIntention: config.defaultIntentionAction, why },
      `default intention action: ${config.defaultIntentionAction} (${why})`,
    );
  }

  private apply(config: ProxyConfig): void {
    const expires = config.leaf.validBefore ? Date.parse(config.leaf.validBefore) : Number.NaN;
    if (expires <= Date.now()) {
      this.logger.error(
        { validBefore: config.leaf.validBefore },
        'the leaf certificate has expired; peers will refuse it',
      );
    }
    this.logDefaultIntention(config, this.state?.config);
    this.state = stateOf(config, this.state);
    this.inbound?.refresh();
    for (const upstream of this.upstreams) upstream.refresh();
  }
}
