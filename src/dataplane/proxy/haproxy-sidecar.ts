// The sidecar with HAProxy on its hot path (`meshpeer proxy --engine haproxy`): meshpeer keeps every
// decision (who may call in, where each upstream goes and whom it must be) and renders it as HAProxy
// configuration (haproxy-inbound.ts, haproxy-upstreams.ts); HAProxy, a child process, carries the
// bytes. Any change of leaf, roots, bundles, exports, intentions or routes is a new rendering and a
// seamless reload: new connections follow it, live ones stay on the worker they started on. Stopping
// drains: no new connections, live ones get the drain time, then HAProxy stops. The lifecycle is
// engine-sidecar.ts's.
import { checkHaproxyConfig, findHaproxy, HaproxyProcess } from '../haproxy-process.js';
import type { ProxyConfig } from './config.js';
import { EngineSidecar } from './engine-sidecar.js';
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
import type { SidecarAddresses, SidecarOptions } from './sidecar.js';
import { SidecarDir } from './sidecar-dir.js';

export interface HaproxySidecarOptions extends SidecarOptions {
  /** The haproxy binary; default: findHaproxy() (MESHPEER_HAPROXY, else the PATH). */
  haproxy?: string;
  /** Dial timeout (app and upstreams) unless the resolver or `Proxy.Config.connect_timeout_ms` says otherwise. */
  connectTimeoutMs?: number;
}

export class HaproxySidecar extends EngineSidecar<Rendering, HaproxyProcess> {
  private readonly telemetry: SidecarTelemetry;
  private binary = '';

  constructor(private readonly options: HaproxySidecarOptions) {
    super(options, 'haproxy');
    this.telemetry = new SidecarTelemetry(
      this.logger,
      () => ({ haproxy: this.engine, running: this.running }),
      options.metrics,
    );
  }

  get metrics(): ProxyMetrics {
    return this.telemetry.metrics;
  }

  protected locate(): void {
    this.binary = findHaproxy(
      this.options.haproxy ? { MESHPEER_HAPROXY: this.options.haproxy } : process.env,
    );
  }

  protected makeDir(): SidecarDir {
    return new SidecarDir(CONFIG_FILE, [ADMIN_SOCKET, MASTER_SOCKET]);
  }

  protected render(config: ProxyConfig, addresses: SidecarAddresses, dir: SidecarDir): Rendering {
    const { inbound, upstreams } = addresses;
    const app = this.options.inbound?.app;
    return renderSidecar(config, {
      dir: dir.path,
      ...(inbound && app ? { inbound: { listen: inbound, app } } : {}),
      upstreams: upstreams.map(({ spec, address }) => ({ ...spec, bind: address })),
      connectTimeoutMs: this.options.connectTimeoutMs ?? 5_000,
    });
  }

  protected check(candidate: string): Promise<void> {
    return checkHaproxyConfig(this.binary, candidate);
  }

  protected launch(dir: SidecarDir, onUnexpectedExit: () => void): Promise<HaproxyProcess> {
    return HaproxyProcess.start({
      binary: this.binary,
      configFile: dir.file(CONFIG_FILE),
      adminSocket: dir.file(ADMIN_SOCKET),
      masterSocket: dir.file(MASTER_SOCKET),
      logger: this.telemetry.relayLogger(),
      onUnexpectedExit,
    });
  }

  protected same(a: Rendering, b: Rendering): boolean {
    return sameRendering(a, b);
  }

  protected logChanges(next: Rendering, previous: Rendering | undefined): void {
    this.telemetry.logChanges(next, previous);
  }
}
