// The mesh gateway with nginx on its hot path (`meshpeer gateway --engine nginx`): meshpeer keeps every
// routing decision (route-plan.ts, from routeFor), renders it as nginx stream configuration
// (nginx-gateway-config.ts) and runs nginx as a child process to carry the bytes. nginx has no runtime
// API, so each new snapshot that changes the configuration is a graceful reload: new connections follow
// it, live ones stay on the worker they started on. Stopping drains: no new connections, live ones get
// the drain time, then nginx stops. nginx's connection log lines come back to meshpeer
// (nginx-log-intake.ts) and are counted into the gateway's metrics; refusals are logged with the reason
// routeFor gives for the name.
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { type Logger, silentLogger } from '../../shared/logger.js';
import type { ConfigSource, Unsubscribe } from '../config-source.js';
import type { Endpoint } from '../endpoint.js';
import { HaproxyRestarts } from '../haproxy-restarts.js';
import { NewestFirst } from '../newest-first.js';
import { NginxLogIntake } from '../nginx-log-intake.js';
import { checkNginxConfig, findNginx, type NginxInstall, NginxProcess } from '../nginx-process.js';
import type { NginxAccessLogs } from '../proxy/nginx-syntax.js';
import { resolveHosts } from '../resolve-hosts.js';
import { DEFAULT_MAX_CLIENT_HELLO_BYTES } from '../sni.js';
import { DEFAULT_CLIENT_HELLO_TIMEOUT_MS } from '../sni-peek.js';
import type { GatewayConfig } from './config.js';
import { ephemeralPort } from './haproxy-gateway.js';
import { GatewayMetrics } from './metrics.js';
import { renderNginxGateway } from './nginx-gateway-config.js';
import { NginxGatewayTelemetry } from './nginx-gateway-telemetry.js';
import { planFor } from './route-plan.js';

export interface NginxGatewayOptions {
  config: ConfigSource<GatewayConfig>;
  listen: Endpoint;
  logger?: Logger;
  metrics?: GatewayMetrics;
  /** Where the nginx binary and its stream module are looked for (MESHPEER_NGINX, MESHPEER_NGINX_MODULES, PATH); default: this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** How long a client has to send its ClientHello. Default 10 s, as the Node gateway. */
  clientHelloTimeoutMs?: number;
  /** Dial timeout per destination, unless `Proxy.Config.connect_timeout_ms` says otherwise. Default 5 s. */
  connectTimeoutMs?: number;
  /** How long start() waits for the first configuration. Default 30 s. */
  configTimeoutMs?: number;
  /** How long nginx may hold the lines of connections that ended well (default 1 s). */
  connectionLogFlushMs?: number;
}

const CONFIG_FILE = 'nginx.conf';

/** This process's hard limit on open files (nginx, its child, may raise its own up to it), if known. */
function openFileLimit(): number | undefined {
  try {
    const row = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!row) return undefined;
    return row[1] === 'unlimited' ? undefined : Number(row[1]);
  } catch {
    return undefined;
  }
}
const CONNECTION_LOG = 'connections.log';

export class NginxGateway {
  readonly metrics: GatewayMetrics;
  private readonly logger: Logger;
  private readonly telemetry: NginxGatewayTelemetry;
  private dir: string | undefined;
  private nginx: NginxProcess | undefined;
  private install: NginxInstall | undefined;
  private intake: NginxLogIntake | undefined;
  private accessLogs: NginxAccessLogs | undefined;
  private unsubscribe: Unsubscribe | undefined;
  private bound: Endpoint | undefined;
  /** The configuration text nginx runs, and the newest snapshot (they differ while nginx is down). */
  private runningText: string | undefined;
  private wanted: GatewayConfig | undefined;
  private stopped = false;
  private readonly restarts: HaproxyRestarts;
  private readonly updates = new NewestFirst<GatewayConfig>(
    (snapshot) => (this.stopped ? Promise.resolve() : this.apply(snapshot)),
    (err) =>
      this.logger.error(
        { err: err.message },
        'could not apply the new routes to nginx; it keeps serving the previous ones',
      ),
  );

  constructor(private readonly options: NginxGatewayOptions) {
    this.logger = options.logger ?? silentLogger();
    const registry = options.metrics?.registry ?? new Registry();
    this.metrics =
      options.metrics ?? new GatewayMetrics(registry, async () => this.telemetry.refreshActive());
    this.telemetry = new NginxGatewayTelemetry({
      metrics: this.metrics,
      logger: this.logger,
      config: () => this.wanted,
      listenPort: () => this.bound?.port,
    });
    this.restarts = new HaproxyRestarts(
      this.updates,
      this.logger,
      () => !this.stopped,
      () => this.restart(),
      'nginx',
    );
  }

