// The sidecar with nginx on its hot path (`meshpeer proxy --engine nginx`): meshpeer keeps every
// decision (who may call in, where each upstream goes and whom it must be) and renders it as nginx
// stream configuration with an njs identity check (nginx-inbound.ts, nginx-upstreams.ts); nginx, a
// child process, carries the bytes. Any change of leaf, roots, bundles, exports, intentions, routes or
// the addresses of the host names they name is a new rendering and a graceful reload: new connections
// follow it, live ones stay on the worker they started on. Stopping drains: no new connections, live
// ones get the drain time, then nginx stops. The lifecycle is engine-sidecar.ts's; nginx's connection
// log lines arrive as syslog datagrams on a loopback socket of our own.
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { once } from 'node:events';
import { dirname } from 'node:path';
import { checkNginxConfig, findNginx, type NginxInstall, NginxProcess } from '../nginx-process.js';
import type { ProxyConfig } from './config.js';
import { EngineSidecar } from './engine-sidecar.js';
import type { ProxyMetrics } from './metrics.js';
import {
  NGINX_CONFIG_FILE,
  NGINX_PID_FILE,
  type NginxRendering,
  renderNginxSidecar,
  sameNginxRendering,
} from './nginx-sidecar-config.js';
import { NginxSidecarTelemetry } from './nginx-sidecar-telemetry.js';
import { hostNamesOf } from './nginx-upstreams.js';
import type { SidecarAddresses, SidecarOptions } from './sidecar.js';
import { SidecarDir } from './sidecar-dir.js';

export interface NginxSidecarOptions extends SidecarOptions {
  /** The nginx binary and modules; default: findNginx() (MESHPEER_NGINX, MESHPEER_NGINX_MODULES, the PATH). */
  nginx?: NginxInstall;
  /** Dial timeout (app and upstreams) unless the resolver or `Proxy.Config.connect_timeout_ms` says otherwise. */
  connectTimeoutMs?: number;
}

export class NginxSidecar extends EngineSidecar<NginxRendering, NginxProcess> {
  private readonly telemetry: NginxSidecarTelemetry;
  private install: NginxInstall | undefined;
  /** Where nginx sends its connection log lines (syslog datagrams on loopback). */
  private logSocket: Socket | undefined;

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
    return new SidecarDir(NGINX_CONFIG_FILE, [NGINX_PID_FILE]);
  }

  /** A loopback UDP socket taking nginx's connection log lines (syslog: "<pri>tag: line"). */
  protected override async prepare(): Promise<void> {
    const socket = createSocket('udp4');
    socket.on('message', (message) => {
      const text = message.toString('utf8');
      if (!this.telemetry.onLine(text)) this.logger.debug({ line: text }, 'nginx log line not understood');
    });
    socket.on('error', (err) => this.logger.warn({ err: err.message }, 'nginx log socket failed'));
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    this.logSocket = socket;
  }

  protected override release(): void {
    this.logSocket?.close();
    this.logSocket = undefined;
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
    const resolved = new Map<string, string[]>();
    for (const host of hostNamesOf(config, specs)) {
      try {
        resolved.set(
          host,
          (await lookup(host, { all: true })).map((a) => a.address),
        );
      } catch (err) {
        this.logger.warn(
          { host, err: (err as Error).message },
          `could not resolve ${host}; its endpoints are left out`,
        );
      }
    }
    return renderNginxSidecar(config, {
      dir: dir.path,
      modules: this.installOf().modules,
      ...(inbound && app ? { inbound: { listen: inbound, app } } : {}),
      upstreams: specs,
      connectTimeoutMs: this.options.connectTimeoutMs ?? 5_000,
      resolved,
      logPort: this.logSocket?.address().port ?? 0,
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

  private installOf(): NginxInstall {
    if (!this.install) throw new Error('the sidecar has not started');
    return this.install;
  }
}
