// The sidecar with nginx on its hot path (`meshpeer proxy --engine nginx`): meshpeer keeps every
// decision (who may call in, where each upstream goes and whom it must be) and renders it as nginx
// stream configuration with an njs identity check (nginx-inbound.ts, nginx-upstreams.ts); nginx, a
// child process, carries the bytes. Any change of leaf, roots, bundles, exports, intentions, routes or
// the addresses of the host names they name is a new rendering and a graceful reload: new connections
// follow it, live ones stay on the worker they started on. Stopping drains: no new connections, live
// ones get the drain time, then nginx stops. The lifecycle is engine-sidecar.ts's. nginx's connection
// log lines arrive through a buffered file for connections that ended well (nginx-connection-log.ts)
// and as syslog datagrams on a loopback socket of our own for the rest, at once.
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { once } from 'node:events';
import { chmod } from 'node:fs/promises';
import { dirname } from 'node:path';
import { checkNginxConfig, findNginx, type NginxInstall, NginxProcess } from '../nginx-process.js';
import type { ProxyConfig } from './config.js';
import { EngineSidecar } from './engine-sidecar.js';
import type { ProxyMetrics } from './metrics.js';
import { NginxConnectionLog, RETIRED_SUFFIX } from './nginx-connection-log.js';
import {
  NGINX_CONFIG_FILE,
  NGINX_CONNECTION_LOG,
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
  /** Where nginx sends the lines of refused and failed connections (syslog datagrams on loopback). */
  private logSocket: Socket | undefined;
  /** The buffered file of connections that ended well. */
  private connectionLog: NginxConnectionLog | undefined;

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

  /**
   * The buffered connection log, and a loopback UDP socket taking the lines nginx sends at once
   * (syslog: "<pri>tag: line").
   */
  protected override async prepare(dir: SidecarDir): Promise<void> {
    // Started as root, nginx runs its workers as nobody, and each worker opens the log file again
    // itself when told to reopen it (after a rotation): it must be able to pass through the directory.
    // Every file in it stays 0600, readable by its owner alone.
    if (process.getuid?.() === 0) await chmod(dir.path, 0o711);
    const onLine = (text: string): void => {
      if (!this.telemetry.onLine(text)) this.logger.debug({ line: text }, 'nginx log line not understood');
    };
    this.connectionLog = new NginxConnectionLog({
      dir: dir.path,
      name: NGINX_CONNECTION_LOG,
      onLine,
      reopen: () => this.engine?.reopenLogs() ?? false,
      logger: this.logger,
      ...(this.options.connectionLogRotateBytes !== undefined
        ? { rotateBytes: this.options.connectionLogRotateBytes }
        : {}),
    });
    await this.connectionLog.start();
    const socket = createSocket('udp4');
    socket.on('message', (message) => onLine(message.toString('utf8')));
    socket.on('error', (err) => this.logger.warn({ err: err.message }, 'nginx log socket failed'));
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    this.logSocket = socket;
  }

  protected override async release(): Promise<void> {
    this.logSocket?.close();
    this.logSocket = undefined;
    await this.connectionLog?.stop();
    this.connectionLog = undefined;
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
      accessLogs: {
        file: this.connectionLogOf().path,
        flushMs: this.options.connectionLogFlushMs ?? 1_000,
        syslogPort: this.logSocket?.address().port ?? 0,
      },
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

  private connectionLogOf(): NginxConnectionLog {
    if (!this.connectionLog) throw new Error('the sidecar has not started');
    return this.connectionLog;
  }

  private installOf(): NginxInstall {
    if (!this.install) throw new Error('the sidecar has not started');
    return this.install;
  }
}
