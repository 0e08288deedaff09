// The sidecar with nginx on its hot path (`meshpeer proxy --engine nginx`): meshpeer keeps every
// decision (who may call in, where each upstream goes and whom it must be) and renders it as nginx
// stream configuration with an njs identity check (nginx-inbound.ts, nginx-upstreams.ts); nginx, a
// child process, carries the bytes. Any change of leaf, roots, bundles, exports, intentions, routes or
// the addresses of the host names they name is a new rendering and a graceful reload: new connections
// follow it, live ones stay on the worker they started on. Stopping drains: no new connections, live
// ones get the drain time, then nginx stops. The lifecycle is engine-sidecar.ts's. nginx's connection
// log lines arrive through a buffered file for connections that ended well (nginx-connection-log.ts)
// and as syslog datagrams on a loopback socket of our own for the rest, at once.
import { dirname } from 'node:path';
import { checkNginxConfig, findNginx, type NginxInstall, NginxProcess } from '../nginx-process.js';
import { resolveHosts } from '../resolve-hosts.js';
import type { ProxyConfig } from './config.js';
import { EngineSidecar } from './engine-sidecar.js';
import type { ProxyMetrics } from './metrics.js';
import { RETIRED_SUFFIX } from './nginx-connection-log.js';
import { NginxLogIntake } from './nginx-log-intake.js';
import {
  NGINX_CONFIG_FILE,
  NGINX_CONNECTION_LOG,
  NGINX_PID_FILE,
  type NginxRendering,
  renderNginxSidecar,
  sameNginxRendering,
} from './nginx-sidecar-config.js';
import { NginxSidecarTelemetry } from './nginx-sidecar-telemetry.js';
import type { NginxAccessLogs } from './nginx-syntax.js';
import { hostNamesOf } from './nginx-upstreams.js';
import type { SidecarAddresses, SidecarOptions } from './sidecar.js';
import { SidecarDir } from './sidecar-dir.js';

export interface NginxSidecarOptions extends SidecarOptions {
  /** The nginx binary and modules; default: findNginx() (MESHPEER_NGINX, MESHPEER_NGINX_MODULES, the PATH). */
  nginx?: NginxInstall;
  /** Dial timeout (app and upstreams) unless the resolver or `Proxy.Config.connect_timeout_ms` says otherwise. */
  connectTimeoutMs?: number;
  /**
   * How long nginx may hold the lines of connections that ended well before writing them for meshpeer
   * (default 1 s): what the metrics lag by, against one read per interval instead of one per connection.
   */
  connectionLogFlushMs?: number;
  /** The size at which that file is rotated (default 16 MiB). */
  connectionLogRotateBytes?: number;
}

export class NginxSidecar extends EngineSidecar<NginxRendering, NginxProcess> {
  private readonly telemetry: NginxSidecarTelemetry;
  private install: NginxInstall | undefined;
  private intake: NginxLogIntake | undefined;
  /** Where nginx writes its connection log lines, once prepared. */
  private accessLogs: NginxAccessLogs | undefined;

  constructor(private readonly options: NginxSidecarOptions) {
    super(options, 'nginx');
    this.telemetry = new NginxSidecarTelemetry(this.logger, () => this.running, options.metrics);
  }

  get metrics(): ProxyMetrics {
    return this.telemetry.metrics;
  }

  protected locate(): void {
    this.install = this.options.nginx ?? findNginx();
  }

  protected makeDir(): SidecarDir {
    return new SidecarDir(NGINX_CONFIG_FILE, [
      NGINX_PID_FILE,
      NGINX_CONNECTION_LOG,
      `${NGINX_CONNECTION_LOG}${RETIRED_SUFFIX}`,
    ]);
  }

  /** Where nginx's connection log lines come in (nginx-log-intake.ts). */
  protected override async prepare(dir: SidecarDir): Promise<void> {
    this.intake = new NginxLogIntake({
      dir: dir.path,
      name: NGINX_CONNECTION_LOG,
      onLine: (text) => this.telemetry.onLine(text),
      reopen: () => this.engine?.reopenLogs() ?? false,
      logger: this.logger,
      ...(this.options.connectionLogFlushMs !== undefined
        ? { flushMs: this.options.connectionLogFlushMs }
        : {}),
      ...(this.options.connectionLogRotateBytes !== undefined
        ? { rotateBytes: this.options.connectionLogRotateBytes }
        : {}),
    });
    this.accessLogs = await this.intake.start();
  }

  protected override async release(): Promise<void> {
    await this.intake?.stop();
    this.intake = undefined;
  }

  /** The whole configuration for `config`, with the ports chosen at start and host names resolved now. */
  protected async render(
    config: ProxyConfig,
    addresses: SidecarAddresses,
    dir: SidecarDir,
  ): Promise<NginxRendering> {
    const { inbound, upstreams } = addresses;
    const app = this.options.inbound?.app;
    const specs = upstreams.map(({ spec, address }) => ({ ...spec, bind: address }));
    const resolved = await resolveHosts(hostNamesOf(config, specs), this.logger);
    return renderNginxSidecar(config, {
      dir: dir.path,
      modules: this.installOf().modules,
      ...(inbound && app ? { inbound: { listen: inbound, app } } : {}),
      upstreams: specs,
      connectTimeoutMs: this.options.connectTimeoutMs ?? 5_000,
      resolved,
      accessLogs: this.accessLogsOf(),
    });
  }

  protected check(candidate: string): Promise<void> {
    // The candidate sits in the sidecar's directory, nginx's prefix.
    return checkNginxConfig(this.installOf().binary, candidate, dirname(candidate));
  }

  protected launch(dir: SidecarDir, onUnexpectedExit: () => void): Promise<NginxProcess> {
    return NginxProcess.start({
      binary: this.installOf().binary,
      configFile: dir.file(NGINX_CONFIG_FILE),
      prefix: dir.path,
      logger: this.telemetry.relayLogger(),
      onUnexpectedExit,
    });
  }

  protected same(a: NginxRendering, b: NginxRendering): boolean {
    return sameNginxRendering(a, b);
  }

  protected logChanges(next: NginxRendering, previous: NginxRendering | undefined): void {
    this.telemetry.logChanges(next, previous);
  }

  private accessLogsOf(): NginxAccessLogs {
    if (!this.accessLogs) throw new Error('the sidecar has not started');
    return this.accessLogs;
  }

  private installOf(): NginxInstall {
    if (!this.install) throw new Error('the sidecar has not started');
    return this.install;
  }
}
