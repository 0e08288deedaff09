// The sidecar with nginx on its hot path (`meshpeer proxy --engine nginx`): meshpeer keeps every
// decision (who may call in, where each upstream goes and whom it must be) and renders it as nginx
// stream configuration with an njs identity check (nginx-inbound.ts, nginx-upstreams.ts); nginx, a
// child process, carries the bytes. Any change of leaf, roots, bundles, exports, intentions, routes or
// the addresses of the host names they name is a new rendering and a graceful reload: new connections
// follow it, live ones stay on the worker they started on. Stopping drains: no new connections, live
// ones get the drain time, then nginx stops.
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { once } from 'node:events';
import { type Logger, silentLogger } from '../../shared/logger.js';
import type { Unsubscribe } from '../config-source.js';
import type { Endpoint } from '../endpoint.js';
import { ephemeralPort } from '../gateway/haproxy-gateway.js';
import { HaproxyRestarts } from '../haproxy-restarts.js';
import { NewestFirst } from '../newest-first.js';
import { checkNginxConfig, findNginx, type NginxInstall, NginxProcess } from '../nginx-process.js';
import type { ProxyConfig } from './config.js';
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
import { type SidecarAddresses, type SidecarOptions, upstreamAddressIn } from './sidecar.js';
import { SidecarDir } from './sidecar-dir.js';

export interface NginxSidecarOptions extends SidecarOptions {
  /** The nginx binary and modules; default: findNginx() (MESHPEER_NGINX, MESHPEER_NGINX_MODULES, the PATH). */
  nginx?: NginxInstall;
  /** Dial timeout (app and upstreams) unless the resolver or `Proxy.Config.connect_timeout_ms` says otherwise. */
  connectTimeoutMs?: number;
}

export class NginxSidecar {
  private readonly logger: Logger;
  private readonly telemetry: NginxSidecarTelemetry;
  private dir: SidecarDir | undefined;
  private install: NginxInstall | undefined;
  private nginx: NginxProcess | undefined;
  private unsubscribe: Unsubscribe | undefined;
  private bound: SidecarAddresses | undefined;
  private running: NginxRendering | undefined;
  private wanted: NginxRendering | undefined;
  private readonly updates = new NewestFirst<ProxyConfig>(
    (snapshot) => (this.stopped ? Promise.resolve() : this.apply(snapshot)),
    (err) =>
      this.logger.error(
        { err: err.message },
        'could not apply the new configuration to nginx; it keeps serving the previous one',
      ),
  );
  private stopped = false;
  private readonly restarts: HaproxyRestarts;
  /** Where nginx sends its connection log lines (syslog datagrams on loopback). */
  private logSocket: Socket | undefined;

  constructor(private readonly options: NginxSidecarOptions) {
    this.logger = options.logger ?? silentLogger();
    this.restarts = new HaproxyRestarts(
      this.updates,
      this.logger,
      () => !this.stopped,
      () => this.restart(),
      'nginx',
    );
    this.telemetry = new NginxSidecarTelemetry(this.logger, () => this.running, options.metrics);
  }

  get metrics(): ProxyMetrics {
    return this.telemetry.metrics;
  }

  /** Waits for the first configuration, starts nginx on it; resolves with the bound addresses. */
  async start(): Promise<SidecarAddresses> {
    const install = this.options.nginx ?? findNginx();
    const { first, unsubscribe, open } = await this.updates.follow(this.options.config, {
      timeoutMs: this.options.configTimeoutMs ?? 30_000,
      what: 'sidecar',
    });
    this.unsubscribe = unsubscribe;
    try {
      this.dir = new SidecarDir(NGINX_CONFIG_FILE, [NGINX_PID_FILE]);
      // nginx cannot report a port it picked, so port 0 becomes a free port chosen here.
      const addresses: SidecarAddresses = { upstreams: [] };
      if (this.options.inbound) addresses.inbound = await concrete(this.options.inbound.listen);
      for (const spec of this.options.upstreams ?? []) {
        addresses.upstreams.push({ spec, address: await concrete(spec.bind) });
      }
      this.bound = addresses;
      this.install = install;
      this.logSocket = await this.listenForLogLines();
      const rendering = await this.render(first);
      this.telemetry.logChanges(rendering, undefined);
      await this.write(rendering);
      this.nginx = await this.startNginx();
      this.running = rendering;
      this.wanted = rendering;
    } catch (err) {
      this.bound = undefined;
      this.unsubscribe();
      this.cleanup();
      throw err;
    }
    this.logger.info(
      { service: first.service, addresses: this.bound, worker: this.nginx.currentWorkerPid },
      'sidecar (nginx) listening',
    );
    open();
    return this.bound;
  }

