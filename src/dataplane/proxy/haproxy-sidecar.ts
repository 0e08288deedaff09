// The sidecar with HAProxy on its hot path (`meshpeer proxy --engine haproxy`): meshpeer keeps every
// decision (who may call in, where each upstream goes and whom it must be) and renders it as HAProxy
// configuration (haproxy-inbound.ts, haproxy-upstreams.ts); HAProxy, a child process, carries the
// bytes. Any change of leaf, roots, bundles, exports, intentions or routes is a new rendering and a
// seamless reload: new connections follow it, live ones stay on the worker they started on. Stopping
// drains: no new connections, live ones get the drain time, then HAProxy stops.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gauge, Registry } from 'prom-client';
import { type Logger, silentLogger } from '../../shared/logger.js';
import { subscribeFromFirst, type Unsubscribe } from '../config-source.js';
import type { Endpoint } from '../endpoint.js';
import { BUFFER_BYTES } from '../gateway/haproxy-config.js';
import { ephemeralPort } from '../gateway/haproxy-gateway.js';
import { checkHaproxyConfig, findHaproxy, HaproxyProcess } from '../haproxy-process.js';
import type { ProxyConfig, UpstreamSpec } from './config.js';
import { renderInbound } from './haproxy-inbound.js';
import {
  countsFromSidecarStats,
  parseSidecarLogLine,
  type SidecarCounts,
  upstreamRefusal,
} from './haproxy-sidecar-stats.js';
import { type RenderedUpstream, renderUpstreams } from './haproxy-upstreams.js';
import { ProxyMetrics } from './metrics.js';
import { routeReport } from './route-report.js';
import type { SidecarAddresses, SidecarOptions } from './sidecar.js';

export interface HaproxySidecarOptions extends SidecarOptions {
  /** The haproxy binary; default: findHaproxy() (MESHPEER_HAPROXY, else the PATH). */
  haproxy?: string;
  /** Dial timeout (app and upstreams) unless the resolver or `Proxy.Config.connect_timeout_ms` says otherwise. */
  connectTimeoutMs?: number;
}

interface Rendering {
  config: ProxyConfig;
  text: string;
  files: Record<string, string>;
  upstreams: RenderedUpstream[];
  /** What the inbound half leaves out and why (peers whose callers are refused). */
  notes: string[];
}

