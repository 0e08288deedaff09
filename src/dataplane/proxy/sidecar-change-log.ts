// What a proxy-engine sidecar (HAProxy, nginx) says when its configuration changes, in the Node
// sidecar's words: the default intention, an expired leaf, what the rendering left out (notes), and each
// upstream's route as it changes (with the failover gauge).
import type { Logger } from '../../shared/logger.js';
import type { ProxyConfig } from './config.js';
import type { RenderedUpstream } from './haproxy-upstreams.js';
import type { ProxyMetrics } from './metrics.js';
import { routeReport } from './route-report.js';

/** What every engine's rendering carries. */
export interface RenderedSidecar {
  config: ProxyConfig;
  upstreams: RenderedUpstream[];
  notes: string[];
}

export class SidecarChangeLog {
  private reported = new Map<string, { summary: string; failingOver?: string }>();

  constructor(
    private readonly logger: Logger,
    private readonly metrics: ProxyMetrics,
  ) {}

  logChanges(next: RenderedSidecar, previous: RenderedSidecar | undefined): void {
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
}
