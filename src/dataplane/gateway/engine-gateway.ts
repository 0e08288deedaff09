// What the mesh gateways that drive an engine (HAProxy, nginx) share beside the engine lifecycle
// (engine-lifecycle.ts): they start the engine on the first routing snapshot at a concrete address (an
// engine cannot report a port it picked) and log what they listen with. What a snapshot becomes, and
// how it reaches the engine, is each engine's own.
import { type Logger, silentLogger } from '../../shared/logger.js';
import type { ConfigSource } from '../config-source.js';
import type { Endpoint } from '../endpoint.js';
import { type EngineHandle, EngineLifecycle } from '../engine-lifecycle.js';
import { ephemeralPort } from '../listen.js';
import type { GatewayConfig } from './config.js';
import type { GatewayMetrics } from './metrics.js';
import { planFor, type RoutePlan } from './route-plan.js';

export interface EngineGatewayOptions {
  config: ConfigSource<GatewayConfig>;
  listen: Endpoint;
  logger?: Logger;
  /** How long start() waits for the first configuration. Default 30 s. */
  configTimeoutMs?: number;
  /** Dial timeout per destination, unless `Proxy.Config.connect_timeout_ms` says otherwise. Default 5 s. */
  connectTimeoutMs?: number;
}

export abstract class EngineGateway<E extends EngineHandle> extends EngineLifecycle<GatewayConfig, E> {
  abstract readonly metrics: GatewayMetrics;
  /** The address the engine listens on, from start. */
  protected bound: Endpoint | undefined;

  constructor(
    private readonly base: EngineGatewayOptions,
    engineName: string,
  ) {
    super(base.logger ?? silentLogger(), `mesh gateway (${engineName})`, engineName);
  }

  /** Waits for the first routing snapshot, starts the engine on it; resolves with the bound address. */
  async start(): Promise<Endpoint> {
    this.locate();
    const { first, open } = await this.follow(
      this.base.config,
      this.base.configTimeoutMs ?? 30_000,
      'mesh gateway',
    );
    try {
      const listen = this.base.listen.port === 0 ? await ephemeralPort(this.base.listen) : this.base.listen;
      this.bound = listen;
      const plan = this.planOf(first);
      this.engine = await this.startOn(first, plan);
      this.logger.info(
        {
          address: listen,
          names: plan.names.size,
          peers: plan.patterns.length,
          backends: plan.backends.length,
        },
        `${this.label} listening`,
      );
      // A snapshot that arrived while the engine was starting is applied now.
      open();
      return listen;
    } catch (err) {
      this.unfollow();
      this.bound = undefined;
      await this.cleanup();
      throw err;
    }
  }

  get address(): Endpoint {
    if (!this.bound) throw new Error('the mesh gateway is not listening');
    return this.bound;
  }

  /** What `snapshot` asks of the engine, with this gateway's default dial timeout. */
  protected planOf(snapshot: GatewayConfig): RoutePlan {
    return planFor(snapshot, this.base.connectTimeoutMs ?? 5_000);
  }

  /** Finds the engine's binary; throws, saying how to install it, when there is none. */
  protected abstract locate(): void;
  /** Prepares what the engine needs and starts it on the first snapshot's plan (`bound` is set). */
  protected abstract startOn(first: GatewayConfig, plan: RoutePlan): Promise<E>;
}
