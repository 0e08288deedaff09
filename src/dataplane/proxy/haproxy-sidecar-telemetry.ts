// What the HAProxy sidecar says and counts, in the Node sidecar's words and metric names: on each new
// configuration, the default intention, an expired leaf, peers left out and each upstream's route (as
// it changes); HAProxy's log lines turned into refusal logs and counters; HAProxy's stats read into the
// connection metrics at each scrape, plus meshpeer_proxy_haproxy_up.
import { Registry } from 'prom-client';
import type { Logger } from '../../shared/logger.js';
import type { HaproxyProcess } from '../haproxy-process.js';
import { grew, HaproxyScrape } from '../haproxy-scrape.js';
import type { Rendering } from './haproxy-sidecar-config.js';
import {
  countsFromSidecarStats,
  parseSidecarLogLine,
  type SidecarCounts,
  upstreamRefusal,
} from './haproxy-sidecar-stats.js';
import { ProxyMetrics } from './metrics.js';
import { SidecarChangeLog } from './sidecar-change-log.js';

const RELOAD_CHATTER = /Proxy \S+ stopped \(cumulated conns|Former worker \(\d+\) exited with code 0/;

export class SidecarTelemetry {
  readonly metrics: ProxyMetrics;
  private readonly changes: SidecarChangeLog;

  /** `current` is what HAProxy serves now: its process and the rendering it loaded. */
  constructor(
    private readonly logger: Logger,
    private readonly current: () => { haproxy?: HaproxyProcess; running?: Rendering },
    metrics?: ProxyMetrics,
  ) {
    const registry = metrics?.registry ?? new Registry();
    // Each scrape first reads HAProxy's counters into the metrics (one read per scrape).
    const { refresh } = new HaproxyScrape({
      registry,
      up: {
        name: 'meshpeer_proxy_haproxy_up',
        help: "Whether the HAProxy that carries this sidecar's connections answers (1) or not (0)",
      },
      current,
      parse: (csv, running) => countsFromSidecarStats(csv, running.upstreams),
      record: (counts, before, running) => this.recordCounts(counts, before, running),
    });
    this.metrics = metrics ?? new ProxyMetrics(registry, refresh);
    this.changes = new SidecarChangeLog(logger, this.metrics);
  }

  /** Says what the Node sidecar says when a configuration changes: the default intention, leaf, routes. */
  logChanges(next: Rendering, previous: Rendering | undefined): void {
    this.changes.logChanges(next, previous);
  }

  /**
   * HAProxy's lines go to our logger; those about a connection are counted and said in the Node
   * sidecar's words (refusals at info with their reason, failed upstream connections at warn).
   */
  relayLogger(): Logger {
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
      const upstream = this.current().running?.upstreams.find((u) => u.proxy === event.proxy);
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

  /** Adds what HAProxy counted since `before` (the same worker's last scrape) to the sidecar's metrics. */
  private recordCounts(counts: SidecarCounts, before: SidecarCounts | undefined, running: Rendering): void {
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
  }
}