  /** Waits for the first routing snapshot, starts nginx on it; resolves with the bound address. */
  async start(): Promise<Endpoint> {
    this.install = findNginx(this.options.env ?? process.env, 'gateway');
    const { first, unsubscribe, open } = await this.updates.follow(this.options.config, {
      timeoutMs: this.options.configTimeoutMs ?? 30_000,
      what: 'mesh gateway',
    });
    this.unsubscribe = unsubscribe;
    try {
      this.dir = mkdtempSync(join(tmpdir(), 'meshpeer-nginx-gateway-'));
      this.intake = new NginxLogIntake({
        dir: this.dir,
        name: CONNECTION_LOG,
        onLine: (line) => {
          if (!this.telemetry.onLine(line)) this.logger.debug({ line }, 'nginx log line not understood');
        },
        reopen: () => this.nginx?.reopenLogs() ?? false,
        logger: this.logger,
        ...(this.options.connectionLogFlushMs !== undefined
          ? { flushMs: this.options.connectionLogFlushMs }
          : {}),
      });
      this.accessLogs = await this.intake.start();
      const listen =
        this.options.listen.port === 0 ? await ephemeralPort(this.options.listen) : this.options.listen;
      this.bound = listen;
      this.wanted = first;
      const text = await this.write(first);
      this.nginx = await this.launch();
      this.runningText = text;
      const plan = planFor(first, this.options.connectTimeoutMs ?? 5_000);
      this.logger.info(
        {
          address: listen,
          names: plan.names.size,
          peers: plan.patterns.length,
          backends: plan.backends.length,
        },
        'mesh gateway (nginx) listening',
      );
      // A snapshot that arrived while nginx was starting is applied now.
      open();
      return listen;
    } catch (err) {
      this.unsubscribe();
      this.bound = undefined;
      await this.cleanup();
      throw err;
    }
  }

  get address(): Endpoint {
    if (!this.bound) throw new Error('the mesh gateway is not listening');
    return this.bound;
  }

  /** The nginx worker that serves new connections (for measurements). */
  get workerPid(): number {
    return this.nginx?.currentWorkerPid ?? 0;
  }

  /** nginx's master process (0 while it is down). */
  get masterPid(): number {
    return this.nginx?.masterPid ?? 0;
  }

  /** Resolves once every snapshot received so far has been applied (or found unusable). */
  settled(): Promise<void> {
    return this.updates.settled();
  }

  /** Stops accepting, gives live connections `drainMs` to finish, then stops nginx. */
  async stop(drainMs = 0): Promise<void> {
    this.stopped = true;
    this.restarts.cancel();
    this.unsubscribe?.();
    await this.updates.settled();
    this.logger.info({ drainMs }, 'mesh gateway (nginx) draining');
    await this.nginx?.stop(drainMs);
    this.logger.info('mesh gateway (nginx) stopped');
    await this.cleanup();
  }

  private async apply(snapshot: GatewayConfig): Promise<void> {
    this.wanted = snapshot;
    const nginx = this.nginx;
    if (!nginx || !this.bound) return; // nginx is down: it restarts on the newest routes
    const text = await this.render(snapshot);
    if (text === this.runningText) return;
    this.logger.info('routes changed: reloading nginx');
    await this.writeChecked(text);
    await nginx.reload();
    this.runningText = text;
  }

  /** Starts nginx again on the newest routes, after it died unasked (HaproxyRestarts backs off). */
  private async restart(): Promise<number | undefined> {
    const snapshot = this.wanted;
    if (!snapshot || !this.bound) return undefined;
    const text = await this.write(snapshot);
    this.nginx = await this.launch();
    this.runningText = text;
    return this.nginx.currentWorkerPid;
  }

  private launch(): Promise<NginxProcess> {
    const dir = this.dirOf();
    return NginxProcess.start({
      binary: this.installOf().binary,
      configFile: join(dir, CONFIG_FILE),
      prefix: dir,
      logger: this.telemetry.relayLogger(),
      onUnexpectedExit: () => {
        this.nginx = undefined;
        this.restarts.schedule();
      },
    });
  }

  /** The configuration for `snapshot`, with the host names its endpoints name resolved now. */
  private async render(snapshot: GatewayConfig): Promise<string> {
    const plan = planFor(snapshot, this.options.connectTimeoutMs ?? 5_000);
    const hosts = plan.backends.flatMap((b) => b.endpoints.map((e) => e.host));
    const rendered = renderNginxGateway(plan, {
      dir: this.dirOf(),
      modules: this.installOf().modules,
      listen: this.address,
      clientHelloTimeoutMs: this.options.clientHelloTimeoutMs ?? DEFAULT_CLIENT_HELLO_TIMEOUT_MS,
      maxClientHelloBytes: DEFAULT_MAX_CLIENT_HELLO_BYTES,
      resolved: await resolveHosts(new Set(hosts.filter((h) => isIP(h) === 0)), this.logger),
      accessLogs: this.accessLogsOf(),
      openFileLimit: openFileLimit(),
    });
    for (const note of rendered.notes) this.logger.warn(note);
    return rendered.text;
  }

  /** Renders `snapshot`, checks it with `nginx -t` and puts it in place; resolves with its text. */
  private async write(snapshot: GatewayConfig): Promise<string> {
    const text = await this.render(snapshot);
    await this.writeChecked(text);
    return text;
  }

  private async writeChecked(text: string): Promise<void> {
    const dir = this.dirOf();
    const candidate = join(dir, `${CONFIG_FILE}.next`);
    writeFileSync(candidate, text, { mode: 0o600 });
    await checkNginxConfig(this.installOf().binary, candidate, dir);
    renameSync(candidate, join(dir, CONFIG_FILE));
  }

  private dirOf(): string {
    if (!this.dir) throw new Error('the mesh gateway has not started');
    return this.dir;
  }

  private installOf(): NginxInstall {
    if (!this.install) throw new Error('the mesh gateway has not started');
    return this.install;
  }

  private accessLogsOf(): NginxAccessLogs {
    if (!this.accessLogs) throw new Error('the mesh gateway has not started');
    return this.accessLogs;
  }

  private async cleanup(): Promise<void> {
    await this.intake?.stop();
    this.intake = undefined;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}