  get addresses(): SidecarAddresses {
    if (!this.bound) throw new Error('the sidecar is not listening');
    return this.bound;
  }

  upstreamAddress(name: string, peer?: string): Endpoint {
    return upstreamAddressIn(this.addresses, name, peer);
  }

  get leafSerial(): string | undefined {
    return this.running?.config.leaf.serialNumber;
  }

  /** The nginx worker that takes new connections (for tests and measurements). */
  get workerPid(): number {
    return this.nginx?.currentWorkerPid ?? 0;
  }

  get masterPid(): number {
    return this.nginx?.masterPid ?? 0;
  }

  settled(): Promise<void> {
    return this.updates.settled();
  }

  /** Stops accepting, gives live connections `drainMs` to finish, then stops nginx. */
  async stop(drainMs = 0): Promise<void> {
    this.stopped = true;
    this.restarts.cancel();
    this.unsubscribe?.();
    await this.updates.settled();
    if (this.nginx) {
      this.logger.info({ drainMs }, 'sidecar (nginx) draining');
      await this.nginx.stop(drainMs);
      this.logger.info('sidecar (nginx) stopped');
    }
    this.nginx = undefined;
    this.cleanup();
  }

  private async apply(config: ProxyConfig): Promise<void> {
    const rendering = await this.render(config);
    this.telemetry.logChanges(rendering, this.wanted);
    this.wanted = rendering;
    const nginx = this.nginx;
    if (!nginx) return; // nginx is down: it restarts on the newest rendering
    if (this.running && sameNginxRendering(this.running, rendering)) {
      this.running = rendering;
      return;
    }
    await this.write(rendering);
    await nginx.reload();
    this.running = rendering;
    this.dirOf().removeStale(rendering);
  }

  private startNginx(): Promise<NginxProcess> {
    return NginxProcess.start({
      binary: this.installOf().binary,
      configFile: this.dirOf().file(NGINX_CONFIG_FILE),
      prefix: this.dirOf().path,
      logger: this.telemetry.relayLogger(),
      onUnexpectedExit: () => {
        this.nginx = undefined;
        this.restarts.schedule();
      },
    });
  }

  private async restart(): Promise<number | undefined> {
    const rendering = this.wanted;
    if (!rendering) return undefined;
    await this.write(rendering);
    this.nginx = await this.startNginx();
    this.running = rendering;
    return this.nginx.currentWorkerPid;
  }

  /** The whole configuration for `config`, with the ports chosen at start and host names resolved now. */
  private async render(config: ProxyConfig): Promise<NginxRendering> {
    const { inbound, upstreams } = this.addresses;
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
      dir: this.dirOf().path,
      modules: this.installOf().modules,
      ...(inbound && app ? { inbound: { listen: inbound, app } } : {}),
      upstreams: specs,
      connectTimeoutMs: this.options.connectTimeoutMs ?? 5_000,
      resolved,
      logPort: this.logSocket?.address().port ?? 0,
    });
  }

  private write(rendering: NginxRendering): Promise<void> {
    const dir = this.dirOf();
    return dir.write(rendering, (candidate) =>
      checkNginxConfig(this.installOf().binary, candidate, dir.path),
    );
  }

  private installOf(): NginxInstall {
    if (!this.install) throw new Error('the sidecar has not started');
    return this.install;
  }

  private dirOf(): SidecarDir {
    if (!this.dir) throw new Error('the sidecar has not started');
    return this.dir;
  }

  /** A loopback UDP socket taking nginx's connection log lines (syslog: "<pri>tag: line"). */
  private async listenForLogLines(): Promise<Socket> {
    const socket = createSocket('udp4');
    socket.on('message', (message) => {
      const text = message.toString('utf8');
      if (!this.telemetry.onLine(text)) this.logger.debug({ line: text }, 'nginx log line not understood');
    });
    socket.on('error', (err) => this.logger.warn({ err: err.message }, 'nginx log socket failed'));
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return socket;
  }

  private cleanup(): void {
    this.logSocket?.close();
    this.logSocket = undefined;
    this.dir?.remove();
    this.dir = undefined;
  }
}

async function concrete(endpoint: Endpoint): Promise<Endpoint> {
  return endpoint.port === 0 ? ephemeralPort(endpoint) : endpoint;
}
