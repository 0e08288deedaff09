// The sidecar with HAProxy on its hot path (`meshpeer proxy --engine haproxy`): meshpeer keeps every
// decision (who may call in, where each upstream goes and whom it must be) and renders it as HAProxy
// configuration (haproxy-inbound.ts, haproxy-upstreams.ts); HAProxy, a child process, carries the
// bytes. Any change of leaf, roots, bundles, exports, intentions or routes is a new rendering and a
// seamless reload: new connections follow it, live ones stay on the worker they started on. Stopping
// drains: no new connections, live ones get the drain time, then HAProxy stops.
import { type Logger, silentLogger } from '../../shared/logger.js';
import type { Unsubscribe } from '../config-source.js';
import type { Endpoint } from '../endpoint.js';
import { ephemeralPort } from '../gateway/haproxy-gateway.js';
import { checkHaproxyConfig, findHaproxy, HaproxyProcess } from '../haproxy-process.js';
import { HaproxyRestarts } from '../haproxy-restarts.js';
import { NewestFirst } from '../newest-first.js';
import type { ProxyConfig } from './config.js';
import {
  ADMIN_SOCKET,
  CONFIG_FILE,
  MASTER_SOCKET,
  type Rendering,
  renderSidecar,
  sameRendering,
} from './haproxy-sidecar-config.js';
import { SidecarTelemetry } from './haproxy-sidecar-telemetry.js';
import type { ProxyMetrics } from './metrics.js';
import { type SidecarAddresses, type SidecarOptions, upstreamAddressIn } from './sidecar.js';
import { SidecarDir } from './sidecar-dir.js';

export interface HaproxySidecarOptions extends SidecarOptions {
  /** The haproxy binary; default: findHaproxy() (MESHPEER_HAPROXY, else the PATH). */
  haproxy?: string;
  /** Dial timeout (app and upstreams) unless the resolver or `Proxy.Config.connect_timeout_ms` says otherwise. */
  connectTimeoutMs?: number;
}

export class HaproxySidecar {
  private readonly logger: Logger;
  private readonly telemetry: SidecarTelemetry;
  private dir: SidecarDir | undefined;
  private binary = '';
  private haproxy: HaproxyProcess | undefined;
  private unsubscribe: Unsubscribe | undefined;
  private bound: SidecarAddresses | undefined;
  /** What HAProxy serves now, and the newest rendering (differ while HAProxy is down). */
  private running: Rendering | undefined;
  private wanted: Rendering | undefined;
  /** Snapshots are applied one at a time, newest wins; restarts take their turn in the same line. */
  private readonly updates = new NewestFirst<ProxyConfig>(
    (snapshot) => (this.stopped ? Promise.resolve() : this.apply(snapshot)),
    (err) =>
      this.logger.error(
        { err: err.message },
        'could not apply the new configuration to haproxy; it keeps serving the previous one',
      ),
  );
  private stopped = false;
  private readonly restarts: HaproxyRestarts;

  constructor(private readonly options: HaproxySidecarOptions) {
    this.logger = options.logger ?? silentLogger();
    this.restarts = new HaproxyRestarts(
      this.updates,
      this.logger,
      () => !this.stopped,
      () => this.restart(),
    );
    this.telemetry = new SidecarTelemetry(
      this.logger,
      () => ({ haproxy: this.haproxy, running: this.running }),
      options.metrics,
    );
  }

  get metrics(): ProxyMetrics {
    return this.telemetry.metrics;
  }

