// What the nginx sidecar says and counts, in the Node sidecar's words and metric names. nginx writes
// one line per connection when it ends (nginx-inbound.ts, nginx-upstreams.ts name the formats); each is
// counted here (inbound allowed and refused with their reason; upstream connections per target that
// took them, dials that failed, connections refused) and the refusals are logged. nginx's own messages
// go to our logger at their level. Pure parsing in parseNginxLine; the rest records.
import type { Logger } from '../../shared/logger.js';
import { formatEndpoint } from '../endpoint.js';
import { ProxyMetrics } from './metrics.js';
import { INBOUND_LOG_PREFIX } from './nginx-inbound.js';
import { nginxRelayLogger } from './nginx-log-intake.js';
import { UPSTREAM_LOG_PREFIX } from './nginx-upstreams.js';
import { type RenderedSidecar, SidecarChangeLog } from './sidecar-change-log.js';

export type NginxLineEvent =
  | { kind: 'inbound'; status: number; reason: string; caller?: string; peer?: string; detail?: string }
  | { kind: 'upstream'; proxy: string; status: number; addresses: string[] };

const INBOUND = new RegExp(
  `${INBOUND_LOG_PREFIX} status=(\\d+) reason=(\\S*) caller=(\\S*) peer=(\\S*) from=\\S* detail=(.*)$`,
);
// One connect time per address tried, joined by ", " ("-" for a dial that failed).
const UPSTREAM = new RegExp(`${UPSTREAM_LOG_PREFIX} proxy=(\\S+) status=(\\d+) connect=[^=]* addrs=(.*)$`);

/** One of nginx's connection log lines, read; undefined for any other line. */
export function parseNginxLine(line: string): NginxLineEvent | undefined {
  const inbound = INBOUND.exec(line);
  if (inbound) {
    const known = (v: string | undefined): string | undefined =>
      v && v !== '-' ? unescapeNginx(v) : undefined;
    const caller = known(inbound[3]);
    const peer = known(inbound[4]);
    const detail = known(inbound[5]);
    return {
      kind: 'inbound',
      status: Number(inbound[1]),
      reason: inbound[2] ?? '-',
      ...(caller ? { caller } : {}),
      ...(peer ? { peer } : {}),
      ...(detail ? { detail } : {}),
    };
  }
  const upstream = UPSTREAM.exec(line);
  if (upstream) {
    const list = (upstream[3] ?? '').trim();
    return {
      kind: 'upstream',
      proxy: upstream[1] as string,
      status: Number(upstream[2]),
      addresses: list === '' || list === '-' ? [] : list.split(', '),
    };
  }
  return undefined;
}

/**
 * A variable's value as nginx's access log wrote it: '"', '\\', control characters and every byte
 * above 0x7e as \xHH (so the UTF-8 of "→" arrives as \xE2\x86\x92), read back into its text.
 */
function unescapeNginx(value: string): string {
  if (!value.includes('\\x')) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; ) {
    const hex = /^\\x([0-9A-Fa-f]{2})/.exec(value.slice(i, i + 4));
    if (hex) {
      bytes.push(Number.parseInt(hex[1] as string, 16));
      i += 4;
    } else {
      const char = String.fromCodePoint(value.codePointAt(i) as number);
      bytes.push(...Buffer.from(char, 'utf8'));
      i += char.length;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

export class NginxSidecarTelemetry {
  readonly metrics: ProxyMetrics;
  private readonly changes: SidecarChangeLog;

  /** `running` is the rendering nginx serves now (connection lines are read against it). */
  constructor(
    private readonly logger: Logger,
    private readonly running: () => RenderedSidecar | undefined,
    metrics?: ProxyMetrics,
  ) {
    this.metrics = metrics ?? new ProxyMetrics();
    this.changes = new SidecarChangeLog(logger, this.metrics);
  }

  logChanges(next: RenderedSidecar, previous: RenderedSidecar | undefined): void {
    this.changes.logChanges(next, previous);
  }

  /** A logger for nginx's output: connection lines are counted (and refusals logged), the rest relayed. */
  relayLogger(): Logger {
    return nginxRelayLogger(this.logger, (line) => this.onLine(line));
  }

  /** True when `line` was about one connection (and has been counted). */
  onLine(line: string): boolean {
    const event = parseNginxLine(line);
    if (!event) return false;
    if (event.kind === 'inbound') this.onInbound(event);
    else this.onUpstream(event);
    return true;
  }

  private onInbound(event: Extract<NginxLineEvent, { kind: 'inbound' }>): void {
    if (event.status === 200 || event.status === 502) {
      this.metrics.inboundAllowed.inc();
      if (event.status === 502) {
        this.logger.warn(
          { caller: event.caller },
          'allowed inbound connection failed: the app did not answer',
        );
      }
      return;
    }
    if (event.status === 403 && event.reason !== '-') {
      this.metrics.inboundRefused.inc({ reason: event.reason });
      this.logger.info(
        { reason: event.reason, caller: event.caller, peer: event.peer },
        `refused inbound connection: ${event.detail ?? event.reason}`,
      );
      return;
    }
    // The identity check never ran: the TLS handshake failed (nginx says why at info level only).
    this.metrics.inboundRefused.inc({ reason: 'tls-handshake' });
    this.logger.info(
      { reason: 'tls-handshake', status: event.status },
      'refused inbound TLS handshake (no certificate, or one no trusted root issued)',
    );
  }

  private onUpstream(event: Extract<NginxLineEvent, { kind: 'upstream' }>): void {
    const upstream = this.running()?.upstreams.find((u) => u.proxy === event.proxy);
    if (!upstream) return;
    const label = upstream.label;
    for (const skipped of upstream.route.skipped) {
      this.metrics.upstreamTargetSkipped.inc({
        upstream: label,
        target: skipped.target,
        reason: skipped.reason,
      });
    }
    const serverAt = (address: string) =>
      upstream.servers.find((s) => formatEndpoint(s.endpoint) === address);
    const tried = event.addresses.map(serverAt);
    const carried = event.status === 200 && tried.length > 0 ? tried[tried.length - 1] : undefined;
    for (const server of tried) {
      if (!server || server === carried) continue;
      this.metrics.upstreamTargetSkipped.inc({
        upstream: label,
        target: server.target,
        reason: 'unreachable',
      });
    }
    if (carried) {
      this.metrics.upstreamForwarded.inc({ upstream: label, target: carried.target, route: carried.route });
      return;
    }
    if (event.status === 200 && upstream.servers.length > 0) return; // carried, then ended
    const reason =
      upstream.servers.length === 0
        ? (upstream.route.skipped[0]?.reason ??
          (upstream.rejected.length > 0 ? 'unsafe-name' : 'no-instances'))
        : 'upstream-unreachable';
    this.metrics.upstreamRefused.inc({ upstream: label, reason });
    this.logger.warn(
      { upstream: label, reason, tried: event.addresses },
      `upstream connection refused: ${reason === 'upstream-unreachable' ? 'no target answered' : reason}`,
    );
  }
}
