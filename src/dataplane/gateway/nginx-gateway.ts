// The mesh gateway with nginx on its hot path (`meshpeer gateway --engine nginx`): meshpeer keeps every
// routing decision (route-plan.ts, from routeFor), renders it as nginx stream configuration
// (nginx-gateway-config.ts) and runs nginx as a child process to carry the bytes. nginx has no runtime
// API, so each new snapshot that changes the configuration is a graceful reload: new connections follow
// it, live ones stay on the worker they started on. The lifecycle (first snapshot, restarts, the drain
// on stop) is engine-gateway.ts's. nginx's connection log lines come back to meshpeer
// (nginx-log-intake.ts) and are counted into the gateway's metrics; refusals are logged with the reason
// routeFor gives for the name.
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { checkNginxConfig, findNginx, type NginxInstall, NginxProcess } from '../nginx-process.js';
import { NginxLogIntake } from '../proxy/nginx-log-intake.js';
import type { NginxAccessLogs } from '../proxy/nginx-syntax.js';
import { resolveHosts } from '../resolve-hosts.js';
import { DEFAULT_MAX_CLIENT_HELLO_BYTES } from '../sni.js';
import { DEFAULT_CLIENT_HELLO_TIMEOUT_MS } from '../sni-peek.js';
import type { GatewayConfig } from './config.js';
import { EngineGateway, type EngineGatewayOptions } from './engine-gateway.js';
import { GatewayMetrics } from './metrics.js';
import { renderNginxGateway } from './nginx-gateway-config.js';
import { NginxGatewayTelemetry } from './nginx-gateway-telemetry.js';
import type { RoutePlan } from './route-plan.js';

export interface NginxGatewayOptions extends EngineGatewayOptions {
  metrics?: GatewayMetrics;
  /** Where the nginx binary and its stream module are looked for (MESHPEER_NGINX, MESHPEER_NGINX_MODULES, PATH); default: this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** How long a client has to send its ClientHello. Default 10 s, as the Node gateway. */
  clientHelloTimeoutMs?: number;
  /** How long nginx may hold the lines of connections that ended well (default 1 s). */
  connectionLogFlushMs?: number;
}

const CONFIG_FILE = 'nginx.conf';
const CONNECTION_LOG = 'connections.log';

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

export class NginxGateway extends EngineGateway<NginxProcess> {
  readonly metrics: GatewayMetrics;
  private readonly telemetry: NginxGatewayTelemetry;
  private dir: string | undefined;
  private install: NginxInstall | undefined;
  private intake: NginxLogIntake | undefined;
  private accessLogs: NginxAccessLogs | undefined;
  /** The configuration text nginx runs, and the newest snapshot (they differ while nginx is down). */
  private runningText: string | undefined;
  private wanted: GatewayConfig | undefined;
  /** This process's open-file limit, read once: nginx, its child, inherits it. */
  private openFiles: number | undefined;

  constructor(private readonly options: NginxGatewayOptions) {
    super(options, 'nginx');
    const registry = options.metrics?.registry ?? new Registry();
    this.metrics =
      options.metrics ?? new GatewayMetrics(registry, async () => this.telemetry.refreshActive());
    this.telemetry = new NginxGatewayTelemetry({
      metrics: this.metrics,
      logger: this.logger,
      config: () => this.wanted,
      listenPort: () => this.bound?.port,
    });
  }

  protected locate(): void {
    this.install = findNginx(this.options.env ?? process.env, 'gateway');
    this.openFiles = openFileLimit();
  }

  protected async startOn(first: GatewayConfig, plan: RoutePlan): Promise<NginxProcess> {
    this.dir = mkdtempSync(join(tmpdir(), 'meshpeer-nginx-gateway-'));
    this.intake = new NginxLogIntake({
      dir: this.dir,
      name: CONNECTION_LOG,
      onLine: (line) => this.telemetry.onLine(line),
      reopen: () => this.engine?.reopenLogs() ?? false,
      logger: this.logger,
      ...(this.options.connectionLogFlushMs !== undefined
        ? { flushMs: this.options.connectionLogFlushMs }
        : {}),
    });
    this.accessLogs = await this.intake.start();
    this.wanted = first;
    const text = await this.write(plan);
    const nginx = await this.launch();
    this.runningText = text;
    return nginx;
  }

  protected async apply(snapshot: GatewayConfig): Promise<void> {
    this.wanted = snapshot;
    const nginx = this.engine;
    if (!nginx || !this.bound) return; // nginx is down: it restarts on the newest routes
    const text = await this.render(this.planOf(snapshot));
    if (text === this.runningText) return;
    this.logger.info('routes changed: reloading nginx');
    await this.writeChecked(text);
    await nginx.reload();
    this.runningText = text;
  }

  protected async restart(): Promise<number | undefined> {
    const snapshot = this.wanted;
    if (!snapshot || !this.bound) return undefined;
    const text = await this.write(this.planOf(snapshot));
    this.engine = await this.launch();
    this.runningText = text;
    return this.engine.currentWorkerPid;
  }

  private launch(): Promise<NginxProcess> {
    const dir = this.dirOf();
    return NginxProcess.start({
      binary: this.installOf().binary,
      configFile: join(dir, CONFIG_FILE),
      prefix: dir,
      logger: this.telemetry.relayLogger(),
      onUnexpectedExit: this.engineDied,
    });
  }

  /** The configuration for `plan`, with the host names its endpoints name resolved now. */
  private async render(plan: RoutePlan): Promise<string> {
    const hosts = plan.backends.flatMap((b) => b.endpoints.map((e) => e.host));
    const rendered = renderNginxGateway(plan, {
      dir: this.dirOf(),
      modules: this.installOf().modules,
      listen: this.address,
      clientHelloTimeoutMs: this.options.clientHelloTimeoutMs ?? DEFAULT_CLIENT_HELLO_TIMEOUT_MS,
      maxClientHelloBytes: DEFAULT_MAX_CLIENT_HELLO_BYTES,
      resolved: await resolveHosts(new Set(hosts.filter((h) => isIP(h) === 0)), this.logger),
      accessLogs: this.accessLogsOf(),
      openFileLimit: this.openFiles,
    });
    for (const note of rendered.notes) this.logger.warn(note);
    return rendered.text;
  }

  /** Renders `plan`, checks it with `nginx -t` and puts it in place; resolves with its text. */
  private async write(plan: RoutePlan): Promise<string> {
    const text = await this.render(plan);
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

  protected async cleanup(): Promise<void> {
    await this.intake?.stop();
    this.intake = undefined;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}
