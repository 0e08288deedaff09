// The mesh gateway with HAProxy on its hot path (`meshpeer gateway --engine haproxy`): meshpeer keeps
// every routing decision (route-plan.ts, from routeFor), renders it as HAProxy configuration and runs
// HAProxy as a child process to carry the bytes. Each new snapshot is applied without dropping live
// connections: through HAProxy's runtime API when only names or endpoints changed, by a seamless reload
// when the shape did (or when a runtime command fails). The lifecycle (first snapshot, restarts, the
// drain on stop) is engine-gateway.ts's.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { Endpoint } from '../endpoint.js';
import { checkHaproxyConfig, findHaproxy, HaproxyProcess } from '../haproxy-process.js';
import { grew, HaproxyScrape } from '../haproxy-scrape.js';
import { DEFAULT_CLIENT_HELLO_TIMEOUT_MS } from '../sni-peek.js';
import type { GatewayConfig } from './config.js';
import { EngineGateway, type EngineGatewayOptions } from './engine-gateway.js';
import { changesBetween, runtimeCommandFailed } from './haproxy-changes.js';
import { type HaproxyConfigOptions, renderHaproxy, slotsFor } from './haproxy-config.js';
import { countsFromStats, type HaproxyCounts } from './haproxy-stats.js';
import { GatewayMetrics } from './metrics.js';
import type { RoutePlan } from './route-plan.js';

export interface HaproxyGatewayOptions extends EngineGatewayOptions {
  metrics?: GatewayMetrics;
  /** The haproxy binary; default: findHaproxy() (MESHPEER_HAPROXY, else the PATH). */
  haproxy?: string;
  /** How long a client has to send its ClientHello. Default 10 s, as the Node gateway. */
  clientHelloTimeoutMs?: number;
  /** HAProxy worker threads. Default 1. */
  threads?: number;
}

export class HaproxyGateway extends EngineGateway<HaproxyProcess> {
  readonly metrics: GatewayMetrics;
  private dir: string | undefined;
  /** What HAProxy serves now, and the newest routes (differ while an update fails or HAProxy is down). */
  private running: RoutePlan | undefined;
  private wanted: RoutePlan | undefined;
  private slots = new Map<string, number>();
  private binary = '';

  constructor(private readonly options: HaproxyGatewayOptions) {
    super(options, 'haproxy');
    const registry = options.metrics?.registry ?? new Registry();
    // Each scrape first reads HAProxy's counters into the gateway's metrics (one read per scrape).
    const { refresh } = new HaproxyScrape({
      registry,
      up: {
        name: 'meshpeer_gateway_haproxy_up',
        help: "Whether the HAProxy that carries this mesh gateway's connections answers (1) or not (0)",
      },
      current: () => ({ haproxy: this.engine, running: this.running }),
      parse: (csv, running) => countsFromStats(csv, new Map(running.backends.map((b) => [b.name, b.kind]))),
      record: (counts, before) => this.recordCounts(counts, before),
    });
    this.metrics = options.metrics ?? new GatewayMetrics(registry, refresh);
  }

  protected locate(): void {
    this.binary = findHaproxy(
      this.options.haproxy ? { MESHPEER_HAPROXY: this.options.haproxy } : process.env,
    );
  }

  protected async startOn(_first: GatewayConfig, plan: RoutePlan): Promise<HaproxyProcess> {
    this.dir = mkdtempSync(join(tmpdir(), 'meshpeer-haproxy-'));
    const listen = this.address;
    await this.write(plan, listen);
    await checkHaproxyConfig(this.binary, this.file('haproxy.cfg'));
    const haproxy = await this.startHaproxy();
    this.running = plan;
    this.wanted = plan;
    return haproxy;
  }

