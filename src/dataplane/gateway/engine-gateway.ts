// What the mesh gateways that drive an engine (HAProxy, nginx) share: they wait for the first routing
// snapshot and start the engine on it, apply later snapshots one at a time, the newest first
// (newest-first.ts), start the engine again when it dies unasked (haproxy-restarts.ts backs off), and
// stop by draining: no new connections, live ones get the drain time, then the engine stops. What a
// snapshot becomes, and how it reaches the engine, is each engine's own.
import { type Logger, silentLogger } from '../../shared/logger.js';
import type { ConfigSource, Unsubscribe } from '../config-source.js';
import type { Endpoint } from '../endpoint.js';
import { HaproxyRestarts } from '../haproxy-restarts.js';
import { ephemeralPort } from '../listen.js';
import { NewestFirst } from '../newest-first.js';
import type { GatewayConfig } from './config.js';
import type { GatewayMetrics } from './metrics.js';
import { planFor } from './route-plan.js';

export interface EngineGatewayOptions {
  config: ConfigSource<GatewayConfig>;
  listen: Endpoint;
  logger?: Logger;
  /** How long start() waits for the first configuration. Default 30 s. */
  configTimeoutMs?: number;
  /** Dial timeout per destination, unless `Proxy.Config.connect_timeout_ms` says otherwise. Default 5 s. */
  connectTimeoutMs?: number;
}

/** The engine's processes as the gateway sees them. */
export interface EngineProcess {
  readonly currentWorkerPid: number;
  readonly masterPid: number;
  stop(drainMs: number): Promise<void>;
}

export abstract class EngineGateway<E extends EngineProcess> {
  abstract readonly metrics: GatewayMetrics;
  protected readonly logger: Logger;
  /** The running engine; undefined before start and while it is down. */
  protected engine: E | undefined;
  /** The address the engine listens on, from start. */
  protected bound: Endpoint | undefined;
  protected stopped = false;
  private unsubscribe: Unsubscribe | undefined;
  protected readonly restarts: HaproxyRestarts;
  /** Snapshots are applied one at a time, newest wins; restarts take their turn in the same line. */
  protected readonly updates: NewestFirst<GatewayConfig>;

  constructor(
    private readonly base: EngineGatewayOptions,
    /** For the log: haproxy, nginx. */
    protected readonly engineName: string,
  ) {
    this.logger = base.logger ?? silentLogger();
    this.updates = new NewestFirst<GatewayConfig>(
      (snapshot) => (this.stopped ? Promise.resolve() : this.apply(snapshot)),
      (err) =>
        this.logger.error(
          { err: err.message },
          `could not apply the new routes to ${engineName}; it keeps serving the previous ones`,
        ),
    );
    this.restarts = new HaproxyRestarts(
      this.updates,
      this.logger,
      () => !this.stopped,
      () => this.restart(),
      engineName,
    );
  }

  /** Waits for the first routing snapshot, starts the engine on it; resolves with the bound address. */
  async start(): Promise<Endpoint> {
    this.locate();
    const { first, unsubscribe, open } = await this.updates.follow(this.base.config, {
      timeoutMs: this.base.configTimeoutMs ?? 30_000,
      what: 'mesh gateway',
    });
    this.unsubscribe = unsubscribe;
    try {
      const listen = this.base.listen.port === 0 ? await ephemeralPort(this.base.listen) : this.base.listen;
      this.bound = listen;
      this.engine = await this.startOn(first);
      const plan = planFor(first, this.base.connectTimeoutMs ?? 5_000);
      this.logger.info(
        {
          address: listen,
          names: plan.names.size,
          peers: plan.patterns.length,
          backends: plan.backends.length,
        },
        `mesh gateway (${this.engineName}) listening`,
      );
      // A snapshot that arrived while the engine was starting is applied now.
      open();
      return listen;
    } catch (err) {
      unsubscribe();
      this.bound = undefined;
      await this.cleanup();
      throw err;
    }
  }

  get address(): Endpoint {
    if (!this.bound) throw new Error('the mesh gateway is not listening');
    return this.bound;
  }

  /** The engine worker that serves new connections (0 while it is down). */
  get workerPid(): number {
    return this.engine?.currentWorkerPid ?? 0;
  }

  /** The engine's master process (0 while it is down). */
  get masterPid(): number {
    return this.engine?.masterPid ?? 0;
  }

  /** Resolves once every snapshot received so far has been applied (or found unusable). */
  settled(): Promise<void> {
    return this.updates.settled();
  }

  /** Stops accepting, gives live connections `drainMs` to finish, then stops the engine. */
  async stop(drainMs = 0): Promise<void> {
    this.stopped = true;
    this.restarts.cancel();
    this.unsubscribe?.();
    await this.updates.settled();
    this.logger.info({ drainMs }, `mesh gateway (${this.engineName}) draining`);
    await this.engine?.stop(drainMs);
    this.logger.info(`mesh gateway (${this.engineName}) stopped`);
    await this.cleanup();
  }

  /** For the engine's onUnexpectedExit: it is down, and starts again after a delay. */
  protected readonly engineDied = (): void => {
    this.engine = undefined;
    this.restarts.schedule();
  };

  /** Finds the engine's binary; throws, saying how to install it, when there is none. */
  protected abstract locate(): void;
  /** Prepares what the engine needs and starts it on the first snapshot (`bound` is set). */
  protected abstract startOn(first: GatewayConfig): Promise<E>;
  /** Brings the running engine to a newer snapshot (or remembers it while the engine is down). */
  protected abstract apply(snapshot: GatewayConfig): Promise<void>;
  /** Starts the engine again on the newest snapshot; resolves with its worker's pid. */
  protected abstract restart(): Promise<number | undefined>;
  /** Removes what start prepared. */
  protected abstract cleanup(): Promise<void> | void;
}
