// What the HAProxy and nginx sidecars share: a sidecar whose bytes a child process (the engine) carries
// while meshpeer makes every decision. It waits for the first configuration, picks concrete ports (an
// engine cannot report a port it chose), renders the configuration into its private directory, starts
// the engine, and from then on applies each snapshot as a checked re-render and a reload; the rest of
// the lifecycle (newest first, one at a time; restarts with backoff; the drain on stop) is
// engine-lifecycle.ts's. Each engine says how to render, check, start and compare (haproxy-sidecar.ts,
// nginx-sidecar.ts).
import { silentLogger } from '../../shared/logger.js';
import type { Endpoint } from '../endpoint.js';
import { type EngineHandle, EngineLifecycle } from '../engine-lifecycle.js';
import { ephemeralPort } from '../listen.js';
import type { ProxyConfig } from './config.js';
import { type SidecarAddresses, type SidecarOptions, upstreamAddressIn } from './sidecar.js';
import type { DirRendering, SidecarDir } from './sidecar-dir.js';

/** The engine's master process as the sidecar drives it. */
export interface EngineProcess extends EngineHandle {
  reload(): Promise<void>;
}

export interface EngineRendering extends DirRendering {
  config: ProxyConfig;
}

export abstract class EngineSidecar<
  R extends EngineRendering,
  E extends EngineProcess,
> extends EngineLifecycle<ProxyConfig, E> {
  private dir: SidecarDir | undefined;
  private bound: SidecarAddresses | undefined;
  /** What the engine serves now, and the newest rendering (they differ while the engine is down). */
  protected running: R | undefined;
  private wanted: R | undefined;

  constructor(
    protected readonly sidecarOptions: SidecarOptions,
    engineName: string,
  ) {
    super(sidecarOptions.logger ?? silentLogger(), `sidecar (${engineName})`, engineName);
  }

  /** Finds the engine (binary, modules) before anything else; throws, saying how to install it. */
  protected abstract locate(): void;
  /** A new private directory for the engine's files. */
  protected abstract makeDir(): SidecarDir;
  /** Anything the engine needs before its first rendering (e.g. where it sends its log lines). */
  protected async prepare(_dir: SidecarDir): Promise<void> {}
  /** The whole configuration for `config`, with the chosen ports and the private directory. */
  protected abstract render(
    config: ProxyConfig,
    addresses: SidecarAddresses,
    dir: SidecarDir,
  ): R | Promise<R>;
  /** Has the engine check a candidate configuration file; throws with its words when it is refused. */
  protected abstract check(candidate: string): Promise<void>;
  /** Starts the engine on the configuration in `dir`; `onUnexpectedExit` when it dies unasked. */
  protected abstract launch(dir: SidecarDir, onUnexpectedExit: () => void): Promise<E>;
  protected abstract same(a: R, b: R): boolean;
  /** Says what changed (default intention, leaf, routes), in the Node sidecar's words. */
  protected abstract logChanges(next: R, previous: R | undefined): void;
  /** Releases what prepare() took, once the engine has stopped (its directory is still there). */
  protected async release(): Promise<void> {}

  /** Waits for the first configuration, starts the engine on it; resolves with the bound addresses. */
  async start(): Promise<SidecarAddresses> {
    this.locate();
    const { first, open } = await this.follow(
      this.sidecarOptions.config,
      this.sidecarOptions.configTimeoutMs ?? 30_000,
      'sidecar',
    );
    let engine: E;
    try {
      this.dir = this.makeDir();
      // The engine cannot report a port it picked, so port 0 becomes a free port chosen here.
      const addresses: SidecarAddresses = { upstreams: [] };
      if (this.sidecarOptions.inbound) addresses.inbound = await concrete(this.sidecarOptions.inbound.listen);
      for (const spec of this.sidecarOptions.upstreams ?? []) {
        addresses.upstreams.push({ spec, address: await concrete(spec.bind) });
      }
      this.bound = addresses;
      await this.prepare(this.dirOf());
      const rendering = await this.render(first, addresses, this.dirOf());
      this.logChanges(rendering, undefined);
      await this.write(rendering);
      engine = await this.startEngine();
      this.running = rendering;
      this.wanted = rendering;
    } catch (err) {
      this.bound = undefined;
      this.unfollow();
      await this.cleanup();
      throw err;
    }
    this.logger.info(
      { service: first.service, addresses: this.bound, worker: engine.currentWorkerPid },
      `${this.label} listening`,
    );
    // A snapshot that arrived while the engine was starting is applied now.
    open();
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
    return this.running?.config.leaf.serialNumber;
  }

  protected async apply(config: ProxyConfig): Promise<void> {
    const rendering = await this.render(config, this.addresses, this.dirOf());
    this.logChanges(rendering, this.wanted);
    this.wanted = rendering;
    const engine = this.engine;
    if (!engine) return; // the engine is down: it restarts on the newest rendering
    if (this.running && this.same(this.running, rendering)) {
      this.running = rendering;
      return;
    }
    await this.write(rendering);
    await engine.reload();
    this.running = rendering;
    this.dirOf().removeStale(rendering);
  }

  private async startEngine(): Promise<E> {
    const engine = await this.launch(this.dirOf(), this.engineDied);
    this.engine = engine;
    return engine;
  }

  /** Starts the engine again on the newest rendering, after it died unasked (EngineRestarts backs off). */
  protected async restart(): Promise<number | undefined> {
    const rendering = this.wanted;
    if (!rendering) return undefined;
    await this.write(rendering);
    const engine = await this.startEngine();
    this.running = rendering;
    return engine.currentWorkerPid;
  }

  private write(rendering: R): Promise<void> {
    return this.dirOf().write(rendering, (candidate) => this.check(candidate));
  }

  private dirOf(): SidecarDir {
    if (!this.dir) throw new Error('the sidecar has not started');
    return this.dir;
  }

  protected async cleanup(): Promise<void> {
    try {
      await this.release();
    } finally {
      this.dir?.remove();
      this.dir = undefined;
    }
  }
}

async function concrete(endpoint: Endpoint): Promise<Endpoint> {
  return endpoint.port === 0 ? ephemeralPort(endpoint) : endpoint;
}