  protected async apply(snapshot: GatewayConfig): Promise<void> {
    const haproxy = this.engine;
    const running = this.running;
    if (!running || !this.bound) return;
    const next = this.planOf(snapshot);
    this.wanted = next;
    if (!haproxy) return; // HAProxy is down: it restarts on the newest routes
    const change = changesBetween(running, next, { slots: this.slots, namesMap: this.file('names.map') });
    if (change.kind === 'none') return;
    if (change.kind === 'runtime') {
      // The files always describe the current routes, so a later reload starts from them.
      this.writeFiles(next, this.bound, false);
      const failed = await this.runCommands(haproxy, change.commands);
      if (!failed) {
        this.running = next;
        this.logger.info({ changes: change.summary }, 'routes updated through the haproxy runtime API');
        return;
      }
      this.logger.warn(
        { command: failed.command, answer: failed.answer },
        'haproxy runtime update failed: reloading',
      );
    } else {
      this.logger.info({ why: change.why }, 'routes changed shape: reloading haproxy');
    }
    await this.write(next, this.bound);
    await checkHaproxyConfig(haproxy.binaryPath, this.file('haproxy.cfg'));
    await haproxy.reload();
    this.running = next;
  }

  /** Adds what HAProxy counted since `before` (the same worker's last scrape) to the gateway's metrics. */
  private recordCounts(counts: HaproxyCounts, before: HaproxyCounts | undefined): void {
    for (const [route, total] of counts.forwarded) {
      this.metrics.forwarded.inc({ route }, grew(total, before?.forwarded.get(route)));
    }
    this.metrics.refused.inc({ reason: 'rejected-by-haproxy' }, grew(counts.rejected, before?.rejected));
    this.metrics.refused.inc(
      { reason: 'upstream-unreachable' },
      grew(counts.unreachable, before?.unreachable),
    );
    this.metrics.active.set(counts.active);
  }

  private startHaproxy(): Promise<HaproxyProcess> {
    return HaproxyProcess.start({
      binary: this.binary,
      configFile: this.file('haproxy.cfg'),
      adminSocket: this.file('admin.sock'),
      masterSocket: this.file('master.sock'),
      logger: this.logger,
      onUnexpectedExit: this.engineDied,
    });
  }

  /** Starts HAProxy again on the current routes, after it died unasked (EngineRestarts backs off). */
  protected async restart(): Promise<number | undefined> {
    const plan = this.wanted;
    if (!plan || !this.bound) return undefined;
    await this.write(plan, this.bound);
    this.engine = await this.startHaproxy();
    this.running = plan;
    return this.engine.currentWorkerPid;
  }

  private async runCommands(
    haproxy: HaproxyProcess,
    commands: string[],
  ): Promise<{ command: string; answer: string } | undefined> {
    for (const command of commands) {
      let answer: string;
      try {
        answer = await haproxy.command(command);
      } catch (err) {
        answer = (err as Error).message;
      }
      if (runtimeCommandFailed(answer)) return { command, answer: answer.trim() };
    }
    return undefined;
  }

  /** Writes the configuration and maps for `plan`, and remembers its server slots for later changes. */
  private async write(plan: RoutePlan, listen: Endpoint): Promise<void> {
    this.writeFiles(plan, listen, true);
    this.slots = new Map(plan.backends.map((b) => [b.name, slotsFor(b.endpoints.length)]));
  }

  private writeFiles(plan: RoutePlan, listen: Endpoint, withConfig: boolean): void {
    const paths: HaproxyConfigOptions = {
      listen,
      namesMap: this.file('names.map'),
      patternsMap: this.file('patterns.map'),
      adminSocket: this.file('admin.sock'),
      clientHelloTimeoutMs: this.options.clientHelloTimeoutMs ?? DEFAULT_CLIENT_HELLO_TIMEOUT_MS,
      threads: this.options.threads,
    };
    const rendered = renderHaproxy(plan, paths);
    writeFileSync(this.file('names.map'), rendered.namesMap, { mode: 0o600 });
    writeFileSync(this.file('patterns.map'), rendered.patternsMap, { mode: 0o600 });
    if (withConfig) writeFileSync(this.file('haproxy.cfg'), rendered.config, { mode: 0o600 });
  }

  private file(name: string): string {
    if (!this.dir) throw new Error('the mesh gateway has not started');
    return join(this.dir, name);
  }

  protected cleanup(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}