const CONFIG_FILE = 'haproxy.cfg';
const RELOAD_CHATTER = /Proxy \S+ stopped \(cumulated conns|Former worker \(\d+\) exited with code 0/;
const IDLE_FOREVER = '24d';

export class HaproxySidecar {
  readonly metrics: ProxyMetrics;
  private readonly logger: Logger;
  private dir: string | undefined;
  private binary = '';
  private haproxy: HaproxyProcess | undefined;
  private unsubscribe: Unsubscribe | undefined;
  private bound: SidecarAddresses | undefined;
  /** What HAProxy serves now, and the newest rendering (differ while HAProxy is down). */
  private running: Rendering | undefined;
  private wanted: Rendering | undefined;
  /** Snapshots are applied one at a time, newest wins. */
  private applying: Promise<void> = Promise.resolve();
  private pending: ProxyConfig | undefined;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private reported = new Map<string, { summary: string; failingOver?: string }>();
  private counted: { worker: number; counts: SidecarCounts } | undefined;
  private reading: Promise<void> | undefined;
  private haproxyUp = 0;

  constructor(private readonly options: HaproxySidecarOptions) {
    const registry = options.metrics?.registry ?? new Registry();
    const sidecar = this;
    const refresh = (): Promise<void> => {
      this.reading ??= this.readHaproxyCounters().finally(() => {
        this.reading = undefined;
      });
      return this.reading;
    };
    new Gauge({
      name: 'meshpeer_proxy_haproxy_up',
      help: "Whether the HAProxy that carries this sidecar's connections answers (1) or not (0)",
      registers: [registry],
      async collect() {
        this.set(await refresh().then(() => sidecar.haproxyUp));
      },
    });
    this.metrics = options.metrics ?? new ProxyMetrics(registry, refresh);
    this.logger = options.logger ?? silentLogger();
  }

  /** Waits for the first configuration, starts HAProxy on it; resolves with the bound addresses. */
  async start(): Promise<SidecarAddresses> {
    const binary = findHaproxy(
      this.options.haproxy ? { MESHPEER_HAPROXY: this.options.haproxy } : process.env,
    );
    let latest: ProxyConfig | undefined;
    const { first, unsubscribe } = await subscribeFromFirst(
      this.options.config,
      (snapshot) => {
        latest = snapshot;
        if (this.bound) this.enqueue(snapshot);
      },
      { timeoutMs: this.options.configTimeoutMs ?? 30_000, what: 'sidecar' },
    );
    this.unsubscribe = unsubscribe;
    try {
      this.dir = mkdtempSync(join(tmpdir(), 'meshpeer-sidecar-'));
      // HAProxy cannot report a port it picked, so port 0 becomes a free port chosen here.
      const addresses: SidecarAddresses = { upstreams: [] };
      if (this.options.inbound) addresses.inbound = await concrete(this.options.inbound.listen);
      for (const spec of this.options.upstreams ?? []) {
        addresses.upstreams.push({ spec, address: await concrete(spec.bind) });
      }
      this.bound = addresses;
      this.binary = binary;
      const rendering = this.render(first);
      this.logChanges(rendering, undefined);
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
    if (latest && latest !== first) this.enqueue(latest);
    return this.bound;
  }

  get addresses(): SidecarAddresses {
    if (!this.bound) throw new Error('the sidecar is not listening');
    return this.bound;
  }

  /** The local address of the upstream listener for `name` (and `peer`). */
  upstreamAddress(name: string, peer?: string): Endpoint {
    const found = this.addresses.upstreams.find((u) => u.spec.name === name && u.spec.peer === peer);
    if (!found) throw new Error(`no upstream listener for ${name}${peer ? ` (peer ${peer})` : ''}`);
    return found.address;
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
    return this.applying;
  }

  /** Stops accepting, gives live connections `drainMs` to finish, then stops HAProxy. */
  async stop(drainMs = 0): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.unsubscribe?.();
    await this.applying;
    if (this.haproxy) {
      this.logger.info({ drainMs }, 'sidecar (haproxy) draining');
      await this.haproxy.stop(drainMs);
      this.logger.info('sidecar (haproxy) stopped');
    }
    this.haproxy = undefined;
    this.cleanup();
  }

  private enqueue(snapshot: ProxyConfig): void {
    const idle = this.pending === undefined;
    this.pending = snapshot;
    if (!idle) return; // the queued turn takes the newest
    this.applying = this.applying.then(async () => {
      const next = this.pending;
      this.pending = undefined;
      if (!next || this.stopped) return;
      try {
        await this.apply(next);
      } catch (err) {
        this.logger.error(
          { err: (err as Error).message },
          'could not apply the new configuration to haproxy; it keeps serving the previous one',
        );
      }
    });
  }

  private async apply(config: ProxyConfig): Promise<void> {
    const rendering = this.render(config);
    this.logChanges(rendering, this.wanted);
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
    this.removeStaleFiles(rendering);
  }

  /** The whole configuration for `config`: global, defaults, the inbound half, the upstreams. */
  private render(config: ProxyConfig): Rendering {
    const dir = this.file('');
    const leafPem = `${config.leaf.certPem.trim()}\n${config.leaf.keyPem.trim()}\n`;
    const leafName = `leaf-${hashOf(leafPem)}.pem`;
    const leafFile = join(dir, leafName);
    const connectTimeoutMs = this.options.connectTimeoutMs ?? 5_000;
    const { inbound, upstreams: bound } = this.addresses;
    const inboundPart =
      this.options.inbound && inbound
        ? renderInbound(config, {
            dir,
            listen: inbound,
            app: this.options.inbound.app,
            leafFile,
            connectTimeoutMs,
          })
        : { global: [], sections: [], files: {}, notes: [] };
    const specs: UpstreamSpec[] = bound.map(({ spec, address }) => ({ ...spec, bind: address }));
    const upstreamPart = renderUpstreams(config, specs, { dir, leafFile, connectTimeoutMs });
    const text = [
      '# Generated by meshpeer proxy --engine haproxy: every decision here was made by meshpeer.',
      'global',
      '  nbthread 1',
      // The mesh gateway's buffer size: fewer reads, writes and wake-ups per MB than HAProxy's 16 KiB.
      `  tune.bufsize ${BUFFER_BYTES}`,
      `  stats socket ${this.file('admin.sock')} mode 600 level admin expose-fd listeners`,
      // Refused and failed connections are logged (to stdout, which meshpeer reads); carried ones are not.
      '  log stdout format raw local0 info',
      ...[...inboundPart.global, ...upstreamPart.global].map((line) => `  ${line.trim()}`),
      'defaults',
      '  mode tcp',
      '  log global',
      '  option dontlog-normal',
      `  timeout connect ${connectTimeoutMs}`,
      // The Node sidecar never cuts an idle connection once it is spliced; HAProxy wants a limit, so it
      // gets its largest (about 24 days).
      `  timeout client ${IDLE_FOREVER}`,
      `  timeout server ${IDLE_FOREVER}`,
      '',
      ...inboundPart.sections,
      ...upstreamPart.sections,
    ].join('\n');
    return {
      config,
      text: `${text}\n`,
      files: { [leafName]: leafPem, ...inboundPart.files, ...upstreamPart.files },
      upstreams: upstreamPart.upstreams,
      notes: inboundPart.notes,
    };
  }

  /**
   * Writes every file the rendering names (each new name only once: names carry their content's hash),
   * then the configuration, checked by HAProxy before it replaces the one HAProxy reads.
   */
  private async write(rendering: Rendering): Promise<void> {
    const present = new Set(readdirSync(this.file('')));
    for (const [name, content] of Object.entries(rendering.files)) {
      if (!present.has(name)) writeAtomically(this.file(name), content);
    }
    const next = this.file(`${CONFIG_FILE}.next`);
    writeFileSync(next, rendering.text, { mode: 0o600 });
    await checkHaproxyConfig(this.binary, next);
    renameSync(next, this.file(CONFIG_FILE));
  }

  /** Files no rendering needs any more: the workers loaded what they use when they started. */
  private removeStaleFiles(rendering: Rendering): void {
    const keep = new Set([...Object.keys(rendering.files), CONFIG_FILE, 'admin.sock', 'master.sock']);
    for (const name of readdirSync(this.file(''))) {
      if (!keep.has(name)) rmSync(this.file(name), { force: true });
    }
  }

  private startHaproxy(): Promise<HaproxyProcess> {
    return HaproxyProcess.start({
      binary: this.binary,
      configFile: this.file(CONFIG_FILE),
      adminSocket: this.file('admin.sock'),
      masterSocket: this.file('master.sock'),
      logger: this.relayLogger(),
      onUnexpectedExit: () => this.restartLater(1_000),
    });
  }

  /** HAProxy went away without being asked to: start it again on the newest rendering, backing off. */
  private restartLater(delayMs: number): void {
    this.haproxy = undefined;
    if (this.stopped) return;
    this.logger.error({ inMs: delayMs }, 'haproxy is down: restarting it');
    this.restartTimer = setTimeout(() => {
      this.applying = this.applying.then(async () => {
        const rendering = this.wanted;
        if (this.stopped || !rendering) return;
        try {
          await this.write(rendering);
          this.haproxy = await this.startHaproxy();
          this.running = rendering;
          this.logger.info({ worker: this.haproxy.currentWorkerPid }, 'haproxy restarted');
        } catch (err) {
          this.logger.error({ err: (err as Error).message }, 'could not restart haproxy');
          this.restartLater(Math.min(delayMs * 2, 30_000));
        }
      });
    }, delayMs);
  }

  /** Says what the Node sidecar says when a configuration changes: the default intention, leaf, routes. */
  private logChanges(next: Rendering, previous: Rendering | undefined): void {
    const config = next.config;
    const was = previous?.config;
    const expires = config.leaf.validBefore ? Date.parse(config.leaf.validBefore) : Number.NaN;
    if (expires <= Date.now() && was?.leaf.certPem !== config.leaf.certPem) {
      this.logger.error(
        { validBefore: config.leaf.validBefore },
        'the leaf certificate has expired; peers will refuse it',
      );
    }
    if (
      !was ||
      was.defaultIntentionAction !== config.defaultIntentionAction ||
      was.defaultIntentionReason !== config.defaultIntentionReason
    ) {
      const why = config.defaultIntentionReason ?? 'given in the configuration';
      this.logger.info(
        { service: config.service, defaultIntention: config.defaultIntentionAction, why },
        `default intention action: ${config.defaultIntentionAction} (${why})`,
      );
    }
    if (JSON.stringify(next.notes) !== JSON.stringify(previous?.notes ?? [])) {
      for (const note of next.notes) this.logger.info({ service: config.service }, note);
    }
    for (const upstream of next.upstreams) {
      const before = this.reported.get(upstream.proxy);
      const report = routeReport(upstream, before === undefined);
      if (before?.summary === report.summary) continue;
      if (before?.failingOver && before.failingOver !== report.failingOver) {
        this.metrics.upstreamFailover.set({ upstream: upstream.label, target: before.failingOver }, 0);
      }
      if (report.failingOver) {
        this.metrics.upstreamFailover.set({ upstream: upstream.label, target: report.failingOver }, 1);
      }
      this.reported.set(upstream.proxy, { summary: report.summary, failingOver: report.failingOver });
      for (const record of report.records) this.logger[record.level](record.fields, record.msg);
    }
  }

  /**
   * HAProxy's lines go to our logger; those about a connection are counted and said in the Node
   * sidecar's words (refusals at info with their reason, failed upstream connections at warn).
   */
  private relayLogger(): Logger {
    const base = this.logger;
    const relay = (level: 'info' | 'warn' | 'error') => (fields: object, msg?: string) => {
      if (typeof msg === 'string' && this.onHaproxyLine(msg)) return;
      // What every reload makes HAProxy say (its old worker's proxies stopping, the old worker leaving).
      base[typeof msg === 'string' && RELOAD_CHATTER.test(msg) ? 'debug' : level](fields, msg);
    };
    return Object.assign(Object.create(base) as Logger, {
      info: relay('info'),
      warn: relay('warn'),
      error: relay('error'),
    });
  }

  /** True when `line` was about one connection (and has been counted and logged). */
  private onHaproxyLine(line: string): boolean {
    const event = parseSidecarLogLine(line);
    if (!event) return false;
    if (event.kind === 'inbound-refused') {
      this.metrics.inboundRefused.inc({ reason: event.reason });
      this.logger.info(
        { reason: event.reason, caller: event.caller },
        `refused inbound connection: ${event.detail ?? event.reason}`,
      );
    } else if (event.kind === 'inbound-handshake-failed') {
      this.metrics.inboundRefused.inc({ reason: 'tls-handshake' });
      this.logger.info(
        { reason: 'tls-handshake', detail: event.detail },
        `refused inbound TLS handshake: ${event.detail}`,
      );
    } else {
      const upstream = this.running?.upstreams.find((u) => u.proxy === event.proxy);
      const reason = upstream && upstreamRefusal(event, upstream);
      if (!upstream || !reason) {
        this.logger.debug({ line }, 'connection ended with an error');
        return true;
      }
      this.metrics.upstreamRefused.inc({ upstream: upstream.label, reason });
      this.logger.warn(
        { upstream: upstream.label, reason, state: event.state, server: event.server },
        `upstream connection refused: ${reason === 'upstream-unreachable' ? 'no target answered' : reason}`,
      );
    }
    return true;
  }

  /**
   * Adds what HAProxy counted since the last scrape to the sidecar's metrics (a new worker, after a
   * reload or restart, counts from zero again), and notes whether HAProxy answered.
   */
  private async readHaproxyCounters(): Promise<void> {
    const haproxy = this.haproxy;
    const running = this.running;
    this.haproxyUp = 0;
    if (!haproxy || !running) return;
    let csv: string;
    try {
      csv = await haproxy.command('show stat');
    } catch {
      return;
    }
    this.haproxyUp = 1;
    const counts = countsFromSidecarStats(csv, running.upstreams);
    const worker = haproxy.currentWorkerPid;
    const before = this.counted?.worker === worker ? this.counted.counts : undefined;
    const grew = (now: number, was = 0): number => Math.max(0, now - was);
    this.metrics.inboundAllowed.inc(grew(counts.inboundAllowed, before?.inboundAllowed));
    this.metrics.active.set({ direction: 'inbound' }, counts.active.inbound);
    this.metrics.active.set({ direction: 'upstream' }, counts.active.upstream);
    for (const upstream of running.upstreams) {
      const sessions = grew(
        counts.upstreamSessions.get(upstream.proxy) ?? 0,
        before?.upstreamSessions.get(upstream.proxy),
      );
      // As the Node sidecar counts them: each connection passes over the targets that cannot take it.
      for (const skipped of upstream.route.skipped) {
        const labels = { upstream: upstream.label, target: skipped.target, reason: skipped.reason };
        this.metrics.upstreamTargetSkipped.inc(labels, sessions);
      }
      for (const server of upstream.servers) {
        const key = `${upstream.proxy}/${server.name}`;
        const now = counts.servers.get(key);
        const was = before?.servers.get(key);
        if (!now) continue;
        const target = { upstream: upstream.label, target: server.target };
        this.metrics.upstreamForwarded.inc(
          { ...target, route: server.route },
          grew(now.carried, was?.carried),
        );
        this.metrics.upstreamTargetSkipped.inc(
          { ...target, reason: 'unreachable' },
          grew(now.failed, was?.failed),
        );
      }
    }
    this.counted = { worker, counts };
  }

  private file(name: string): string {
    if (!this.dir) throw new Error('the sidecar has not started');
    return name === '' ? this.dir : join(this.dir, name);
  }

  private cleanup(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}

async function concrete(endpoint: Endpoint): Promise<Endpoint> {
  return endpoint.port === 0 ? ephemeralPort(endpoint) : endpoint;
}

function hashOf(content: string): string {
  return createHash('sha256').update(content).digest('hex').slice(0, 16);
}

/** Written under a temporary name and renamed, so HAProxy never reads half a file. */
function writeAtomically(path: string, content: string): void {
  writeFileSync(`${path}.tmp`, content, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

function sameRendering(a: Rendering, b: Rendering): boolean {
  return a.text === b.text && JSON.stringify(a.files) === JSON.stringify(b.files);
}