  /** Waits for the first configuration, starts HAProxy on it; resolves with the bound addresses. */
  async start(): Promise<SidecarAddresses> {
    const binary = findHaproxy(
      this.options.haproxy ? { MESHPEER_HAPROXY: this.options.haproxy } : process.env,
    );
    const { first, unsubscribe, open } = await this.updates.follow(this.options.config, {
      timeoutMs: this.options.configTimeoutMs ?? 30_000,
      what: 'sidecar',
    });
    this.unsubscribe = unsubscribe;
    try {
      this.dir = new SidecarDir(CONFIG_FILE, [ADMIN_SOCKET, MASTER_SOCKET]);
      // HAProxy cannot report a port it picked, so port 0 becomes a free port chosen here.
      const addresses: SidecarAddresses = { upstreams: [] };
      if (this.options.inbound) addresses.inbound = await concrete(this.options.inbound.listen);
      for (const spec of this.options.upstreams ?? []) {
        addresses.upstreams.push({ spec, address: await concrete(spec.bind) });
      }
      this.bound = addresses;
      this.binary = binary;
      const rendering = this.render(first);
      this.telemetry.logChanges(rendering, undefined);
      await this.write(rendering);
      this.haproxy = await this.startHaproxy();
      this.running = rendering;
      this.wanted = rendering;
    } catch (err) {
      this.bound = undefined;
      this.unsubscribe();
      this.cleanup();
      throw err;
    }
    this.logger.info(
      { service: first.service, addresses: this.bound, worker: this.haproxy.currentWorkerPid },
      'sidecar (haproxy) listening',
    );
    // A snapshot that arrived while HAProxy was starting is applied now.
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

  /** The HAProxy worker that takes new connections (for tests and measurements). */
  get workerPid(): number {
    return this.haproxy?.currentWorkerPid ?? 0;
  }

  /** The HAProxy master process (for tests). */
  get masterPid(): number {
    return this.haproxy?.masterPid ?? 0;
  }

  /** Resolves once every snapshot received so far has been applied (or found unusable). */
  settled(): Promise<void> {
    return this.updates.settled();
  }

  /** Stops accepting, gives live connections `drainMs` to finish, then stops HAProxy. */
  async stop(drainMs = 0): Promise<void> {
    this.stopped = true;
    this.restarts.cancel();
    this.unsubscribe?.();
    await this.updates.settled();
    if (this.haproxy) {
      this.logger.info({ drainMs }, 'sidecar (haproxy) draining');
      await this.haproxy.stop(drainMs);
      this.logger.info('sidecar (haproxy) stopped');
    }
    this.haproxy = undefined;
    this.cleanup();
  }

  private async apply(config: ProxyConfig): Promise<void> {
    const rendering = this.render(config);
    this.telemetry.logChanges(rendering, this.wanted);
    this.wanted = rendering;
    const haproxy = this.haproxy;
    if (!haproxy) return; // HAProxy is down: it restarts on the newest rendering
    if (this.running && sameRendering(this.running, rendering)) {
      this.running = rendering;
      return;
    }
    await this.write(rendering);
    await haproxy.reload();
    this.running = rendering;
    this.dirOf().removeStale(rendering);
  }

  private startHaproxy(): Promise<HaproxyProcess> {
    return HaproxyProcess.start({
      binary: this.binary,
      configFile: this.dirOf().file(CONFIG_FILE),
      adminSocket: this.dirOf().file(ADMIN_SOCKET),
      masterSocket: this.dirOf().file(MASTER_SOCKET),
      logger: this.telemetry.relayLogger(),
      onUnexpectedExit: () => {
        this.haproxy = undefined;
        this.restarts.schedule();
      },
    });
  }

  /** Starts HAProxy again on the newest rendering, after it died unasked (HaproxyRestarts backs off). */
  private async restart(): Promise<number | undefined> {
    const rendering = this.wanted;
    if (!rendering) return undefined;
    await this.write(rendering);
    this.haproxy = await this.startHaproxy();
    this.running = rendering;
    return this.haproxy.currentWorkerPid;
  }

  /** The whole configuration for `config`, with the ports chosen at start. */
  private render(config: ProxyConfig): Rendering {
    const { inbound, upstreams } = this.addresses;
    const app = this.options.inbound?.app;
    return renderSidecar(config, {
      dir: this.dirOf().path,
      ...(inbound && app ? { inbound: { listen: inbound, app } } : {}),
      upstreams: upstreams.map(({ spec, address }) => ({ ...spec, bind: address })),
      connectTimeoutMs: this.options.connectTimeoutMs ?? 5_000,
    });
  }

  private write(rendering: Rendering): Promise<void> {
    return this.dirOf().write(rendering, (candidate) => checkHaproxyConfig(this.binary, candidate));
  }

  private dirOf(): SidecarDir {
    if (!this.dir) throw new Error('the sidecar has not started');
    return this.dir;
  }

  private cleanup(): void {
    this.dir?.remove();
    this.dir = undefined;
  }
}

async function concrete(endpoint: Endpoint): Promise<Endpoint> {
  return endpoint.port === 0 ? ephemeralPort(endpoint) : endpoint;
}
